"""A q lexer written for correctness, not colour: it sees a script the way q's loader does.

How q reads a script (and so how this lexer does):
- A line that is exactly ``/`` opens a block comment, closed by a line that is exactly ``\\``
  (trailing blanks allowed, no indent). Outside a block, a line that is exactly ``\\`` ends
  the script: the rest is never read. A ``#!`` first line is skipped.
- A line starting with ``/`` is a comment; elsewhere ``/`` starts a comment only after a
  blank or tab (``+/``, ``,/:`` and ``x/y`` are iterators, ``x /y`` is ``x`` and a comment).
- A line starting at column 0 starts a new expression; indented lines continue the one
  before. Blank and comment lines belong to neither and are skipped.
- A line starting with ``\\`` at column 0 is a system command (``\\l file``, ``\\d .ns``,
  ``\\\\``). A comment may follow its argument (``\\l lib.q / helpers``), but the argument
  itself may start with ``/`` (``\\cd /opt/kx/app/db``). Indented lines after it continue it.
- ``k)`` / ``q)`` at the start of a line pick the language (k lexes like q). Any other single
  letter, ``x)``, hands the line and its indented continuation lines to ``.x.e`` (``s)`` SQL,
  ``p)`` Python from embedPy/PyKX, a test suite's own ``t)``): they are not q and are skipped.
- Strings hold anything but an unescaped ``"``; escapes are ``\\" \\\\ \\n \\r \\t \\NNN``.

The lexer yields only the tokens the rules need (strings, symbols, names, numbers,
brackets, the operators other languages use, punctuation runs and system commands) and
the structural diagnostics q's loader would fail on.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from .rules import diag

# Possessive repeats (Python 3.11+) keep no backtracking state: a 50 MB string lexes in constant
# extra memory. Older Pythons get the same matches with the plain repeats.
_POSSESSIVE = "+" if sys.version_info >= (3, 11) else ""
# Leading blanks are part of each match (fewer matches: this loop is the checker's hot path).
# Groups, commonest first (the engine tries them in order; no two can start at one character, but for
# the last): 1 name, 2 opener, 3 closer, 4 comment, 5 string body, 6 closing quote, 7 symbol,
# 8 number, 9 operator from another language, 10 other punctuation.
_TOKEN = re.compile(
    r"""[ \t]*(?:
     (\.?[a-zA-Z][\w.]*)
    |([(\[{])
    |([)\]}])
    |(?<=[ \t])(/.*)
    |"((?:[^"\\]+POSSESSIVE|\\.)*POSSESSIVE\\?)(")?
    |(`[\w.:/]*)
    |([0-9][\w.:]*)
    |(==|!=|&&|\|\||[-+*]=)
    |([^ \t"`\w.(\[{)\]}=!&|+*-]+|.)
    )""".replace("POSSESSIVE", _POSSESSIVE),
    re.X | re.A,
)
# A stretch of a body without these needs only its brackets and semicolons (see _needs_tokens).
# (value/eval matter in a body only with a string, which '"' already catches; exit only at top level)
_SET = re.compile(r"\bset\b")


def _needs_tokens(line: str, pos: int, end: int) -> bool:
    """Does ``line[pos:end]`` hold a string, a symbol, an operator from another language, ``::``, a
    ``.z``/``.Q`` name, ``system`` or ``set``? Substring tests run in C a character at a time; a regex
    for the same costs ~1 us a line, as re tries its alternatives at every position."""
    seg = line[pos:end]
    return (
        '"' in seg
        or "`" in seg
        or "\x00" in seg
        or ("=" in seg and ("==" in seg or "!=" in seg or "+=" in seg or "-=" in seg or "*=" in seg))
        or "&&" in seg
        or "||" in seg
        or "::" in seg
        or (".z" in seg and (".z." in seg or ".z[" in seg))
        or ".Q." in seg
        or "system" in seg
        or ("set" in seg and _SET.search(line, pos, end) is not None)
    )


_STRUCTURE = re.compile(r"[()\[\]{};]")


def _nested(levels: int, pairs=(r"\(", r"\)", r"\[", r"\]", r"\{", r"\}")) -> str:
    """Text whose brackets pair up, nested at most ``levels`` deep (re has no recursion: each level
    spells out the one inside it); ``pairs``: the kinds allowed, opener then closer. Possessive:
    pairs cannot overlap, so nothing is tried twice."""
    inner = r"[^(){}\[\]]*+"
    for _ in range(levels):
        nested = "|".join(f"{pairs[k]}{inner}{pairs[k + 1]}" for k in range(0, len(pairs), 2))
        inner = rf"[^(){{}}\[\]]*+(?:(?:{nested})[^(){{}}\[\]]*+)*+"
    return inner


# a function body that closes on its own line with every bracket in it paired (most one-line lambdas):
# q can raise no bracket error in it, so only what a rule reads there is looked at (_closed_body)
_CLOSED_BODY = re.compile(_nested(3) + r"\}")
# a line of a body whose brackets pair up and hold no braces: nothing on it is a token
_PAIRED_LINE = re.compile(_nested(3, (r"\(", r"\)", r"\[", r"\]")) + r"\Z")
# what the rules read in a body: braces, and the parameter list right after a '{' (its count, for
# 'params); a list that holds brackets of its own is read the long way
_PARAMS = re.compile(r"\[[^()\[\]{}]*\]")
_BRACKETS = re.compile(r"[()\[\]{}]")
# unrolled (runs of plain characters, then one escape): linear time and constant memory on a 50 MB string
_STR_REST = re.compile(r'(?:[^"\\]+P|\\.)*P\\?(")?'.replace("P", _POSSESSIVE))
# the next escape q does not know, skipping the valid ones inside the regex engine
_BAD_ESCAPE = re.compile(
    r'(?:[^\\]+P|\\(?:[0-7]{3}|["\\nrt]))*P\\([0-7]{1,2}(?![0-7])|[^0-7"\\nrt])'.replace("P", _POSSESSIVE)
)
_SYS = re.compile(r"\\(\\|[A-Za-z_0-9]*)[ \t]*(.*)")
_SYS_COMMENT = re.compile(r"[ \t]+/")
_COMMENT = re.compile(r"[ \t]/")  # outside strings, a comment starts at a blank followed by '/'

CLOSER_OF = {"(": ")", "[": "]", "{": "}"}
OPENER_OF = {v: k for k, v in CLOSER_OF.items()}


@dataclass
class Lexed:
    tokens: list = field(default_factory=list)  # (kind, text, line, col)
    diags: list = field(default_factory=list)
    comments: list = field(default_factory=list)  # (line, text) of comments naming kxcheck
    functions: list = field(default_factory=list)  # (line, col, end line, end col) of each outermost {...}


def split_system(body: str) -> tuple[str, str, str]:
    """``\\l lib.q / note`` -> ("l", "lib.q", "/ note"): command, argument, trailing comment."""
    m = _SYS.match(body)
    cmd, rest = m.group(1), m.group(2).rstrip()
    comment = ""
    if rest == "/" or rest.startswith(("/ ", "/\t")):
        comment, rest = rest, ""  # ``\d / note``: a comment where the argument would be
    else:
        c = _SYS_COMMENT.search(rest)
        if c:
            comment, rest = rest[c.end() - 1 :], rest[: c.start()]
    return cmd, rest.strip(), comment


def _escape_diags(body: str, line: int, col: int, path: str, out: list) -> None:
    pos = 0
    while True:
        m = _BAD_ESCAPE.match(body, pos)
        if m is None:
            return
        pos = m.end()
        seq = "\\" + m.group(1)
        if m.group(1).isdigit():
            hint = "an octal escape needs exactly three digits 0-7, e.g. \\012"
        else:
            hint = 'q knows \\" \\\\ \\n \\r \\t and \\NNN (octal); write \\\\ for a backslash'
        out.append(
            diag("Q004", path, line, col + m.start(1) - 1, f"invalid escape {seq} in a string: {hint}")
        )


# characters that arrive by pasting from documents and chat, with what was meant
_LOOKALIKES = {
    "\u201c": '"',
    "\u201d": '"',
    "\u2018": "'",
    "\u2019": "'",
    "\u00a0": "a space",
    "\u2013": "-",
    "\u2212": "-",
}


def _name_char(c: str) -> str:
    if 0xDC80 <= ord(c) <= 0xDCFF:  # a byte that is not UTF-8, kept by surrogateescape
        return f"byte 0x{ord(c) - 0xDC00:02X} (not UTF-8)"
    meant = f", probably pasted where {_LOOKALIKES[c]} was meant," if c in _LOOKALIKES else ""
    return f"character {c!r} (U+{ord(c):04X}){meant}"


def _describe(opener) -> str:
    ch, line, col = opener
    return f"'{ch}' opened at {line}:{col}"


def lex(text: str, path: str = "<cell>", every_name: bool = False) -> Lexed:
    """Tokens and structural diagnostics; ``every_name`` also yields the names inside function bodies
    (skipped by default: nothing in a body runs at load, and most rules look only at brackets there)
    and numbers (``"num"`` tokens, which only the function limits count)."""
    out = Lexed()
    toks, diags = out.tokens, out.diags
    append = toks.append
    finditer = _TOKEN.finditer
    stack: list = []  # open brackets: (char, line, col)
    boundaries: list = []  # (line, first char, snapshot of stack) where a col-0 line met open brackets
    in_block = 0  # line of the open block comment
    in_string = None  # (line, col, parts) of a string continuing onto the next line
    in_system = False  # indented lines after a system command continue its argument
    opened = None  # (line, col) of the outermost function body still open

    if text.startswith("\ufeff"):
        diags.append(
            diag(
                "Q005",
                path,
                1,
                1,
                "the file starts with a byte-order mark; q fails with 'char: save it as UTF-8 without BOM",
            )
        )
        text = text[1:]

    lines = text.split("\n")
    crlf = "\r" in text
    for lineno, line in enumerate(lines, 1):
        if crlf and line.endswith("\r"):
            line = line[:-1]
        if in_block:
            if line.rstrip() == "\\":
                in_block = 0
            continue
        if not line or (lineno == 1 and line.startswith("#!")):
            continue
        first = line[0]
        if first == "/" or first == "\\":
            stripped = line.rstrip()
            if stripped == "/":
                in_block = lineno
                continue
            if stripped == "\\":
                break  # the script ends here
            if first == "/":
                if "kxcheck" in line:
                    out.comments.append((lineno, line))
                continue
        elif first == " " or first == "\t":
            if not line.strip() or in_system:
                continue
        # a line of code: at column 0 it starts a new expression
        pos = 0
        if first != " " and first != "\t":
            if in_string:
                sl, sc, _ = in_string
                diags.append(
                    diag(
                        "Q001",
                        path,
                        sl,
                        sc,
                        f"string is not closed before line {lineno}, which starts a new expression "
                        f'at column 0: add the closing "',
                    )
                )
                in_string = None
            if stack:
                boundaries.append(
                    (lineno, first, tuple(stack[:8]))
                )  # the outermost openers: bounded, so a broken file stays linear
            in_system = first == "\\"
            if in_system:
                cmd, arg, comment = split_system(line)
                if "kxcheck" in comment:
                    out.comments.append((lineno, comment))
                append(("sys", (cmd, arg), lineno, 1))
                continue
            if line[1:2] == ")" and first.isalpha() and first.isascii():
                if first not in "kq":  # another language (.x.e runs it): skip it and its continuation lines
                    in_system = True
                    continue
                pos = 2  # k) and q) prefixes pick the language of the line
                if first == "k":
                    append(("lang", "k", lineno, 1))  # k names are not q's: the symbol table skips the line
        elif in_string:
            m = _STR_REST.match(line)
            seg = m.group(0)
            if "\\" in seg:
                _escape_diags(seg, lineno, 1, path, diags)
            in_string[2].append(seg)
            if m.group(1) is None:
                continue
            sl, sc, parts = in_string
            in_string = None
            append(("str", "\n".join(parts)[:-1], sl, sc))
            pos = m.end()
        code_end = len(line)
        cut = _COMMENT.search(line, pos) if "/" in line else None
        if cut and '"' not in line[pos : cut.start()]:  # else the '/' may be inside a string
            code_end = cut.start()
        else:
            cut = None
        if (
            not every_name
            and stack
            and (stack[0][0] == "{" or _in_function(stack))  # the outermost opener first, without a call
            and line.isascii()
            and not _needs_tokens(line, pos, code_end)
        ):
            # fast path: inside a function body (which does not run at load) nothing on this line
            # but brackets matters to any rule, and semicolons only inside a parameter list; with
            # no string before it, a blank and '/' start the comment
            if cut and "kxcheck" in line:
                out.comments.append((lineno, line[cut.end() - 1 :]))
            if stack[-1][0] != "[" and _PAIRED_LINE.match(line, pos, code_end):
                continue  # not in a parameter list, and every bracket opens and closes here
            # only braces become tokens (function depth), unless a parameter list needs counting
            params = "{[" in line or stack[-1][0] == "["
            for m in (_STRUCTURE if params else _BRACKETS).finditer(line, pos, code_end):
                ch, col = m.group(), m.start() + 1
                if ch == ";":
                    append(("other", ch, lineno, col))
                elif ch in "([{":
                    stack.append((ch, lineno, col))
                    if params or ch == "{":
                        append(("open", ch, lineno, col))
                else:
                    if stack and stack[-1][0] == OPENER_OF[ch]:
                        stack.pop()  # the common case, without a call
                    else:
                        _close(ch, lineno, col, stack, path, diags)
                    if params or ch == "}":
                        append(("close", ch, lineno, col))
                        if (
                            opened
                            and ch == "}"
                            and not (stack and (stack[0][0] == "{" or _in_function(stack)))
                        ):
                            out.functions.append((*opened, lineno, col))
                            opened = None
            continue
        ascii_line = line.isascii() and not every_name
        plain = ascii_line and "\x00" not in line  # no token on it can hold a character q rejects
        while pos is not None:
            start_pos, pos = pos, None
            for m in finditer(line, start_pos):
                kind = m.lastindex
                if kind == 1:  # names first: the commonest token
                    append(("name", m.group(1), lineno, m.start(1) + 1))
                    continue
                if kind == 8:
                    if every_name:  # numbers only for the constants limit (limits.py)
                        append(("num", m.group(8), lineno, m.start(8) + 1))
                    continue
                col = m.start(kind) + 1
                if kind == 7:
                    append(("sym", m.group(7), lineno, col))
                elif kind == 10:
                    t = m.group(10)
                    if not plain and (not t.isascii() or "\x00" in t):
                        bad = next(c for c in t if ord(c) > 127 or c == "\x00")
                        diags.append(
                            diag(
                                "Q006",
                                path,
                                lineno,
                                col + t.index(bad),
                                f"{_name_char(bad)} outside a string or comment: q fails with "
                                f"'char; remove it or put it in a string",
                            )
                        )
                    if (
                        ":" in t or ";" in t or "," in t or "!" in t or "$" in t
                    ):  # the only punctuation the rules read
                        append(("other", t, lineno, col))
                elif kind == 2:
                    ch = m.group(2)
                    top = ch == "{" and not (stack and (stack[0][0] == "{" or _in_function(stack)))
                    if top:
                        opened = (lineno, col)
                    stack.append((ch, lineno, col))
                    append(("open", ch, lineno, col))
                    if top and ascii_line and not _needs_tokens(line, m.end(), code_end):
                        # a function body starts and the rest of the line holds nothing but
                        # brackets that matters: scan it like a body line, resume after its '}'
                        closed = _CLOSED_BODY.match(line, m.end(), code_end)
                        pos = _closed_body(line, m.end(), closed.end(), lineno, toks) if closed else None
                        if pos is not None:
                            stack.pop()
                        else:
                            pos = _scan_body(line, m.end(), code_end, lineno, stack, append, path, diags)
                        if pos is not None:  # its '}' ends at pos
                            out.functions.append((*opened, lineno, pos))
                            opened = None
                        elif cut and "kxcheck" in line:
                            out.comments.append((lineno, line[cut.end() - 1 :]))
                        break
                elif kind == 3:
                    ch = m.group(3)
                    if stack and stack[-1][0] == OPENER_OF[ch]:
                        stack.pop()  # the common case, without a call
                    else:
                        _close(ch, lineno, col, stack, path, diags)
                    append(("close", ch, lineno, col))
                    if opened and ch == "}" and not (stack and (stack[0][0] == "{" or _in_function(stack))):
                        out.functions.append((*opened, lineno, col))
                        opened = None
                elif kind == 6 or kind == 5:
                    col = m.start(5)  # the opening quote
                    body = m.group(5)
                    if "\\" in body:
                        _escape_diags(body, lineno, col + 1, path, diags)
                    if kind == 5:
                        in_string = (lineno, col, [body])
                    else:
                        append(("str", body, lineno, col))
                elif kind == 4:
                    if "kxcheck" in m.group(4):
                        out.comments.append((lineno, m.group(4)))
                else:
                    append(("op", m.group(9), lineno, col))

    if in_block:
        diags.append(
            diag(
                "Q007",
                path,
                in_block,
                1,
                "block comment opened by this lone '/' is never closed by a lone '\\' line, so "
                "everything after it is ignored: fine if meant; else add a line holding only '\\'",
            )
        )
    if in_string:
        sl, sc, _ = in_string
        diags.append(diag("Q001", path, sl, sc, 'string is never closed: add the closing "'))
    _bracket_diags(path, stack, boundaries, diags)
    return out


def _closed_body(line, pos, end, lineno, toks):
    """Tokens of a one-line body from ``pos`` (after its '{') to its '}' (ending at ``end``) whose
    brackets all pair up: its braces and parameter lists. Returns ``end``, or None without a token
    when a parameter list holds brackets of its own (then _scan_body reads it). (str.find, not a
    regex: it skips to a character in C, where re tries every position.)"""
    marks = []
    if not _params(line, pos, lineno, marks):
        return None
    while True:
        inner = line.find("{", pos, end)  # a lambda in the body: its braces and parameters count too
        stop = end if inner < 0 else inner
        close = line.find("}", pos, stop)
        while close >= 0:
            marks.append(("close", "}", lineno, close + 1))
            close = line.find("}", close + 1, stop)
        if inner < 0:
            toks.extend(marks)
            return end
        marks.append(("open", "{", lineno, inner + 1))
        if not _params(line, inner + 1, lineno, marks):
            return None
        pos = inner + 1


def _params(line, pos, lineno, marks) -> bool:
    """The parameter list at ``pos`` (if one is there) as tokens: '[', each ';', ']'. False when it holds brackets."""
    if not line.startswith("[", pos):
        return True
    params = _PARAMS.match(line, pos)
    if params is None:
        return False
    marks.append(("open", "[", lineno, pos + 1))
    stop = params.end() - 1
    semi = line.find(";", pos, stop)
    while semi >= 0:
        marks.append(("other", ";", lineno, semi + 1))
        semi = line.find(";", semi + 1, stop)
    marks.append(("close", "]", lineno, stop + 1))
    return True


def _scan_body(line, pos, end, lineno, stack, append, path, diags):
    """Brackets (and parameter-list semicolons) of a one-line function body from ``pos`` to ``end`` (a comment).

    Returns where top-level code resumes after the body's closing '}', or None at the line's end."""
    params = "{[" in line
    for m in (_STRUCTURE if params else _BRACKETS).finditer(line, pos, end):
        ch, col = m.group(), m.start() + 1
        if ch == ";":
            append(("other", ch, lineno, col))
        elif ch in "([{":
            stack.append((ch, lineno, col))
            if params or ch == "{":
                append(("open", ch, lineno, col))
        else:
            if stack and stack[-1][0] == OPENER_OF[ch]:
                stack.pop()  # the common case, without a call
            else:
                _close(ch, lineno, col, stack, path, diags)
            if params or ch == "}":
                append(("close", ch, lineno, col))
            if ch == "}" and not (stack and (stack[0][0] == "{" or _in_function(stack))):
                return m.end()
    return None


def _in_function(stack) -> bool:
    for opener in stack:
        if opener[0] == "{":
            return True
    return False


def _close(ch, lineno, col, stack, path, diags) -> None:
    want = OPENER_OF[ch]
    if stack and stack[-1][0] == want:
        stack.pop()
    elif not stack:
        diags.append(
            diag("Q003", path, lineno, col, f"'{ch}' has no matching '{want}': remove it or add the opener")
        )
    else:
        diags.append(
            diag(
                "Q003",
                path,
                lineno,
                col,
                f"'{ch}' does not match the {_describe(stack[-1])}: close that one with '{CLOSER_OF[stack[-1][0]]}' first",
            )
        )
        # its own opener deeper down: the ones above it are unclosed; none: a typo for the top's closer
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == want:
                del stack[i:]
                break
        else:
            stack.pop()


def _bracket_diags(path, unclosed, boundaries, diags) -> None:
    """Brackets still open at the end are unclosed; ones closed after a column-0 line were cut by it."""
    never_closed = set(unclosed)
    reported = set()
    for lineno, first, snapshot in boundaries:
        cut = [o for o in snapshot if o not in never_closed]
        if not cut or cut[0] in reported:
            continue
        reported.add(cut[0])
        outer = cut[0]
        if first in ")]}":
            msg = (
                f"'{first}' at column 0 ends the expression before the {_describe(outer)} is closed: "
                "indent it by at least one space"
            )
        else:
            msg = (
                f"line starts at column 0 inside the {_describe(outer)}, so q ends the expression here: "
                "indent continuation lines by at least one space"
            )
        diags.append(diag("Q008", path, lineno, 1, msg))
    for ch, line, col in unclosed:
        diags.append(
            diag("Q002", path, line, col, f"'{ch}' is never closed: add the matching '{CLOSER_OF[ch]}'")
        )
