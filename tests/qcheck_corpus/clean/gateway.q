/ gateway: routes client queries to rdb and hdb processes
/ connection handles are opened lazily and retried

\d .gw
servers:([name:`rdb`hdb] addr:`:rdb:5010`:hdb:5012; h:0N 0N)

open:{[n]
  a:servers[n;`addr];
  h:@[hopen;(a;2000);0N];
  if[not null h; servers[n;`h]:h];
  h
  }

handle:{[n] $[null h:servers[n;`h];open n;h]}

/ split a date range between rdb (today) and hdb (history)
route:{[sd;ed]
  r:();
  if[ed>=.z.d; r,:enlist `rdb];
  if[sd<.z.d; r,:enlist `hdb];
  r
  }

query:{[q;sd;ed]
  hs:handle each route[sd;ed];
  raze {[h;q] h q}[;q] each hs
  }

/ deferred responses for asynchronous clients
async:{[q]
  h:.z.w;
  r:@[value;q;{`error,x}];
  neg[h] (`callback;r);
  }
\d .

/ client-facing entry points are registered through the FinSpace hooks
.awscust.z.pg:{[x] value x}
.awscust.z.po:{[h] -1 "open ",string h;}
.awscust.z.pc:{[h] update h:0N from `.gw.servers where h=h;}

/ permission table, multi-line with comments between rows
perms:([user:`alice`bob`carol]
  / analysts can only read
  role:`read`read`admin;
  limit:1000 1000 0W)

allowed:{[u;q] $[`admin=perms[u;`role];1b;not any q like/: ("delete*";"update*";"*set*")]}
