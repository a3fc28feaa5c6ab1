/ HDB loader: maps the database and adds query helpers
/ the database is mounted by FinSpace under /opt/kx/app/db

args:.Q.opt .z.x;
dbname:$[`dbname in key args;first args`dbname;"finspace-db"];

\cd /opt/kx/app/db
.Q.l hsym `$dbname
\cd /opt/kx/app/code

-1 "loaded database ",dbname," with ",(string count .Q.pv)," partitions";

/ query helpers
getTrades:{[s;sd;ed]
  select from trade where date within (sd;ed), sym in s
  }

/ bars of a fixed width, using xbar and by
bars:{[s;d;w]
  select o:first price, h:max price, l:min price, c:last price, v:sum size
    by sym, bucket:w xbar time.minute
    from trade
    where date=d, sym in s
  }

/ as-of join of trades to quotes
tq:{[d;s]
  t:select time, sym, price from trade where date=d, sym=s;
  q:select time, sym, bid, ask from quote where date=d, sym=s;
  aj[`sym`time;t;q]
  }

/ window join with a 1 second window
wjq:{[d]
  t:select sym, time, price from trade where date=d;
  q:select sym, time, bid from quote where date=d;
  w:-0D00:00:01 0D00:00:00+\:t`time;
  wj[w;`sym`time;t;(q;(max;`bid))]
  }

/ daily stats with fby and each-right
stats:{[d]
  select from trade where date=d, size>(avg;size) fby sym
  }

/ partition info
partitions:{.Q.PV}
counts:{.Q.cn each .Q.pt!value each .Q.pt}
lastDate:last date;

/ cache of recent results, keyed by query string
cache:([key:`symbol$()] at:`timestamp$(); val:());
remember:{[k;v] `cache upsert (k;.z.P;enlist v); v}

/ handle reconnection to the gateway with protected evaluation
connect:{[h]
  @[hopen;h;{-2 "connect failed: ",x;0Ni}]
  }

literals:(2024.01.01;2024.01m;12:30:00.000;0D00:05:00;2024.01.01D09:30:00.000000000;0x0a1f;101b;0Wj;-0W;0N;1e-5;3.14f;`a`b`c);
dict:`a`b`c!1 2 3;
tbl:([] s:`a`b; v:1.5 2.5);
