/ tickerplant: receives updates from feed handlers, logs them and publishes to subscribers
/ usage on FinSpace: pass -schema and -logdir as command-line arguments
/ q tick.q -schema sym -logdir /opt/kx/app/shared/tplog

/
This block comment documents the protocol. Unbalanced text here is fine: ( [ {
  upd[`trade;(time;sym;price;size)]
Subscribers call .u.sub[tables;syms] and receive upd messages.
\

opts:.Q.def[`schema`logdir`timer!(`sym;`:/opt/kx/app/shared/tplog;1000)] .Q.opt .z.x
\l schema/sym.q

\d .u
w:()!();         / subscriptions by table
L:`;             / log file handle symbol
l:0Ni;           / log handle
i:j:0;           / message counts
d:.z.D;

init:{w::t!(count t::tables`.)#()}

del:{w[x]_:w[x;;0]?y}

sel:{$[`~y;x;select from x where sym in y]}

pub:{[t;x]
  {[t;x;w]
    if[count x:sel[x]w 1;(neg first w)(`upd;t;x)]
    }[t;x] each w t
  }

add:{
  $[(count w x)>i:w[x;;0]?.z.w;
    .[`.u.w;(x;i;1);union;y];
    w[x],:enlist(.z.w;y)];
  (x;$[99=type v:value x;sel[v]y;@[0#v;`sym;`g#]])
  }

sub:{if[x~`;:sub[;y]each t];if[not x in t;'x];del[x].z.w;add[x;y]}

end:{(neg union/[w[;;0]])@\:(`.u.end;x)}

ld:{
  if[not type key L::`$(-10_string L),string x;
    .[L;();:;()]];
  i::j::-11!(-2;L);
  if[0<=type i;
    -2 (string L)," is a corrupt log. Truncate to length ",(string last i)," and restart";
    exit 1];
  hopen L
  }

tick:{[x;y]
  init[];
  if[not min(`time`sym~2#key flip value@)each t;'`timesym];
  @[;`sym;`g#]each t;
  d::.z.D;
  if[l::count y;L::`$":",y,"/",x,10#".";l::ld d]
  }

endofday:{end d;d+:1;if[l;hclose l;l::0(`.u.ld;d)]}

ts:{if[d<x;if[d<x-1;system"t 0";'"more than one day?"];endofday[]]}
\d .

.u.upd:{[t;x]
  ts"d"$a:.z.P;
  if[not -16=type first first x;
    if[d<"d"$a;.u.ts"d"$a];
    a:"n"$a;
    x:$[0>type first x;a,x;(enlist(count first x)#a),x]];
  t insert x;
  if[l;l enlist(`upd;t;x);j+:1];
  }

.awscust.z.ts:{.u.pub'[.u.t;value each .u.t];@[`.;.u.t;@[;`sym;`g#]0#];.u.i:.u.j;.u.ts .z.D}

.u.tick[string opts`schema;string opts`logdir];

/ stats helpers use iterators that look like comments to a naive lexer
msgs:{sum each (count each) each value .u.w}
vwap:{[p;s] (s wsum p)%sum s}
rolling:{[n;x] (n-1)_ x %[;n] sums[x] - (n#0),x}
prices:100+sums 0.01*-1+2?1f;
running:0 {x+y}\ 1 2 3 4;
flat:raze/[(1 2;(3 4;5))];
pairs:1 2 3,/:4 5 6;
cross:1 2 3,\:4 5;
deltas2:-':[1 3 6 10];
joined:"/" sv ("opt";"kx";"app");
parts:"/" vs "a/b/c";
