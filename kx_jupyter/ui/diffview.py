"""``%kx_diff`` output: the engine's per-file unified diffs, with q highlighted in HTML.

Lines are highlighted one by one with pygments' ``QLexer``, coloured with JupyterLab's own editor
theme variables (``--jp-mirror-editor-*``, with light fallbacks), so the diff reads as well in the
dark theme as code cells do: colour is a reading aid here, never a verdict on the code. Front ends
that cannot show HTML get the plain unified diff.
"""

from __future__ import annotations

from html import escape

from . import render as r

_LINE_BG = {"+": "rgba(46,160,67,.15)", "-": "rgba(248,81,73,.15)", "@": "rgba(84,174,255,.12)"}
_STATUS_MARK = {"added": "A", "removed": "D", "modified": "M", "unchanged": " ", "unsafe": "!"}


# pygments token types -> JupyterLab's editor colour for them (the first that matches, most specific first)
_TOKEN_VAR = (
    ("Literal.String", "string", "#ba2121"),
    ("Literal.Number", "number", "#080"),
    ("Keyword", "keyword", "#008000"),
    ("Name.Builtin", "builtin", "#008000"),
    ("Operator", "operator", "#aa22ff"),
    ("Name.Variable", "variable", "#212121"),
)


def _colour(token_type) -> str | None:
    name = str(token_type).removeprefix("Token.")
    if name.startswith("Comment"):  # the editor's comment colour is too faint on a tinted diff line
        return f"{r.MUTED};font-style:italic"
    for prefix, var, fallback in _TOKEN_VAR:
        if name == prefix or name.startswith(prefix + "."):
            return f"var(--jp-mirror-editor-{var}-color, {fallback})"
    return None


def _highlighter():
    from pygments.lexers.q import QLexer

    lexer = QLexer()

    def hl(code: str) -> str:
        out = []
        for token_type, text in lexer.get_tokens(code):
            colour = _colour(token_type)
            text = escape(text.rstrip("\n") if text.endswith("\n") else text)
            out.append(f'<span style="color:{colour}">{text}</span>' if colour and text else text)
        return "".join(out)

    return hl


def _diff_html(diff: str, hl) -> str:
    rows = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            continue
        mark = line[:1]
        if mark in ("@", "\\"):  # a hunk header, or "\ No newline at end of file"
            body = f'<span style="color:{r.MUTED}">{escape(line)}</span>'
        else:
            gutter = f'<span style="user-select:none;color:{r.MUTED}">{escape(mark or " ")}</span>'
            body = gutter + (hl(line[1:]) if line[1:] else "")
        rows.append(
            f'<div style="background:{_LINE_BG.get(mark, "transparent")};color:{r.FG};padding:0 8px;'
            f'white-space:pre">{body}</div>'
        )
    return (
        f'<div style="font-family:{r.MONO};font-size:12px;line-height:1.45;border:1px solid {r.BORDER};'
        f'border-top:none;overflow-x:auto">{"".join(rows)}</div>'
    )


def render_diff(cluster: str, diffs: list, title: str | None = None) -> r.Rich:
    """Changed files first (with their diffs), then a count of unchanged ones."""
    changed = [d for d in diffs if d.status != "unchanged"]
    same = len(diffs) - len(changed)
    title = title or f"{cluster}: deployed code → workspace"
    if not changed:
        note = f"no differences ({same} file{'s' if same != 1 else ''} unchanged)"
        return r.Rich(
            f'<div style="font-family:{r.FONT}"><b>{escape(title)}</b>: {note}</div>', f"{title}: {note}"
        )
    hl = _highlighter()
    blocks, text = [], [title]
    for d in changed:
        note = " (binary)" if d.binary else ""
        header = (
            f'<div style="font-family:{r.MONO};font-size:12px;font-weight:600;padding:4px 8px;margin-top:8px;'
            f'background:{r.SUBTLE};border:1px solid {r.BORDER}">{_STATUS_MARK.get(d.status, "?")} '
            f"{escape(d.path)}{note} <span style='font-weight:400;color:{r.MUTED}'>{escape(d.status)}</span></div>"
        )
        blocks.append(header + (_diff_html(d.diff, hl) if d.diff else ""))
        text.append(str(d))
        if d.diff:
            text.append(d.diff.rstrip("\n"))
    footer = f"{len(changed)} changed, {same} unchanged"
    text.append(footer)
    html = (
        f'<div style="font-family:{r.FONT};font-size:13px;color:{r.FG};max-width:960px">'
        f"<b>{escape(title)}</b>{''.join(blocks)}"
        f'<div style="color:{r.MUTED};margin-top:6px">{footer}</div></div>'
    )
    return r.Rich(html, "\n".join(text))
