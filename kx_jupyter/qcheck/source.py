"""Rules over one file's tokens, and the facts the bundle check needs from it (loads, cds, quits, args read)."""

from __future__ import annotations

import marshal
import re
from dataclasses import dataclass, field
from functools import lru_cache

from .diagnostic import sort_key
from .lexer import Lexed, lex
from .limits import function_limits
from .rules import diag
from .suppress import Suppressions, parse
from .symbols import RESERVED, load_facts

# callbacks q calls by name; FinSpace denies assigning them ('access)
Z_HANDLERS = {
    "ac",
    "bm",
    "exit",
    "pc",
    "pd",
    "pg",
    "ph",
    "pi",
    "pm",
    "po",
    "pp",
    "pq",
    "ps",
    "pw",
    "ts",
    "vs",
    "wc",
    "wo",
    "ws",
}
# the ones FinSpace offers a hook for
AWSCUST_HOOKS = {"ts", "pg", "ps", "po", "pc", "ws", "wo", "wc", "pd", "ph", "pi", "exit"}

OPERATOR_HINTS = {
    "==": "q reads a==b as a=(=b), equal to the group of b; q's equality is a single '=' ('~' to match whole values)",
    "!=": "q reads a!=b as a!(=b), a dictionary; q's not-equal is '<>'",
    "&&": "q reads a&&b as a&(&b), and-ed with the indices where b is true; q's logical and is '&' (or 'and')",
    "||": "q reads a||b as a|(|b), or-ed with b reversed; q's logical or is '|' (or 'or')",
    "+=": "q reads a+=b as a+(=b), not add-assign; write a+:b",
    "-=": "q reads a-=b as a-(=b), not subtract-assign; write a-:b",
    "*=": "q reads a*=b as a*(=b), not multiply-assign; write a*:b",
}

# every undotted name a rule in _walk is about (but .Q.opt dictionaries, which a file defines)
_RULED_NAMES = Z_HANDLERS | RESERVED | {"system", "set"}
_SYSTEM_ARG = re.compile(r"\\?(\\|[A-Za-z_0-9]+)[ \t]*(.*)", re.S)
_ESCAPES = re.compile(r"\\([0-7]{3}|.)")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


MARSHAL_VERSION = 4  # pinned: the cache's fingerprint holds the Python version, whose marshal reads it


@dataclass
class FileReport:
    path: str
    diags: list = field(default_factory=list)
    arg_reads: list = field(default_factory=list)  # (key, line, col, has_default)
    # what the load graph replays, in file order: the rule walk's events, ("load"|"cd", target or None
    # when built at run time, line, col, runs_at_load) and ("quit", None, line, col, True), and (when
    # analyzed with symbols) among them the symbol table's facts, runs of definitions merged (symbols.load_facts)
    steps: list = field(default_factory=list)
    opt_vars: dict = field(default_factory=dict)  # global holding .Q.opt .z.x -> keys with .Q.def defaults
    suppressions: Suppressions = field(default_factory=Suppressions)
    # names the rule pass would read as a .Q.opt dictionary if one had that name: before a key
    # (``d`key``, ``d[`key]``) or after `` `k in key`` (a guard). Analyzed knowing dictionaries none
    # of these names, the report is the one knowing none at all (see bundle._Bundle)
    dict_names: set = field(default_factory=set)
    # to_record as marshal data, once made or as received (not part of the report's value)
    record_bytes: bytes | None = field(default=None, repr=False, compare=False)

    def to_record(self) -> tuple:
        """A ``marshal``-able form that ``from_record`` turns back into an equal report (the on-disk cache stores it).

        Positional, not keyed, and the report's own containers (tuples, sets) as they are: a warm check
        rebuilds one per file, and marshal returns them ready to use where JSON needed converting.
        Without the path (the cache's key holds it), and each diagnostic without path and severity
        (the report's path; the rule's severity)."""
        return (
            [(d.line, d.col, d.rule, d.message) for d in self.diags],
            self.arg_reads,
            self.steps,
            {var: set(keys) for var, keys in self.opt_vars.items()},
            self.suppressions.file,
            self.suppressions.lines,
            self.dict_names,
        )

    def marshaled(self) -> bytes:
        """``to_record`` as marshal data: what the cache stores and a forked analysis sends back. A
        report that arrived as these bytes keeps them, so storing it costs no second encoding."""
        if self.record_bytes is None:
            self.record_bytes = marshal.dumps(self.to_record(), MARSHAL_VERSION)
        return self.record_bytes

    @classmethod
    def from_marshaled(cls, path: str, data: bytes) -> FileReport:
        report = cls.from_record(path, marshal.loads(data))
        report.record_bytes = data
        return report

    @classmethod
    def from_record(cls, path: str, data: tuple) -> FileReport:
        diags, arg_reads, steps, opt_vars, suppress_file, suppress_lines, names = data
        return cls(
            path,
            [diag(rule, path, line, col, message) for line, col, rule, message in diags],
            arg_reads,
            steps,
            opt_vars,
            Suppressions(suppress_file, suppress_lines),
            names,
        )


