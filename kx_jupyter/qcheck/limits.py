"""q's limits on one function, as KX documents them (code.kx.com, Basics, "Function notation",
section "Variables and constants"; the parse errors ``'locals``, ``'globals`` and ``'limit`` in
Basics, "Errors"): at most 110 locals, 110 globals, and 239-(m+n) constants for a function with
m locals and n globals (the table says 240-(m+n) before KX corrected it in 2021; V3.5 allowed 95).

q refuses a lambda over these limits when it parses it, so the file fails to load. Every count
here is a lower bound, so a report is certain (a miss blocks nothing; a false error blocks a push):

- locals: names assigned with ``:`` in the body itself (not nested lambdas, not q-sql column
  names, not parameters);
- globals: dotted names and names assigned with ``::``;
- constants: distinct literals at the body's own level (a run of numbers or of symbols is one
  vector constant), leaving out nested lambdas, q-sql statements, anything inside ``( )`` (a list
  of constants may become one), and 0 and 1 of any type (KX's own examples avoid them); literals
  of the same value count once (``2``, ``2j`` and ``2.0``), in case q stores them once.

A function needs at least ~440 characters to reach any of them (each local, global or constant
takes two characters of its own), so only such long bodies are lexed again in full (the lexer
skips names inside function bodies for speed).
"""

from __future__ import annotations

from .lexer import lex
from .rules import diag

LOCALS_LIMIT = 110
GLOBALS_LIMIT = 110
CONSTANTS_BUDGET = 239  # constants allowed = 239 - (locals + globals)
SHORTEST = 4 * (LOCALS_LIMIT + 1)  # "a:0;" per local
_QSQL = {"select", "exec", "update", "delete"}
_UNCOUNTED = {("num", 0.0), ("num", 1.0), ("num", "0b"), ("num", "1b")}  # 0 and 1 of any type
_CONSTANT_CHARS = '0123456789"`'  # every literal holds one: a digit, a quote or a backquote


def function_limits(text: str, path: str, functions: list) -> list:
    """Diagnostics for functions over q's locals/globals/constants limits; ``functions`` are the
    spans of the file's outermost functions (``Lexed.functions``)."""
    if len(text) < SHORTEST or not functions:
        return []
    lines = None
    out = []
    for sl, sc, el, ec in functions:
        if el == sl and ec - sc < SHORTEST:
            continue
        if lines is None:
            lines = text.split("\n")
        body = (
            "\n".join([lines[sl - 1][sc - 1 :]] + lines[sl : el - 1] + [lines[el - 1][:ec]])
            if el > sl
            else lines[sl - 1][sc - 1 : ec]
        )
        if len(body) < SHORTEST or not _may_reach(body):
            continue
        inner = lex(
            " " * (sc - 1) + body, path, every_name=True
        ).tokens  # keep columns; line numbers are relative
        local, glob, constants = _count(inner)
        where = f"function opened at {sl}:{sc}"
        if len(local) > LOCALS_LIMIT:
            out.append(
                diag(
                    "Q039",
                    path,
                    sl,
                    sc,
                    f"{where} has {len(local)} local variables; q allows {LOCALS_LIMIT} ('locals): "
                    "split it, or keep values in a dictionary",
                )
            )
        if len(glob) > GLOBALS_LIMIT:
            out.append(
                diag(
                    "Q039",
                    path,
                    sl,
                    sc,
                    f"{where} uses {len(glob)} global names; q allows {GLOBALS_LIMIT} ('globals): "
                    "split it, or reach them through a dictionary",
                )
            )
        allowed = CONSTANTS_BUDGET - len(local) - len(glob)
        if constants > allowed:
            out.append(
                diag(
                    "Q040",
                    path,
                    sl,
                    sc,
                    f"{where} has at least {constants} constants; with {len(local)} locals and {len(glob)} "
                    f"globals q allows {allowed} (239 minus both; 'limit): move literals into a table, "
                    "a dictionary or a global list",
                )
            )
    return out


def _may_reach(body: str) -> bool:
    """Every local and every counted global needs a ':' or a '.' of its own, every constant one of
    _CONSTANT_CHARS: a body with too few of them is under every limit."""
    colons, dots = body.count(":"), body.count(".")
    if colons > LOCALS_LIMIT or dots > GLOBALS_LIMIT:
        return True
    return colons + dots + sum(map(body.count, _CONSTANT_CHARS)) > CONSTANTS_BUDGET


def _count(toks):
    """Locals, (a lower bound of) globals and of distinct constants of the outermost function in ``toks``."""
    local, glob, params, constants = set(), set(), set(), set()
    depth = 0
    brackets: list = []  # open '(' and '[' in the body's own level
    qsql = None  # len(brackets) where a q-sql statement started: it ends at a ';' or bracket of that level
    last = None  # kind of the previous literal token at the body's level, while a vector runs
    for i, (kind, text, _line, _col) in enumerate(toks):
        run, last = last, None
        if kind == "open" and text == "{":
            depth += 1
            if depth == 1 and i + 1 < len(toks) and toks[i + 1][1] == "[":
                for j in range(i + 2, len(toks)):
                    if toks[j][0] in ("open", "close"):
                        break
                    if toks[j][0] == "name":
                        params.add(toks[j][1])
        elif kind == "close" and text == "}":
            depth -= 1
        elif depth != 1:
            continue
        elif kind == "open":
            brackets.append(text)
        elif kind == "close":
            if brackets:
                brackets.pop()
            if qsql is not None and len(brackets) < qsql:
                qsql = None
        elif kind == "other" and ";" in text:
            if qsql is not None and len(brackets) <= qsql:
                qsql = None
        elif kind == "name":
            if text in _QSQL and qsql is None:
                qsql = len(brackets)
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            sets = nxt is not None and nxt[0] == "other" and nxt[1].startswith(":")
            if sets and nxt[1].startswith("::"):
                glob.add(text)
            elif sets and qsql is None and text not in params:
                local.add(text)
            elif text.startswith("."):
                glob.add(text)
        elif kind in ("num", "sym", "str") and qsql is None and "(" not in brackets:
            if kind != "str":
                last = kind
                if run == kind:
                    continue  # 1 2 3 or `a`b: one vector with the literal before it
            value = _value(kind, text)
            if value not in _UNCOUNTED:
                constants.add(value)
    return local - glob, glob, len(constants)


def _value(kind: str, text: str):
    """What two literals share if q may store them as one constant: a number's value whatever its
    type or spelling (2, 2j, 2f, 2.0), a string's characters whatever its escapes."""
    try:
        if kind == "num":
            return kind, float(text.rstrip("hijef") if text[-1] in "hijef" and text[-2:-1] != "e" else text)
        if kind == "str" and "\\" in text:
            return kind, text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except (ValueError, UnicodeError):
        pass
    return kind, text
