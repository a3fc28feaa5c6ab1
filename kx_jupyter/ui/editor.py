"""The q code editor widget: CodeMirror 6 in the browser, the q checker in the kernel.

The browser sends the text after each typing pause (~300 ms); every new text is checked
with ``kx_jupyter.qcheck.check_source`` and the diagnostics go back to the gutter. Completion
offers q's keywords and system names (in the browser) and, in ``names``, what the workspace's
q code defines (``qnames``: the checker's symbol table, computed when the browser's view is
entered, then again after a save, a file switch or another init script). The
JavaScript is prebuilt into ``static/`` (source in ``js/``), so no Node is needed to use it.
Importing this module imports anywidget: import it only when an editor is wanted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import anywidget
from traitlets import Bool, Dict, List, Unicode

from ..files import write_atomic
from .qnames import WorkspaceNames
from .workspace import is_q

STATIC = Path(__file__).parent / "static"


class QEditor(anywidget.AnyWidget):
    """A q editor: ``value`` is the text, ``dirty`` says it differs from what was last saved.

    With ``file`` set, Ctrl/Cmd-S (or ``save()``) writes the text there atomically; callbacks
    registered with ``on_save`` run after every save either way. Keys typed just before
    ``load`` replaced the text reach the ``on_draft`` callbacks as (path, text). A save that would overwrite
    changes made on disk by someone else is refused once, with a message; saving again overwrites.
    With ``workspace`` set, completion also offers the names its q code defines: what ``init_script``
    and the files it loads define (without an init script, what the open file and its loads define).
    """

    _esm = STATIC / "editor.js"
    _css = STATIC / "editor.css"

    value = Unicode("").tag(sync=True)
    path = Unicode("<cell>", help="Name shown above the editor and used in diagnostics.").tag(sync=True)
    diagnostics = List(
        Dict(), help="The q checker's findings for value: {line, col, severity, rule, message}."
    ).tag(sync=True)
    dirty = Bool(False, help="True while value differs from the last saved text.").tag(sync=True)
    message = Unicode("", help="Shown above the editor: why the last save was refused.").tag(sync=True)
    names = List(Unicode(), help="Names the workspace's q code defines, offered by completion.").tag(
        sync=True
    )
    init_script = Unicode("", help="Workspace-relative: completion offers what it and its loads define.")

    def __init__(
        self,
        value: str | None = None,
        path: str = "<cell>",
        file: str | os.PathLike | None = None,
        workspace: str | os.PathLike | None = None,
        **kwargs,
    ):
        self.file = Path(file) if file else None
        self._workspace_names = WorkspaceNames(workspace, self._set_names) if workspace else None
        # names are computed once a browser view asks: no cost for a form nobody types in
        self._names_asked = False
        if value is None:
            value = self.file.read_text(encoding="utf-8") if self.file and self.file.exists() else ""
        self._saved = value
        self._warned_about: str | None = None  # the disk text a refused save warned about
        self._save_callbacks: list[Callable[[QEditor], None]] = []
        self._draft_callbacks: list[Callable[[str, str], None]] = []
        super().__init__(value=value, path=path, **kwargs)
        self.observe(self._on_value, names="value")
        self.observe(lambda _: self._follow_names(changed=[]), names="init_script")
        self.on_msg(self._on_message)
        self._check()

    def load(self, text: str, path: str, file: str | os.PathLike | None = None) -> None:
        """Show another text as saved (e.g. a workspace file); the browser starts a fresh undo history."""
        self.file = Path(file) if file else None
        self._saved = text
        self._warned_about = None
        with self.hold_trait_notifications():
            self.path = path
            self.value = text
            self.dirty = False
            self.message = ""
        self._check()
        self._follow_names(changed=[])  # files are looked at again when the editor is entered

    def save(self) -> bool:
        """Write the text to ``file`` (if any), mark it saved and tell the ``on_save`` callbacks.

        ``False`` (with ``message`` saying why) when the file changed on disk since it was
        loaded or saved here and this is the first attempt to overwrite that change.
        """
        text = self.value
        if self.file is not None:
            on_disk = self.file.read_text(encoding="utf-8") if self.file.exists() else None
            if on_disk not in (None, self._saved, self._warned_about):
                self._warned_about = on_disk
                self.message = f"{self.path} changed on disk since it was opened here: not saved. Save again to overwrite it."
                return False
            write_atomic(self.file, text)
        self._saved = text
        self._warned_about = None
        self.message = ""
        self.dirty = False
        self._follow_names([self.file] if self.file is not None else [])
        for callback in list(self._save_callbacks):
            callback(self)
        return True

    def on_save(self, callback: Callable[[QEditor], None]) -> None:
        self._save_callbacks.append(callback)

    def on_draft(self, callback: Callable[[str, str], None]) -> None:
        """``callback(path, text)``: edits of ``path`` that arrived after ``load`` showed another text."""
        self._draft_callbacks.append(callback)

    @property
    def saved_text(self) -> str:
        return self._saved

    def refresh_names(self, changed: Iterable[str | os.PathLike] | None = None) -> None:
        """Recompute ``names`` in the background from every file as it is now, or with ``changed``
        only re-reading those (a no-op without a workspace). From then on saves, file switches
        and init script changes keep them current."""
        self._names_asked = True
        if self._workspace_names is not None:
            script = self.init_script or (self.path if is_q(self.path) else "")
            self._workspace_names.refresh(script, changed)

    def wait_for_names(self, timeout: float | None = None) -> bool:
        """True once ``names`` reflects every refresh asked so far."""
        return self._workspace_names is None or self._workspace_names.wait(timeout)

    def _follow_names(self, changed: Iterable[str | os.PathLike] | None = None) -> None:
        if self._names_asked:
            self.refresh_names(changed)

    def _set_names(self, names: list[str]) -> None:
        """From the background thread: a trait change is safe there, and unchanged names send nothing."""
        if names != self.names:
            self.names = names

    def _on_value(self, change) -> None:
        self.dirty = change["new"] != self._saved
        self._check()

    def _on_message(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "names":
            self.refresh_names()
            return
        if not isinstance(content, dict) or not isinstance(content.get("value"), str):
            return
        if content.get("type") == "save":
            self.value = content["value"]
            self.save()
        elif content.get("type") == "draft" and isinstance(content.get("path"), str):
            for callback in list(self._draft_callbacks):
                callback(content["path"], content["value"])

    def _check(self) -> None:
        """q source is checked; other files (a CSV the code loads, notes) are plain text."""
        from kx_jupyter.qcheck import check_source

        plain = not is_q(self.path) and self.path != "<cell>"
        self.diagnostics = [] if plain else [d.to_dict() for d in check_source(self.value, self.path)]