def unescape(body: str) -> str:
    return _ESCAPES.sub(
        lambda m: chr(int(m.group(1), 8)) if len(m.group(1)) == 3 else _SIMPLE.get(m.group(1), m.group(1)),
        body,
    )


@lru_cache(maxsize=256)  # a workspace's worth of files; bounded because tokens take memory
def lexed_file(text: str, path: str) -> Lexed:
    """Lexing is nearly all of a check's cost, and a push re-checks mostly unchanged files: lex each once.

    The result is shared, so nothing below may change it (``analyze`` copies the diagnostics)."""
    return lex(text, path)


def forget_lexed_files() -> None:
    """Let the lexed files go: a long-lived process that checks each text once (the plane's
    checker nodes) gains nothing from keeping them."""
    lexed_file.cache_clear()


def analyze(
    text: str,
    path: str = "<cell>",
    opt_vars: dict | None = None,
    lexed: Lexed | None = None,
    symbols: bool = True,
) -> FileReport:
    """Diagnostics and load-time facts of one file; ``opt_vars``: .Q.opt dictionaries other files define.

    ``lexed``: ``lexed_file(text, path)`` if the caller holds it. ``symbols=False`` skips what only the
    load graph's symbol table reads (a cell or the editor)."""
    lexed = lexed or lexed_file(text, path)
    rep = FileReport(path, list(lexed.diags), suppressions=parse(lexed.comments))
    starts = _walk(lexed.tokens, rep, dict(opt_vars or {}))
    if symbols:
        rep.steps = load_facts(lexed.tokens, starts, rep.steps, uses=not path.endswith(".k"))
    rep.diags.extend(function_limits(text, path, lexed.functions))
    return rep


def check_source(text: str, path: str = "<cell>") -> list:
    """Diagnostics for one file on its own (no bundle context), suppressions applied."""
    rep = analyze(text, path, symbols=False)
    return sorted((d for d in rep.diags if not rep.suppressions.silences(d.rule, d.line)), key=sort_key)


def _system_command(
    rep: FileReport, cmd: str, arg: str, line: int, col: int, at_load: bool, label: str
) -> None:
    if cmd == "l" and arg:
        rep.steps.append(("load", arg, line, col, at_load))
    elif cmd == "cd" and arg:
        rep.steps.append(("cd", arg, line, col, at_load))
    elif cmd == "\\":
        rep.steps.append(("quit", None, line, col, at_load))
    elif cmd == "p" and arg:
        rep.diags.append(
            diag(
                "Q031",
                rep.path,
                line,
                col,
                f"{label} changes the port, which FinSpace manages and does not let q change: remove it",
            )
        )


def _port_guard(toks, i) -> bool:
    """``if[not system"p";system"p 5010"]``: the port is set only when none was given, and FinSpace always gives one."""
    level, j = 0, i - 1
    while j >= 0:
        kind, text = toks[j][0], toks[j][1]
        if kind == "close":
            level += 1
        elif kind == "open":
            if level == 0:
                if text != "[" or j == 0 or toks[j - 1][:2] != ("name", "if"):
                    return False
                k = j + 1
                while k < i and toks[k][1] != ";":  # the condition
                    if (
                        toks[k][:2] == ("name", "system")
                        and k + 1 < i
                        and toks[k + 1][0] == "str"
                        and toks[k + 1][1].strip() == "p"
                    ):
                        return True
                    k += 1
                return False
            level -= 1
        j -= 1
    return False


