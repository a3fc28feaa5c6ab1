"""What a file defines and uses at load time, for the symbol table over the load graph.

q runs a script's top-level expressions in order as it loads it; a function body runs only when
called. So a top-level expression that names a global nothing has defined yet fails with
``'name`` and stops the node. This pass reads one file's tokens and yields, in file order:

- ``("defs", names, line, col, ns)``: globals a run of expressions (or function bodies, at the latest
  when they could first be called) may define: ``a:``, ``a::``, every symbol literal (`` `a set ``,
  ``@[`.;`a;:;1]``), in the namespace ``\\d`` set;
- ``("use", name, line, col, ns)``: a global a top-level expression reads;
- ``("call", name, line, col, ns)``: one it may read but that is not judged (a branch, q-sql);
- ``("fn", [[name, line, col, line, col], ...], line, col, ns)``: ``name:{...}`` defines a function
  whose body spans those positions (its names are read from the source only if a loader exists),
  one entry per function of the run;
- ``("loader", name, line, col, ns)``: that function loads files (or sets computed names, or
  evaluates an assignment string): a top-level use of it, or of a function that may call it, makes
  anything possible from there on;
- ``("opaque", None, line, col, ns)``: from here on anything may be defined (``value``/``eval`` at
  top level, ``set`` of a computed name, ``.Q.l`` of a database, or a function body that loads,
  sets a computed name or evaluates an assignment in a string: it may be called at load), so uses
  are no longer checked.

Everything uncertain errs towards "defined": a false error blocks a push, a miss does not.
"""

from __future__ import annotations

import re
from functools import partial
from itertools import chain, pairwise, repeat
from operator import itemgetter

# .Q.res: the control words and keywords (KX reference, .Q.res); assigning one fails with 'assign
RESERVED = frozenset(
    "abs acos asin atan avg bin binr cor cos cov delete dev div do enlist exec exit exp getenv hopen if in insert "
    "last like log max min prd select setenv sin sqrt ss sum tan update var wavg while within wsum xexp".split()
)
# key `.q: the functions that extend k to q (with .Q.res, the full list of reserved words)
Q_WORDS = frozenset(
    "aj aj0 ajf ajf0 all and any asc asof attr avgs ceiling cols count cross csv cut deltas desc differ distinct "
    "dsave each ej ema eval except fby fills first fkeys flip floor get group gtime hclose hcount hdel hsym iasc "
    "idesc ij ijf inter inv key keys lj ljf load lower lsq ltime ltrim mavg maxs mcount md5 mdev med meta mins mmax "
    "mmin mmu mod msum neg next not null or over parse peach pj prds prev prior rand rank ratios raze read0 read1 "
    "reciprocal reval reverse rload rotate rsave rtrim save scan scov sdev set show signum ssr string sublist sums "
    "sv svar system tables til trim type uj ujf ungroup union upper upsert value view views vs where wj wj1 xasc "
    "xbar xcol xcols xdesc xgroup xkey xlog xprev xrank".split()
)
BUILTINS = RESERVED | Q_WORDS | {"x", "y", "z", "from", "by", "i", "use"}  # use: KDB-X modules
# namespaces q (and FinSpace: .aws, .awscust) provide
SYSTEM_NAMESPACES = (".q", ".Q", ".z", ".h", ".j", ".o", ".m", ".aws", ".awscust")
_QSQL = {"select", "exec", "update", "delete", "from", "by"}
_CONDITIONAL = {"if", "while", "do"}  # and $[...]: their branches may never run
_DYNAMIC = {"value", "eval", "reval", ".Q.l", ".Q.lo"}
# the names _defines_unknown can answer yes for
_MAY_DEFINE_UNKNOWN = {".Q.l", ".Q.lo", "set", "system", "value", "eval"}
_LINE_COL = itemgetter(2, 3)
_NAME = re.compile(r"\.?[a-zA-Z][\w.]*")


def is_builtin(name: str) -> bool:
    if name in BUILTINS:
        return True
    if name.startswith("."):
        root = name.split(".", 2)[1]
        return "." + root in SYSTEM_NAMESPACES
    return False


def qualify(name: str, ns: str) -> str:
    return name if name.startswith(".") or not ns else f"{ns}.{name}"


