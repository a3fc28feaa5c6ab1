"""The one plain-text table: aligned columns under a header and a rule.

Shared by the command's tables (``kx-jupyter clusters``) and the magics' and live view's text
forms, so a table reads the same in a terminal and in a notebook. Kept apart from both: the
view must not import the engine (``deploy/``) and the engine imports no ``ui/``.
"""

from __future__ import annotations


def table_text(headers: list[str], rows: list[list]) -> str:
    """Each column as wide as its widest cell, two spaces apart, trailing blanks trimmed."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
