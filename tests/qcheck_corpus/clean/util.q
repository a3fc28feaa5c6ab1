/ utility library with namespaces
/ loaded by init.q; everything lives under .util

\d .util

/ logging with timestamps
logmsg:{[lvl;msg] -1 string[.z.p]," ",string[lvl]," ",msg;}
info:logmsg`INFO
warn:logmsg`WARN
err:{[msg] logmsg[`ERROR;msg]; 'msg}

/ string helpers
trim2:{x where not null x}
lower2:{lower x}
startsWith:{[s;p] p~(count p)#s}
quote:{"\"",x,"\""}
escaped:"tab\there\nnewline \\ backslash \" quote \101";
csvLine:{"," sv string x}
path:{"/" sv x}

/ dictionary helpers
merge:{[d1;d2] d1,d2}
pick:{[d;k] k#d}
defaults:{[d;k;v] $[k in key d;d k;v]}

/ table helpers
cols2:{cols x}
rename:{[t;m] c:cols t; (c^m c) xcol t}
head:{[n;t] n sublist t}
fill:{[t] ^[0;t]}

/ functional select, with parse trees
fsel:{[t;c;b;a] ?[t;c;b;a]}
whereEq:{[c;v] enlist(=;c;enlist v)}

/ iterators
cumsum:{sums x}
pairsum:{(+)prior x}
mavg2:{[n;x] n mavg x}
runningMax:{maxs x}
converge:{[f;x] f/[x]}
fixpoint:{{x*x}\[3;2]}
eachBoth:{x,'y}
eachLeft:{x,\:y}
eachRight:{x,/:y}
eachPrior:{-':[x]}

/ timing a function, returns (result;milliseconds)
timed:{[f;x]
  s:.z.p;
  r:f x;
  (r; (.z.p-s) div 1000000)
  }

/ retry with a limit: multi-line with nested lambdas and conditionals
retry:{[f;x;n]
  i:0;
  while[i<n;
    r:@[{(1b;x y)}[f];x;{(0b;x)}];
    if[first r; :last r];
    i+:1];
  'last r
  }

/ an eight-parameter function is allowed
eight:{[a;b;c;d;e;f;g;h] a+b+c+d+e+f+g+h}

\d .

/ back in the root namespace
.util.info "util loaded";

\d .cfg
env:`dev
ports:`rdb`hdb`gw!5010 5012 5014
lookup:{[k] ports k}
\d .

/ the last line is a comment
