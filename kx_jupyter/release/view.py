"""A release as a table: a row per target with its stage, phase, nodes on the new code and the
failing line. Plain strings (HTML and text) so the CLI, the magic and the form share it; the HTML uses
``ui.render``'s colours (no widget import) so it reads like the other views."""

from __future__ import annotations

import html

from ..htmlstyle import BORDER, FG, FONT, MONO, MUTED, pill
from ..texttable import table_text

COLUMNS = ("stage", "target", "cluster", "phase", "nodes on new code", "detail")
PHASE_TONES = {  # a phase's pill, in the tones of the other views (ui.render)
    "succeeded": "ok",
    "failed": "bad",
    "rollback failed": "bad",
    "updating": "busy",
    "still updating": "busy",
    "rolled back": "busy",
}
STATUS_TONES = {
    "succeeded": "ok",
    "failed": "bad",
    "running": "busy",
    "still-updating": "busy",
    "rolled back": "busy",
}


def cells(row) -> list[str]:
    nodes = f"{row.nodes_new}/{row.nodes}" if row.nodes else "—"
    detail = row.failing_line or row.message
    return [str(row.stage), row.target, row.cluster, row.phase, nodes, detail]


def as_html(release) -> str:
    """JupyterLab's theme variables and pills on their own background: readable in light and dark themes.
    Attributes in double quotes: the font stacks hold single quotes ('Segoe UI')."""
    cell = f"padding:3px 10px;border-bottom:1px solid {BORDER};text-align:left;vertical-align:top"

    def td(content: str, style: str = "") -> str:
        return f'<td style="{cell};{style}">{content}</td>'

    head = "".join(
        f'<th style="{cell};color:{MUTED};font-weight:600;white-space:nowrap">{html.escape(c)}</th>'
        for c in COLUMNS
    )
    body = []
    for row in release.rows.values():
        values = cells(row)
        tds = [td(html.escape(v)) for v in values[:3]]
        tds.append(td(pill(row.phase, PHASE_TONES.get(row.phase, "idle"), 11), "white-space:nowrap"))
        tds.append(td(html.escape(values[4])))
        if row.failing_line:
            tds.append(td(html.escape(row.failing_line), f"font-family:{MONO};font-size:12px"))
        else:
            tds.append(td(html.escape(row.message), f"color:{MUTED}"))
        body.append(f"<tr>{''.join(tds)}</tr>")
    lines = "<br>".join(html.escape(m) for m in release.messages[-6:])
    status = pill(release.status, STATUS_TONES.get(release.status, "idle"), 12)
    title = f"<b>{html.escape(release.kind)} {html.escape(release.id)}</b> {status}"
    return (
        f'<div class="kx-release" style="font-family:{FONT};font-size:13px;line-height:1.45;color:{FG}">'
        f'<div style="margin-bottom:4px">{title}</div>'
        f'<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
        f'<div style="font-size:12px;color:{MUTED};margin-top:4px">{lines}</div></div>'
    )


def as_text(release) -> str:
    rows = [cells(r) for r in release.rows.values()]
    return f"{release.kind} {release.id}: {release.status}\n" + table_text(list(COLUMNS), rows)
