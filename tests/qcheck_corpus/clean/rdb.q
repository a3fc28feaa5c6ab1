/ real-time database: subscribes to the tickerplant, writes down at end of day
/ q rdb.q -tp :5010 -hdb /opt/kx/app/shared/hdb

o:.Q.def[`tp`hdb!(`:localhost:5010;`:/opt/kx/app/shared/hdb)] .Q.opt .z.x;

upd:insert;

/ end of day: save, clear, tell the hdb to reload
.u.end:{
  t:tables`.;
  t@:where `g=attr each t@\:`sym;
  .Q.hdpf[`$":",.u.x 1;o`hdb;x;`sym];
  @[;`sym;`g#] each t;
  }

/ replay the tickerplant log, then subscribe
.u.rep:{
  (.[;();:;].)each x;
  if[null first y;:()];
  -11!y;
  system "cd ",1_-10_string first reverse y
  }

connectTp:{
  h:hopen o`tp;
  .u.x:.z.x,(count .z.x)_(":5010";":5012");
  .u.rep .(h)"(.u.sub[`;`];`.u `i`L)"
  }

/ a schema with every column type
trade:([]
  time:`timespan$();
  sym:`symbol$();
  price:`float$();
  size:`long$();
  ex:`char$();
  cond:();
  flag:`boolean$())

quote:([] time:`timespan$(); sym:`g#`symbol$(); bid:`float$(); ask:`float$(); bsize:`long$(); asize:`long$())

/ q-sql with every clause
vwapBySym:{select vwap:size wavg price, n:count i by sym from trade}
spread:{update spr:ask-bid from quote where bid>0}
latest:{select by sym from quote}
big:{delete from trade where size<100}
totals:exec sum size by sym from trade

/ conditional evaluation spread across lines
classify:{[x]
  $[x>100;
      `large;
    x>10;
      `medium;
      `small]
  }

/ json and string munging
toJson:{.j.j x}
fromJson:{.j.k x}
like1:trade where trade[`sym] like "A*"
ss1:"hello/world" ss "/"
sv1:` sv `:data`trades`
