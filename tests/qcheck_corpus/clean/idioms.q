// a grab bag of q idioms that naive lexers get wrong; all valid q, all must be clean
// (double-slash comments are ordinary comments in q)

/ protected evaluation at column 0
.[{x+y};(1;2);{-2 "failed: ",x;0N}]
@[`.;`counter;:;0]
@[value;"1+1";{x}]

/ amend with each-right and an elided index
m:3 3#til 9;
col:m[;1];
row:m[1;];
m[0 1;0]:99;
f:{x+y};
r:f . (1;2);

/ iterators next to comments and strings
a:1 2 3,/:4 5   / each-right then a comment
b:1 2 3,\:4 5   / each-left then a comment
c:"abc",'"def"  / each-both on strings
d:(+/) 1 2 3
e:{x*y}/[1;2 3 4]
g:{x,y}\[();1 2 3]
h:0 {x+y}\ 1 2 3
k:(,/)((1 2);(3 4))
n:1_ til 10; o:-2# til 10; p:2 _ til 10

/ strings that look like comments, escapes and paths
s1:"a / b // c";
s2:"tab\tnewline\ncr\rquote\"backslash\\octal\101";
s3:"C:\\kx\\q\\w64\\";
s4:"http://host:5010/path?x=1&y=2";
s5:"{[x] not a function}";
s6:"unbalanced ( [ { in a string";

/ symbols and file handles
h1:`:./db/sym;
h2:`:/opt/kx/app/shared/vol1/data;
h3:`:localhost:5010;
e1:`sym$`a`b;
e2:` sv `:db,`2024.01.01,`trade,`;

/ multi-line conditional with comments between branches
classify:{[x]
  $[x<0;      / negative
      `neg;
    x=0;      / zero
      `zero;
      `pos]   / positive
  }

/ loops and control
loop:{[n]
  i:0;
  while[i<n; i+:1];
  do[3; i-:1];
  if[i>0; :i];
  i
  }

/ a statement starting with a semicolon on a continuation line
pair:(1
  ;2)

/ tables with blank lines inside the definition
wide:([]

  a:1 2;

  b:3 4)

/ dictionary of lambdas
ops:`add`sub`mul!({x+y};{x-y};{x*y});
apply:{[o;x;y] ops[o][x;y]}

/ q-sql with keywords and attributes
t:([] sym:`a`b`a; px:1 2 3f; sz:10 20 30);
s:select from t where px>(avg;px) fby sym;
u:update sym:`p#sym from `sym xasc t;
v:`sym xkey t;
w:exec px by sym from t;
x1:select[2] from t;
x2:select[>px] from t;
x3:delete sz from t;

/ internal functions
i1:{-11!(-2;x)};
i2:0N!"debug";
i3:-1 "stdout";

k)ks:{x+y}

/ timers go through the FinSpace hook
.awscust.z.ts:{-1 "tick"}
system "t 1000";

/ unary minus, negative numbers and subtraction
neg1:-1;neg2:- 1;sub1:3-1;sub2:3 -1;sub3:neg1-1;