def _walk(toks: list, rep: FileReport, opt_vars: dict) -> list:
    """The rules over one file's tokens, into ``rep``; returns the indices of the tokens in column 1,
    where top-level expressions start (the symbol pass needs them, and this loop passes every token)."""
    path, diags = rep.path, rep.diags
    n = len(toks)
    depth = 0  # open '{' count: code inside a function body does not run at load time
    namespace = ""  # set by \\d: a bare name assigned there is global as .ns.name
    # per open '{': [its parameters and locals, its own .Q.opt locals], each None until it has one
    scopes: list = []
    guarded: set = set()  # keys read only after `k in key d
    dict_names = rep.dict_names
    starts = []  # tokens in column 1
    for i in range(n):
        tok = toks[i]
        if tok[3] == 1:
            starts.append(i)
        kind = tok[0]
        if kind == "other":
            continue  # a third of all tokens: skipped first
        if kind == "name":
            text = tok[1]
            if depth:
                nxt = toks[i + 1] if i + 1 < n else None
                if nxt is not None and nxt[0] == "other" and nxt[1][0] == ":" and not nxt[1].startswith("::"):
                    scope = scopes[-1]
                    if scope[0] is None:
                        scope[0] = set()
                    scope[0].add(text)  # a local
            if text[0] == ".":  # a dotted name: only the .z, .Q.opt, .Q.def and dictionary-read rules apply
                if text.startswith(".z"):
                    _z_assignment(toks, i, rep)
                elif text == ".Q.opt":
                    var = _qopt(toks, i, rep, opt_vars, namespace if depth == 0 else None)
                    if var and depth:
                        scope = scopes[-1]
                        if scope[1] is None:
                            scope[1] = set()
                        scope[1].add(var)
                elif text == ".Q.def":
                    for key, kl, kc in _def_keys(toks, i):
                        rep.arg_reads.append((key, kl, kc, True))
                elif text in opt_vars and not _assigned(toks, i):
                    _opt_reads(toks, i, rep, opt_vars[text], scopes[-1] if depth else None)
            elif text not in _RULED_NAMES and text not in opt_vars:
                pass  # most names: none of the rules below is about them
            elif namespace == ".z" and depth == 0 and text in Z_HANDLERS and _assigned(toks, i):
                line, col = tok[2], tok[3]
                diags.append(diag("Q030", path, line, col, _z_message(f".z.{text}", f"\\d .z then {text}:")))
            elif text == "system":
                _system_call(toks, i, rep, depth == 0)
            elif text == "exit" and tok[3] == 1 and depth == 0:
                rep.steps.append(("quit", None, tok[2], tok[3], True))
            elif text in opt_vars and not _assigned(toks, i):
                _opt_reads(toks, i, rep, opt_vars[text], scopes[-1] if depth else None)
            elif text == "set":
                if i and toks[i - 1][0] == "sym":
                    _z_set(toks[i - 1], rep)
                elif i + 2 < n and toks[i + 1][1] == "[" and toks[i + 2][0] == "sym":
                    _z_set(toks[i + 2], rep)
            elif (
                text in RESERVED
                and depth == 0
                and not namespace
                and _assigned(toks, i)
                and _starts_statement(toks, i)
            ):
                diags.append(
                    diag(
                        "Q038",
                        path,
                        tok[2],
                        tok[3],
                        f"'{text}' is a reserved word (.Q.res): assigning it fails with 'assign; rename the variable",
                    )
                )
        elif kind == "open":
            if tok[1] == "{":
                depth += 1
                nxt = toks[i + 1] if i + 1 < n else None
                if (
                    nxt is not None
                    and nxt[1] == "["
                    and nxt[0] == "open"
                    and nxt[2] == tok[2]
                    and nxt[3] == tok[3] + 1
                ):
                    scopes.append([_parameters(toks, i, rep), None])
                else:
                    scopes.append([None, None])
        elif kind == "close":
            if tok[1] == "}" and depth:
                depth -= 1
                scopes.pop()
        elif kind == "sym":
            text = tok[1]
            before = toks[i - 1] if i else None
            if before is not None:  # a dictionary's name before a key (what _lookups reads)
                if before[0] == "name":
                    dict_names.add(before[1])
                elif before[1] == "[" and i > 1 and toks[i - 2][0] == "name":
                    dict_names.add(toks[i - 2][1])
            if i + 3 < n and toks[i + 1][0] == "name" and toks[i + 1][1] == "in" and toks[i + 2][1] == "key":
                dict_names.add(toks[i + 3][1])
                if toks[i + 3][1] in opt_vars:
                    guarded.add(text[1:])  # `k in key d: the code looks before it reads
            elif (
                text == "`.z"
                and i + 3 < n
                and toks[i + 1][1].startswith(";")
                and toks[i + 2][0] == "sym"
                and toks[i + 2][1][1:] in Z_HANDLERS
                and toks[i + 3][0] == "other"
                and ":" in toks[i + 3][1]
            ):  # @[`.z;`ts;:;f] amends; @[`.z;`ts] reads
                _, h, hl, hc = toks[i + 2]
                diags.append(diag("Q030", path, hl, hc, _z_message(f".z.{h[1:]}", f"amending `.z with {h}")))
        elif kind == "sys":
            cmd, arg = tok[1]
            if cmd == "d" and arg:
                namespace = "" if arg == "." else arg
            _system_command(rep, cmd, arg, tok[2], tok[3], True, f"\\{cmd} {arg}")
        elif kind == "op":
            text = tok[1]
            diags.append(diag("Q010", path, tok[2], tok[3], f"'{text}': {OPERATOR_HINTS[text]}"))
    if guarded or rep.arg_reads:
        seen = set()
        kept = []
        for key, kl, kc, has_default in rep.arg_reads:
            if (key, kl) in seen or (key in guarded and not has_default):
                continue
            seen.add((key, kl))
            kept.append((key, kl, kc, has_default))
        rep.arg_reads = kept
    return starts