def _expressions(toks, starts: list):
    """Top-level expressions as (start, end) token indices; ``starts``: the indices of the tokens in
    column 1 (a system command's always is), where they start. Takes ``starts`` over."""
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    starts.append(len(toks))
    return pairwise(starts)  # strictly increasing: no empty expression


def load_facts(toks, starts: list, events=(), uses=True) -> list:
    """The file's facts (see the module docstring) with ``events``, the rule pass's loads, cds and
    quits (in file order), interleaved: what the load graph replays, in file order. ``starts``: the
    indices of the tokens in column 1, where top-level expressions start (the rule pass collects them).

    Each run of definitions with nothing between that reads the table (a use, call, loader, opaque or
    event) is one ``defs`` and one ``fn`` fact at the run's first position: a module of definitions
    replays in two steps instead of two per expression. ``uses=False`` (a .k file, whose names are
    not q's) leaves the uses out."""
    out: list = []
    if not toks:
        return list(events)
    names, fns, first = set(), [], None  # the run of definitions so far; first: (line, col, ns) of its start
    at, pending = 0, len(events)  # events[at:] are still to place
    ns = ""
    for start, end in _expressions(toks, starts):
        head = toks[start]
        if head[0] == "sys":
            cmd, arg = head[1]
            if cmd == "d" and arg:
                ns = "" if arg == "." else arg
            continue
        line, col = head[2], head[3]
        # an event sorts after a definition at its own position, before everything else there
        if at < pending and events[at][2:4] < (line, col):
            names, fns, first = _ended(out, names, fns, first)
            while at < pending and events[at][2:4] < (line, col):
                out.append(events[at])
                at += 1
        fn, rest = _expression(toks, start, end, ns, names, head[0] != "lang", uses)  # k's names are not q's
        if first is None and names:
            first = (line, col, ns)
        if fn:
            if at < pending and events[at][2:4] == (line, col):
                names, fns, first = _ended(out, names, fns, first)
                out.append(events[at])
                at += 1
            if first is None:
                first = (line, col, ns)
            fns.append(fn)
        if rest:
            names, fns, first = _ended(out, names, fns, first)
            for fact in rest:
                while at < pending and events[at][2:4] <= fact[2:4]:
                    out.append(events[at])
                    at += 1
                out.append(fact)
    _ended(out, names, fns, first)
    out.extend(events[at:])
    return out


def _ended(out, names, fns, first) -> tuple:
    """The run of definitions so far as one ``defs`` and one ``fn`` fact; an empty run to go on with."""
    if first is not None:
        line, col, ns = first
        if names:
            out.append(("defs", sorted(names), line, col, ns))
        if fns:
            out.append(("fn", fns, line, col, ns))
    return set(), [], None


