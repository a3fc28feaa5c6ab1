"""The form's history of a cluster: one row per push, each with its own Diff and Roll back.

A row is a widget (its buttons act on that push, nothing has to be picked first); its cells are one
HTML grid with the same fixed columns as the header, so rows line up and a long note or argument
list is cut with "…" (the whole text is its tooltip). The push running now says so and offers no
Roll back (nor do older pushes of the same code); failed pushes offer neither (their code never ran).
"""

from __future__ import annotations

from html import escape

import ipywidgets as w

from . import render as r

COLUMNS = (  # header, width in px
    ("#", 48),
    ("when (UTC)", 150),
    ("kind", 110),
    ("outcome", 108),
    ("took", 60),
    ("bundle", 120),
    ("init", 90),
    ("arguments", 150),
    ("by", 80),
    ("git", 96),
    ("note", 170),
)
RAW = frozenset({3})  # cells given as HTML (the outcome badge)
ACTIONS_WIDTH = "196px"
RUNNING_NOW = "▶ running now"


def grid_html(cells: list[str], header: bool = False) -> str:
    """One row of the table as a CSS grid with the fixed columns (so separate rows line up)."""
    template = " ".join(f"{width}px" for _, width in COLUMNS)
    style = "text-transform:uppercase;font-size:11px;font-weight:600;letter-spacing:.04em;" if header else ""
    colour = r.MUTED if header else r.FG
    divs = "".join(
        f'<div style="padding:4px 8px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis"'
        f' title="{"" if i in RAW and not header else escape(cell)}">'
        f"{cell if i in RAW and not header else escape(cell)}</div>"
        for i, cell in enumerate(cells)
    )
    return (
        f'<div style="display:grid;grid-template-columns:{template};font-family:{r.FONT};font-size:12px;'
        f'line-height:1.4;color:{colour};border-bottom:1px solid {r.BORDER};{style}">{divs}</div>'
    )


def cells(entry) -> list[str]:
    from ..deploy.gitinfo import git_label

    return [
        str(entry.id),
        r.timestamp(entry.started_at),
        entry.kind + (f" of #{entry.rollback_of}" if entry.rollback_of else ""),
        r.badge(entry.outcome),
        r.duration(entry.duration),
        (entry.bundle_sha256 or "")[:12],
        entry.init_script or "",
        " ".join(f"{k}={v}" for k, v in entry.arguments.items()),
        entry.user,
        git_label(entry.git_commit, entry.git_dirty),
        entry.note or "",
    ]


class HistoryRow(w.HBox):
    """One push: its Diff and Roll back (``None`` where it offers none), then its cells."""

    def __init__(self, entry, running_now: bool, same_code: bool, on_diff, on_rollback):
        self.entry = entry
        self.running_now = running_now
        good = entry.outcome == "succeeded"
        self.diff_button = self.rollback_button = None
        actions = []
        if good:
            self.diff_button = w.Button(
                description="Diff",
                icon="columns",
                tooltip=(
                    "The workspace against this code, running now (what a push changes)"
                    if running_now
                    else f"What rolling back to #{entry.id} changes"
                ),
                layout=w.Layout(width="76px"),
            )
            self.diff_button.on_click(lambda _: on_diff(entry))
            actions.append(self.diff_button)
        if good and running_now:
            actions.append(
                w.HTML(
                    f'<span style="font-family:{r.FONT};font-size:12px;font-weight:600;color:{r.FG}">'
                    f"{RUNNING_NOW}</span>"
                )
            )
        elif good and not same_code:  # the code running now is no rollback
            self.rollback_button = w.Button(
                description="Roll back",
                icon="undo",
                tooltip=f"Shows what changes, then asks before rolling back to #{entry.id}",
                layout=w.Layout(width="108px"),
            )
            self.rollback_button.add_class("kx-rollback")
            self.rollback_button.on_click(lambda _: on_rollback(entry))
            actions.append(self.rollback_button)
        self.cells = w.HTML(grid_html(cells(entry)))
        super().__init__(
            [w.HBox(actions, layout=w.Layout(width=ACTIONS_WIDTH, min_width=ACTIONS_WIDTH)), self.cells],
            layout=w.Layout(align_items="center", width="max-content"),
        )
        self.add_class("kx-history-row")


class HistoryTable(w.VBox):
    """The header and one ``HistoryRow`` per push, newest first, scrolling sideways when wide."""

    def __init__(self, on_diff, on_rollback):
        self._on_diff, self._on_rollback = on_diff, on_rollback
        self.rows: tuple[HistoryRow, ...] = ()
        super().__init__(layout=w.Layout(overflow="auto", max_width="100%"))
        self.add_class("kx-history")

    def show(self, entries, running: int | None, runs_now, empty: str) -> None:
        """``running``: the id of the push running now; ``runs_now(entry)``: its code is what runs now."""
        old = self.children
        self._fill(entries, running, runs_now, empty)
        for widget in old:  # each refresh builds new rows: free the old ones' models (kernel and browser)
            _close(widget)

    def _fill(self, entries, running, runs_now, empty: str) -> None:
        if not entries:
            self.rows = ()
            self.children = (
                w.HTML(
                    f'<div style="font-family:{r.FONT};color:{r.MUTED};padding:6px 0">{escape(empty)}</div>'
                ),
            )
            return
        header = w.HBox(
            [
                w.HTML(layout=w.Layout(width=ACTIONS_WIDTH, min_width=ACTIONS_WIDTH)),
                w.HTML(grid_html([name for name, _ in COLUMNS], header=True)),
            ],
            layout=w.Layout(width="max-content"),
        )
        self.rows = tuple(
            HistoryRow(e, e.id == running, runs_now(e), self._on_diff, self._on_rollback) for e in entries
        )
        self.children = (header, *self.rows)

    def row(self, entry_id: int) -> HistoryRow:
        """The row of history entry ``entry_id`` (for code that drives the form: a notebook, a test)."""
        found = next((row for row in self.rows if row.entry.id == entry_id), None)
        if found is None:
            raise KeyError(f"no history entry #{entry_id} in the table")
        return found


def _close(widget) -> None:
    """Close a widget, everything inside it and its layout and style (``close()`` alone leaves them)."""
    for child in getattr(widget, "children", ()):
        _close(child)
    for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
        if part is not None:
            part.close()
    widget.close()