def _assigned(toks, i) -> bool:
    """The name at ``toks[i]`` is assigned with ``a:`` or ``a::`` (the token after it starts with a colon)."""
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    return nxt is not None and nxt[0] == "other" and nxt[1][0] == ":"


def _opt_reads(toks, i, rep, defaults, scope) -> None:
    """Keys read from the .Q.opt dictionary named at ``toks[i]`` without a .Q.def default; ``scope``:
    the innermost function's, where a parameter or local of that name is another value."""
    if (
        scope is not None
        and scope[0]
        and toks[i][1] in scope[0]
        and not (scope[1] and toks[i][1] in scope[1])
    ):
        return
    for key, kl, kc in _lookups(toks, i):
        if key not in defaults:
            rep.arg_reads.append((key, kl, kc, False))


def _starts_statement(toks, i) -> bool:
    """``count:3`` as a statement, not ``([key:...]`` (a column name) or ``f[a;count:3]``."""
    if i == 0 or toks[i][3] == 1:
        return True
    prev = toks[i - 1]
    return (
        prev[0] == "other" and prev[1].endswith(";") and prev[2] == toks[i][2] and _bracket_free_line(toks, i)
    )


def _bracket_free_line(toks, i) -> bool:
    level, j = 0, i - 1
    while j >= 0 and toks[j][2] == toks[i][2]:
        if toks[j][0] == "open":
            if level == 0:
                return False
            level -= 1
        elif toks[j][0] == "close":
            level += 1
        j -= 1
    return True


def _parameters(toks, i, rep) -> set:
    """The names in the parameter list ``[a;b]`` of the function opened at ``toks[i]``; Q009 when
    there are more than q allows (one scan for both: most functions have one)."""
    names, count, level, listing = set(), 1, 1, True
    for j in range(i + 2, len(toks)):
        kind = toks[j][0]
        if kind == "open":
            level += 1
            listing = False
        elif kind == "close":
            level -= 1
            if level == 0:
                break
            listing = False
        elif level == 1 and kind == "other":
            count += toks[j][1].count(";")
        elif listing and kind == "name":
            names.add(toks[j][1])
    if count > 8:
        _, _, line, col = toks[i]
        rep.diags.append(
            diag(
                "Q009",
                rep.path,
                line,
                col,
                f"function has {count} parameters; q allows at most 8 ('params): pass a dictionary or a list instead",
            )
        )
    return names


def _z_message(name: str, how: str = "") -> str:
    handler = name[3:]
    via = f" (here by {how})" if how else ""
    if handler in AWSCUST_HOOKS:
        return f"FinSpace denies assigning {name}{via} ('access): assign your function to .awscust.z.{handler} instead"
    return f"FinSpace denies assigning {name}{via} ('access) and has no hook for it: remove the assignment"


def _z_assignment(toks, i, rep) -> None:
    kind, name, line, col = toks[i]
    if (
        name == ".z"
        and i + 3 < len(toks)
        and toks[i + 1][1] == "["
        and toks[i + 2][0] == "sym"
        and toks[i + 3][1] == "]"
    ):
        # .z[`pg]:f
        handler = toks[i + 2][1][1:]
        after = toks[i + 4] if i + 4 < len(toks) else None
        if handler in Z_HANDLERS and after is not None and after[0] == "other" and after[1].startswith(":"):
            rep.diags.append(
                diag("Q030", rep.path, line, col, _z_message(f".z.{handler}", f".z[`{handler}]:"))
            )
        return
    if not name.startswith(".z.") or name[3:] not in Z_HANDLERS or i + 1 >= len(toks):
        return
    nxt = toks[i + 1]
    if nxt[0] == "other" and nxt[1].startswith(":"):
        rep.diags.append(diag("Q030", rep.path, line, col, _z_message(name)))


