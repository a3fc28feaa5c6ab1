"""The form's code tab: the workspace's files (new / rename / delete) next to the q editor.

Switching files never loses an edit: the open file's unsaved text is kept as a draft, marked
● in the list, and comes back (still unsaved) when the file is opened again. Nothing is
written to disk except by Save (the button or Ctrl/Cmd-S).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from html import escape

import ipywidgets as w

from ..errors import KxError
from . import render as r
from .editor import QEditor
from .workspace import Workspace, is_q

SHOWN = 500  # file names the list shows at once; the filter finds the others


def note_html(text: str) -> str:
    return f'<span style="font-family:{r.FONT};font-size:12px;color:{r.MUTED}">{escape(text)}</span>'


class Quiet:
    """Lets a widget change pickers' options without its own observers reacting to the
    intermediate values ipywidgets sets on the way (it selects the first option first)."""

    _quiet = False

    @contextmanager
    def _quietly(self):
        self._quiet, was = True, self._quiet
        try:
            yield
        finally:
            self._quiet = was


class FilePanel(Quiet, w.HBox):
    def __init__(
        self,
        workspace: Workspace,
        preferred: str,
        on_change: Callable[[], None],
        on_error: Callable[[str], None],
    ):
        """``preferred`` is opened first when it exists; ``on_change`` runs after anything that
        may change whether a push can start (file list, unsaved state, diagnostics);
        ``on_error`` shows a refused file action."""
        self.workspace = workspace
        self.preferred = preferred
        self.names: list[str] = []
        self.q_names: list[
            str
        ] = []  # the init script's choices: the q scripts (top-level first, at most SHOWN)
        self._known: set[str] = set()  # names, for membership tests that stay O(1) at 20,000 files
        self._marked: set[str] = set()  # the names the list shows with ●
        self._shown: list[str] = []  # the names the list shows: all, or the filter's first SHOWN
        self.current_file: str | None = None
        self._on_change = on_change
        self._on_error = on_error

        self.files = w.Select(rows=14, layout=w.Layout(width="230px"))
        self.filter = w.Text(
            placeholder="filter files", continuous_update=True, layout=w.Layout(width="230px")
        )
        self.shown_note = w.HTML()
        self.file_name = w.Text(placeholder="new name, e.g. lib/x.q", layout=w.Layout(width="230px"))
        self.new_button = w.Button(
            description="New", tooltip="Create the file named above", layout=w.Layout(width="60px")
        )
        self.rename_button = w.Button(
            description="Rename",
            tooltip="Rename the open file to the name above",
            layout=w.Layout(width="86px"),
        )
        self.delete_button = w.Button(
            description="Delete", tooltip="Delete the open file", layout=w.Layout(width="72px")
        )
        self.confirm_delete = w.HBox()
        self.editor = QEditor(value="", path="", workspace=workspace.root)
        self.editor.layout = w.Layout(flex="1 1 auto", min_width="0")
        self.save_button = w.Button(
            description="Save",
            icon="save",
            tooltip="Save the open file (Ctrl/Cmd-S)",
            layout=w.Layout(width="90px"),
        )
        self.message = w.HTML()
        buttons = w.HBox(
            [self.new_button, self.rename_button, self.delete_button], layout=w.Layout(width="230px")
        )
        file_list = w.VBox(
            [self.filter, self.files, self.shown_note, self.file_name, buttons, self.confirm_delete],
            layout=w.Layout(width="240px", flex="0 0 240px"),
        )
        editing = w.VBox(
            [self.editor, w.HBox([self.save_button, self.message], layout=w.Layout(align_items="center"))],
            layout=w.Layout(flex="1 1 auto", min_width="0"),
        )
        super().__init__([file_list, editing], layout=w.Layout(width="100%"))

        self.files.observe(self._on_pick, names="value")
        self.filter.observe(lambda _: self._refilter(), names="value")
        self.new_button.on_click(self._on_new)
        self.rename_button.on_click(self._on_rename)
        self.delete_button.on_click(self._on_delete)
        self.save_button.on_click(lambda _: self.editor.save())
        self.editor.on_save(self._on_saved)
        self.editor.on_draft(self._on_late_edit)
        self.editor.observe(self._on_editor, names=["dirty", "diagnostics"])

    # -- what the form asks ------------------------------------------------------------------

    def unsaved(self) -> list[str]:
        """Files with edits not yet on disk (drafts and the open file)."""
        names = {
            n for n in self.workspace.drafts if n in self._known
        }  # a file deleted elsewhere cannot be saved
        if self.editor.dirty and self.current_file:
            names.add(self.current_file)
        return sorted(names)

    def has_errors(self) -> bool:
        """True when the open file has q checker errors."""
        return bool(self.current_file) and any(d.get("severity") == "error" for d in self.editor.diagnostics)

    def reload(self, select: str | None = None) -> None:
        """Re-read the file list; show a file changed on disk when nothing here is unsaved."""
        names = self.workspace.files()
        if names != self.names:
            self.names, self._known = names, set(names)
            q_files = [n for n in names if is_q(n)]
            top = [n for n in q_files if "/" not in n]  # init scripts live at the top, almost always
            self.q_names = (
                (top + [n for n in q_files if "/" in n])[:SHOWN] if len(q_files) > SHOWN else q_files
            )
        if select not in self._known:
            select = self.current_file if self.current_file in self._known else None
        if select is None and self.names:
            select = self.preferred if self.preferred in self._known else self.names[0]
        with self._quietly():
            self._marked = set(self.unsaved())
            self._shown = self._matching(select)
            self.files.options = self._labels()
            self.files.value = select
        if select != self.current_file or select is None:
            self._open(select)
        elif not self.editor.dirty:
            on_disk = self.workspace.read(select)
            if on_disk != self.editor.saved_text:  # changed by another tool; nothing here to lose
                self.editor.load(on_disk, select, file=self.workspace.path(select))
        self._on_change()

    # -- inside --------------------------------------------------------------------------------

    def _matching(self, keep: str | None) -> list[str]:
        """The names the list shows: those matching the filter, at most SHOWN of them (a list of
        20,000 is neither usable nor cheap to send), always with ``keep`` and the unsaved ones."""
        needle = self.filter.value.strip().lower()
        matched = [n for n in self.names if needle in n.lower()] if needle else self.names
        shown = matched[:SHOWN]
        extra = ({keep} | self._marked) - set(shown) - {None}
        if extra:
            shown = sorted(set(shown) | (extra & self._known))
        more = len(matched) - SHOWN
        self.shown_note.value = (
            note_html(f"{more:,} more: type in the filter to find them") if more > 0 else ""
        )
        return shown

    def _labels(self) -> list[tuple[str, str]]:
        return [(f"● {n}" if n in self._marked else n, n) for n in self._shown]

    def _refilter(self) -> None:
        with self._quietly():
            self._shown = self._matching(self.current_file)
            self.files.options = self._labels()
            self.files.value = self.current_file if self.current_file in self._shown else None

    def _relabel(self) -> None:
        """Rebuild the list only when the set of unsaved files changed (not on every keystroke)."""
        unsaved = set(self.unsaved())
        if unsaved != self._marked:
            self._marked = unsaved
            with self._quietly():
                value = self.files.value
                self._shown = self._matching(self.current_file)
                self.files.options = self._labels()
                self.files.value = value

    def _keep_draft(self) -> None:
        """Remember the open file's unsaved text before the editor shows another file."""
        if self.current_file is None:
            return
        if self.editor.dirty:
            self.workspace.drafts[self.current_file] = self.editor.value
        else:
            self.workspace.drafts.pop(self.current_file, None)

    def _open(self, name: str | None) -> None:
        self._keep_draft()
        self.current_file = name
        if name is None:
            self.editor.load("", "", file=None)
            self.editor.layout.display = "none"
            self.message.value = note_html(
                f"the workspace {self.workspace.root} has no files to edit yet: type a name and press New"
            )
            return
        self.editor.layout.display = None
        self.message.value = ""
        self.editor.load(self.workspace.read(name), name, file=self.workspace.path(name))
        draft = self.workspace.drafts.get(name)
        if draft is not None and draft != self.editor.value:
            self.editor.value = draft  # the unsaved text comes back, still marked unsaved

    def _on_pick(self, change) -> None:
        if not self._quiet and change["new"] != self.current_file:
            self._open(change["new"])
            self._relabel()
            self._on_change()

    def _on_editor(self, _change) -> None:
        self._relabel()
        self._on_change()

    def _on_late_edit(self, name: str, text: str) -> None:
        """Keys typed just before the switch: they join that file's draft (or come back if it is open)."""
        if name == self.current_file:
            self.editor.value = text
        elif name in self._known:
            self.workspace.drafts[name] = text
            self._relabel()
            self._on_change()

    def _on_saved(self, _editor) -> None:
        if self.current_file:
            self.workspace.drafts.pop(self.current_file, None)
            self.message.value = note_html(f"saved {self.current_file}")
        self._relabel()
        self._on_change()

    def _act(self, action) -> None:
        self._on_error("")
        try:
            action()
        except (KxError, OSError) as exc:
            self._on_error(str(exc))

    def _on_new(self, _button) -> None:
        def create():
            name = self.workspace.create(self.file_name.value)
            self.file_name.value = ""
            self.reload(select=name)

        self._act(create)

    def _on_rename(self, _button) -> None:
        def rename():
            if self.current_file is None:
                raise KxError("no file is open", hint="Pick a file in the list first.")
            self._keep_draft()
            old = self.current_file
            new = self.workspace.rename(old, self.file_name.value)
            self.current_file = None  # its draft, if any, moved with it
            self.file_name.value = ""
            self.reload(select=new)
            self.message.value = note_html(f"renamed {old} to {new}")

        self._act(rename)

    def _on_delete(self, _button) -> None:
        name = self.current_file
        if name is None:
            return
        yes = w.Button(description=f"Delete {name}", button_style="danger", layout=w.Layout(width="auto"))
        no = w.Button(description="Keep", layout=w.Layout(width="60px"))

        def delete(_):
            self.confirm_delete.children = ()
            self.current_file = None
            self._act(lambda: (self.workspace.delete(name), self.reload()))

        yes.on_click(delete)
        no.on_click(lambda _: setattr(self.confirm_delete, "children", ()))
        self.confirm_delete.children = (yes, no)