def _expression(toks, start, end, ns, defs, check_uses, keep_uses) -> tuple:
    """One top-level expression: adds the globals it defines to ``defs``; returns its ``fn`` fact's
    value (None unless it is ``name:{...}``) and its other facts in file order."""
    first = toks[start]
    # name:{...}: a function defined, not run; if it loads or defines computed names, calling it may define anything
    lambda_def = (
        end - start > 2
        and first[0] == "name"
        and toks[start + 1][1] == ":"
        and toks[start + 2][:2] == ("open", "{")  # not a string "{"
    )
    uses, calls = [], []
    opaque = loader = body_end = None
    qsql = not check_uses
    brackets: list = []  # per open '[' '(' outside bodies: whether it is in a branch that may never run
    tokens = enumerate(toks[start:end], start)  # shared with _body, which reads a body through its '}'
    for i, tok in tokens:
        kind = tok[0]
        if kind == "other":
            continue  # read through the name before it (the commonest kind: skipped first)
        text = tok[1]
        if kind == "name":
            nxt = toks[i + 1] if i + 1 < end else None
            if text in _QSQL:
                qsql = True
            if nxt is not None and nxt[0] == "other" and nxt[1][0] == ":":
                defs.add(
                    text if not ns or text[0] == "." else f"{ns}.{text}"
                )  # qualify(), inlined: the hot case
            elif text in _DYNAMIC or (text == "set" and not (i > start and toks[i - 1][0] == "sym")):
                if opaque is None:
                    opaque = (tok[2], tok[3])
            elif text not in BUILTINS and not (text[0] == "." and is_builtin(text)):
                amended = nxt is not None and nxt[1] == "[" and _amended(toks, i, end)
                (calls if (brackets and brackets[-1]) or amended else uses).append((text, tok[2], tok[3]))
        elif kind == "open":
            if text == "{":
                close, unknown = _body(tokens, toks, end, ns, defs, opaque is None and loader is None)
                if body_end is None:
                    body_end = close  # a name:{...} body's closing brace (read here, not by a second scan)
                if unknown is not None:
                    if lambda_def:
                        loader = unknown  # once this function runs, anything may be defined
                    else:
                        opaque = unknown
            elif text == "[" and i > start and _branches(toks[i - 1]):
                brackets.append(True)
            else:
                brackets.append(brackets[-1] if brackets else False)
        elif kind == "close":
            if text == "}":
                if body_end is None:
                    body_end = i  # a stray '}' ends what a name:{...} could have opened
            elif brackets:
                brackets.pop()
                nxt = toks[i + 1] if i + 1 < end else None
                if nxt is not None and nxt[0] == "other" and nxt[1].startswith(":"):
                    defs.update(qualify(name, ns) for name, _, _ in uses)  # ([a;b]):... assigns what it names
                    uses.clear()
        elif kind == "sym":
            _symbol_defs(text, ns, defs)
    fn = None
    if lambda_def:
        brace = toks[start + 2]
        last = toks[body_end if body_end is not None else end - 1]  # an unclosed body runs to the end
        name = first[1]  # qualify(), inlined below
        fn = [name if not ns or name[0] == "." else f"{ns}.{name}", brace[2], brace[3], last[2], last[3]]
    if not (loader or uses or calls or opaque):
        return fn, ()  # the common case: nothing else
    rest = []
    if loader:
        rest.append(("loader", fn[0], loader[0], loader[1], ns))
    if qsql:
        calls, uses = calls + uses, ()
    if keep_uses:
        for name, line, col in uses:
            rest.append(("use", name, line, col, ns))
    for name, line, col in calls:
        rest.append(("call", name, line, col, ns))
    if opaque:
        rest.append(("opaque", None, opaque[0], opaque[1], ns))
    if len(rest) > 1:
        rest.sort(key=_LINE_COL)  # no two at one position: each is a token of its own
    return fn, rest


def _body(tokens, toks, end, ns, defs, look) -> tuple:
    """A function body, read from the expression's ``tokens`` just after its ``{`` through its ``}``.

    A body runs only when called, so only what it may define matters: ``a::`` and symbols go to
    ``defs``. Returns the index of the closing ``}`` (None if the expression ends first) and, when
    ``look``, the position of the first thing that may define names nobody can know (_defines_unknown)."""
    depth = 1
    unknown = None
    for i, tok in tokens:
        kind = tok[0]
        if kind == "open":  # brackets are most of a body's tokens
            if tok[1] == "{":
                depth += 1
        elif kind == "close":
            if tok[1] == "}":
                depth -= 1
                if not depth:
                    return i, unknown
        elif kind == "name":
            text = tok[1]
            nxt = toks[i + 1] if i + 1 < end else None
            if nxt is not None and nxt[0] == "other" and nxt[1].startswith("::"):
                defs.add(qualify(text, ns))
            elif look and text in _MAY_DEFINE_UNKNOWN and _defines_unknown(toks, i, end):
                unknown, look = (tok[2], tok[3]), False
        elif kind == "sym":
            _symbol_defs(tok[1], ns, defs)
    return None, unknown


def _branches(prev) -> bool:
    """``if[``, ``while[``, ``do[`` and ``$[``: the brackets after ``prev`` hold branches that may never run."""
    return (prev[0] == "name" and prev[1] in _CONDITIONAL) or (prev[0] == "other" and prev[1].endswith("$"))


def _symbol_defs(text, ns, defs) -> None:
    """Every name in a symbol literal may be defined with it (`` `a set 1``, ``@[`.;`a;:;1]``)."""
    if len(text) > 1 and text[1] != ":":
        for name in text[1:].split("`"):
            if name:
                defs.add(
                    name if not ns or name[0] == "." else f"{ns}.{name}"
                )  # qualify(), inlined: the hot case


