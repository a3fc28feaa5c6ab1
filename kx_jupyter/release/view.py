"""A release as a table: a row per target with its stage, phase, nodes on the new code and the
failing line. Plain strings (HTML and text) so the CLI, the magic and later the form share it."""

from __future__ import annotations

import html

COLUMNS = ("stage", "target", "cluster", "phase", "nodes on new code", "detail")
COLOURS = {
    "succeeded": "#1a7f37",
    "failed": "#cf222e",
    "updating": "#9a6700",
    "rolled back": "#8250df",
    "skipped": "#57606a",
    "not run": "#57606a",
}


def cells(row) -> list[str]:
    nodes = f"{row.nodes_new}/{row.nodes}" if row.nodes else "—"
    detail = row.failing_line or row.message
    return [str(row.stage), row.target, row.cluster, row.phase, nodes, detail]


def as_html(release) -> str:
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    for row in release.rows.values():
        colour = COLOURS.get(row.phase, "inherit")
        tds = [
            f"<td style='padding:2px 8px{';color:' + colour if i == 3 else ''}'>{html.escape(v)}</td>"
            for i, v in enumerate(cells(row))
        ]
        body.append(f"<tr>{''.join(tds)}</tr>")
    lines = "".join(f"<div>{html.escape(m)}</div>" for m in release.messages[-6:])
    return (
        f"<div class='kx-release'><b>release {html.escape(release.id)}</b>: {html.escape(release.status)}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        f"<div style='font-size:90%;color:#57606a'>{lines}</div></div>"
    )


def as_text(release) -> str:
    rows = [list(COLUMNS)] + [cells(r) for r in release.rows.values()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    out = [f"release {release.id}: {release.status}"]
    for r in rows:
        out.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) + "  " + r[-1])
    return "\n".join(out)