def _z_set(sym_tok, rep) -> None:
    _, text, line, col = sym_tok
    name = text[1:]
    if name.startswith(".z.") and name[3:] in Z_HANDLERS:
        rep.diags.append(diag("Q030", rep.path, line, col, _z_message(name)))


def _system_call(toks, i, rep, at_load) -> None:
    """``system "l lib.q"``: a load, cd, port change or quit written as a string."""
    j = i + 1
    if j < len(toks) and toks[j][0] == "open" and toks[j][1] == "(":
        j += 1
    if j >= len(toks) or toks[j][0] != "str":
        return
    _, body, line, col = toks[j]
    m = _SYSTEM_ARG.match(unescape(body))
    if not m:
        return
    cmd, arg = m.group(1), m.group(2).strip()
    nxt = toks[j + 1] if j + 1 < len(toks) else None
    built = nxt is not None and nxt[0] == "other" and nxt[1].startswith(",")
    if cmd in ("l", "cd") and built:
        rep.steps.append((("load" if cmd == "l" else "cd"), None, line, col, at_load))
    elif cmd == "p" and built and body == "p":
        return  # system"p",... reads the port (the comma joins it to what follows)
    elif cmd == "p" and arg and _port_guard(toks, i):
        rep.diags.append(
            diag(
                "Q036",
                rep.path,
                line,
                col,
                f'system "{body}" only runs when no port was given, and FinSpace always gives one: it never runs there',
            )
        )
    elif cmd == "p" and built:
        _system_command(rep, cmd, "<built at run time>", line, col, at_load, f'system "{body}",...')
    else:
        _system_command(rep, cmd, arg, line, col, at_load, f'system "{body}"')


def _def_before(toks, i):
    """Index of ``.Q.def`` when ``toks[i]`` follows ``.Q.def[...]``, else None."""
    j, level = i - 1, 0
    if j < 0 or toks[j][1] != "]":
        return None
    while j > 0:
        if toks[j][0] in ("open", "close"):
            level += 1 if toks[j][1] == "]" else -1 if toks[j][1] == "[" else 0
            if level == 0:
                break
        j -= 1
    return j - 1 if toks[j - 1][1] == ".Q.def" else None


def _qopt(toks, i, rep, opt_vars, namespace):
    """``args:.Q.opt .z.x`` (optionally through ``.Q.def``): remember ``args``; ``namespace`` is None inside functions."""
    d = _def_before(toks, i)
    defaults = {key for key, _, _ in _def_keys(toks, d)} if d is not None else set()
    j = (d if d is not None else i) - 1
    var = None
    if j > 0 and toks[j][0] == "other" and toks[j][1] in (":", "::") and toks[j - 1][0] == "name":
        var = toks[j - 1][1]
    if var:
        opt_vars[var] = defaults
        if namespace is not None:
            rep.opt_vars[var if var.startswith(".") or not namespace else f"{namespace}.{var}"] = defaults
    # (.Q.opt .z.x)`key and .Q.opt[.z.x]`key read a key directly
    j = i + 1
    while j < len(toks) and toks[j][1] in (".z.x", "[", "]", ")"):
        j += 1
    if j > i + 1:
        for key, kl, kc in _syms_from(toks, j):
            rep.arg_reads.append((key, kl, kc, key in defaults))
    return var


def _def_keys(toks, i):
    """Keys of ``.Q.def[`a`b!(..)]``: the argument names the code reads, each with a default."""
    if i + 1 < len(toks) and toks[i + 1][1] == "[":
        keys = list(_syms_from(toks, i + 2))
        end = i + 2 + len(keys)
        if keys and end < len(toks) and toks[end][0] == "other" and toks[end][1].startswith("!"):
            return keys
    return []


def _syms_from(toks, j):
    """Consecutive symbol tokens from ``j``: (name, line, col) each."""
    while j < len(toks) and toks[j][0] == "sym" and len(toks[j][1]) > 1:
        _, text, line, col = toks[j]
        yield text[1:], line, col
        j += 1


def _lookups(toks, i):
    """``args`port``, ``args `port`db`` and ``args[`port]``: keys read from a .Q.opt dictionary."""
    j = i + 1
    if j < len(toks) and toks[j][1] == "[":
        j += 1
    keys = list(_syms_from(toks, j))
    end = j + len(keys)
    if end < len(toks) and toks[end][1] == "]":
        end += 1
    if end < len(toks) and toks[end][0] == "other" and toks[end][1].startswith(":"):
        return []  # args`port:5010 sets the key, it does not read it
    return keys