def body_names(text: str, span) -> set:
    """Every name in a function body's source (the lexer skips names in bodies; names in strings
    and comments only make the symbol table more careful). Read only once a loader exists."""
    lines = text.split("\n")
    sl, sc, el, ec = span
    if el > len(lines):
        return set()
    body = (
        lines[sl - 1][sc : ec - 1]
        if sl == el
        else "\n".join([lines[sl - 1][sc:], *lines[sl : el - 1], lines[el - 1][: ec - 1]])
    )
    return set(_NAME.findall(body))


def _defines_unknown(toks, i, end) -> bool:
    """In a function body: a load, a database load, ``set`` of a computed name, or ``value "a:..."``.

    The function may run at load (``init[]``), so from its definition on, uses are not judged."""
    text = toks[i][1]
    if text in (".Q.l", ".Q.lo"):
        return True
    prev = toks[i - 1] if i else None
    if text == "set":
        return prev is None or prev[0] != "sym"
    nxt = toks[i + 1] if i + 1 < end else None
    if nxt is not None and nxt[0] == "open" and nxt[1] == "(":
        nxt = toks[i + 2] if i + 2 < end else None
    if nxt is None or nxt[0] != "str":
        return False
    if text == "system":
        return nxt[1].lstrip("\\").startswith("l")
    return text in ("value", "eval") and ":" in nxt[1]


def _amended(toks, i, end) -> bool:
    """``name[...]:value`` amends (or, for a dictionary made on the fly, creates) ``name``: not a plain read."""
    j = i + 1
    if j >= end or toks[j][0] != "open" or toks[j][1] != "[":
        return False
    level = 0
    while j < end:
        if toks[j][0] == "open":
            level += 1
        elif toks[j][0] == "close":
            level -= 1
            if level == 0:
                nxt = toks[j + 1] if j + 1 < end else None
                return nxt is not None and nxt[0] == "other" and nxt[1].startswith(":")
        j += 1
    return False


class SymbolTable:
    """The globals defined so far in load order; ``knows`` errs towards yes."""

    def __init__(self, keep_names: bool = False):
        self.names: set | None = set() if keep_names else None  # every name defined (autocomplete's)
        self.leaves: set = set()
        self.roots: set = set()  # namespaces with something in them: .ns.missing is then a null, not an error
        self.opaque = False
        self.functions: dict = {}  # last part of a name defined as name:{...} -> names its body uses, or a callable giving them
        self.loaders: set = set()  # last parts of functions that load files or define computed names
        # (reader, [[name, body span], ...]) of functions defined since may_load last looked: most loads
        # have no loader, and indexing every function as it was defined cost ~2% of a check
        self.unindexed: list = []

    def add_functions(self, reader, functions) -> None:
        """``reader(span)``: the names in the body at ``span`` of the file defining ``functions``."""
        self.unindexed.append((reader, functions))

    def define(self, names) -> None:
        if self.names is not None:
            self.names.update(names)
        # a.b is a dictionary a (or .ns.a.b seen from \\d .ns): any part may be what a use names
        # (a name's parts in one pass in C; ".ns.a" gives an empty first part, which no bare name is)
        self.leaves.update(chain.from_iterable(map(str.split, names, repeat("."))))
        self.roots.update(
            [name.split(".", 2)[1] for name in names if name[:1] == "."]
        )  # .ns.name: the root ns

    def may_load(self, name: str) -> bool:
        """Could using ``name`` run a loader, directly or through the functions it calls?"""
        for reader, functions in self.unindexed:
            for fn in functions:
                self.functions[fn[0].rsplit(".", 1)[-1]] = partial(reader, fn[1:])
        self.unindexed.clear()
        todo, seen = [p for p in name.split(".") if p], set()
        while todo:
            part = todo.pop()
            if part in self.loaders:
                return True
            if part not in seen:
                seen.add(part)
                used = self.functions.get(part, ())
                if callable(used):
                    used = self.functions[part] = used()
                for name in used:
                    todo.extend(p for p in name.split(".") if p)
        return False

    def knows(self, name: str, ns: str) -> bool:
        if self.opaque or is_builtin(name):
            return True
        if not name.startswith("."):
            return (
                name.split(".", 1)[0] in self.leaves
            )  # the namespace a bare name resolves in is not always known
        return name.split(".", 2)[1] in self.roots
