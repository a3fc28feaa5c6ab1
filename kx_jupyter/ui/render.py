"""Small HTML/text building blocks shared by the live view and the magics' tables.

Inline styles only (JupyterLab's sanitizer drops ``<style>`` in some outputs) and JupyterLab
CSS variables with light fallbacks, so the output reads well in light and dark themes.
"""

from __future__ import annotations

from html import escape

from ..htmlstyle import (  # noqa: F401  (one look for every HTML surface)
    BORDER,
    FG,
    FONT,
    MONO,
    MUTED,
    PANEL,
    SUBTLE,
    badge,
    pill,
    tone,
)
from ..texttable import table_text  # noqa: F401  (one text table for every surface)
from ..times import utc as timestamp  # noqa: F401  (one time format for every table)


def duration(seconds: float | None) -> str:
    """'7s', '2m 05s', '1h 02m' — what a person reads at a glance."""
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def size(nbytes: int | None) -> str:
    if nbytes is None:
        return "—"
    if nbytes < 1024:
        return f"{nbytes} B"
    value = nbytes / 1024
    for unit in ("KB", "MB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def table_html(
    headers: list[str],
    rows: list[list[str]],
    *,
    raw_columns: frozenset[int] = frozenset(),
    row_styles: list[str] | None = None,
) -> str:
    """A compact table; cells are escaped unless their column index is in ``raw_columns``;
    ``row_styles``: extra inline style per row (e.g. a failed node's red row)."""
    th = "".join(
        f'<th style="text-align:left;padding:4px 10px;border-bottom:1px solid {BORDER};color:{MUTED};'
        f'font-weight:600;font-size:11px;text-transform:uppercase;letter-spacing:.04em">{escape(h)}</th>'
        for h in headers
    )
    body = []
    for n, row in enumerate(rows):
        extra = (row_styles[n] if row_styles and n < len(row_styles) else "") or ""
        tds = "".join(
            f'<td style="text-align:left;padding:4px 10px;border-bottom:1px solid {BORDER};white-space:nowrap">'
            f"{cell if i in raw_columns else escape(str(cell))}</td>"
            for i, cell in enumerate(row)
        )
        body.append(f'<tr style="{extra}">{tds}</tr>' if extra else f"<tr>{tds}</tr>")
    return (  # wide tables (history) scroll inside the cell instead of being cut off
        f'<div style="overflow-x:auto;max-width:100%"><table style="border-collapse:collapse;font-family:{FONT};'
        f'font-size:12px;line-height:1.4;color:{FG};margin:2px 0">'
        f"<thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


class Rich:
    """An output with an HTML and a plain-text form; front ends pick the one they can show."""

    def __init__(self, html: str, text: str):
        self.html, self.text = html, text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, p, cycle):
        p.text(self.text)
