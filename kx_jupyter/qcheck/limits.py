"""q's limits on one function: at most 110 locals and 110 globals (KX reference, "Variables and constants").

q refuses a lambda over these limits when it parses it, so the file fails to load (``'locals``,
``'globals``). A function needs at least ~440 characters to hold 111 assignments, so only such
long bodies are lexed again in full (the lexer skips names inside function bodies for speed).
Both counts are lower bounds, so a report is certain: locals are names assigned with ``:`` in the
body itself (not in nested lambdas, not q-sql column names, not parameters); globals are dotted
names and names assigned with ``::``. The constants limit (239 minus locals and globals) is left
out: how q counts constants is not documented precisely enough to report it without false errors.
"""

from __future__ import annotations

from .lexer import lex
from .rules import diag

LOCALS_LIMIT = 110
GLOBALS_LIMIT = 110
SHORTEST = 4 * (LOCALS_LIMIT + 1)  # "a:0;" per local
_QSQL = {"select", "exec", "update", "delete"}


def function_limits(text: str, toks: list, path: str) -> list:
    """Diagnostics for functions over q's locals/globals limits; ``toks`` are the file's tokens."""
    if len(text) < SHORTEST or (text.count(":") <= LOCALS_LIMIT and text.count(".") <= GLOBALS_LIMIT):
        return []  # every local and every counted global needs a ':' or a '.' of its own
    lines = text.split("\n")
    out = []
    for start, end in _long_functions(toks, lines):
        (sl, sc), (el, ec) = start, end
        body = (
            "\n".join([lines[sl - 1][sc - 1 :]] + lines[sl : el - 1] + [lines[el - 1][:ec]])
            if el > sl
            else lines[sl - 1][sc - 1 : ec]
        )
        inner = lex(
            " " * (sc - 1) + body, path, every_name=True
        ).tokens  # keep columns; line numbers are relative
        local, glob = _count(inner)
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
    return out


def _long_functions(toks, lines):
    """(start, end) positions of outermost function bodies at least SHORTEST characters long."""
    depth, opened = 0, None
    for kind, text, line, col in toks:
        if kind == "open" and text == "{":
            if depth == 0:
                opened = (line, col)
            depth += 1
        elif kind == "close" and text == "}" and depth:
            depth -= 1
            if depth == 0 and opened:
                sl, sc = opened
                size = (
                    len(lines[sl - 1]) - sc + 1 + sum(len(x) + 1 for x in lines[sl : line - 1]) + col
                    if line > sl
                    else col - sc + 1
                )
                if size >= SHORTEST:
                    yield opened, (line, col)


def _count(toks):
    """Locals and (a lower bound of) globals of the outermost function in ``toks``."""
    local, glob, params = set(), set(), set()
    depth, qsql = 0, False
    for i, (kind, text, _line, _col) in enumerate(toks):
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
        elif kind == "other" and ";" in text:
            qsql = False
        elif kind == "name" and depth == 1:
            if text in _QSQL:
                qsql = True
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            sets = nxt is not None and nxt[0] == "other" and nxt[1].startswith(":")
            if sets and nxt[1].startswith("::"):
                glob.add(text)
            elif sets and not qsql and text not in params:
                local.add(text)
            elif text.startswith("."):
                glob.add(text)
    return local - glob, glob
