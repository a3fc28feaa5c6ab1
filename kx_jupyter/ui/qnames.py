"""The names a workspace's q code defines, for the q editor's completion.

They come from the checker's symbol table (``qcheck.defined_names``): what the init script and
the files it loads define. Kept cheap for big workspaces: the work runs in one background
thread where the latest request wins, so a keystroke, a save or a file switch never waits for
it; a rescan reads again only the q files whose size or modification time changed; after a
save only the saved file is read; lexing reuses the checker's cache of lexed texts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from .workspace import Workspace, is_q


class WorkspaceNames:
    """``refresh(script)`` recomputes in the background and hands the sorted names to ``on_names``."""

    def __init__(self, root: str | os.PathLike, on_names: Callable[[list[str]], None]):
        self.workspace = Workspace(root)
        self._on_names = on_names
        # q file -> ((mtime_ns, size), bytes); None until the first scan
        self._read: dict[str, tuple[tuple[int, int], bytes]] | None = None
        self._lock = threading.Lock()
        self._script: str | None = None  # the script of the request not yet served
        self._rescan = False  # ... and whether it asked to look at every file again
        self._changed: set[str] = set()  # ... or only at these
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    def refresh(self, script: str, changed: Iterable[str | os.PathLike] | None = None) -> None:
        """Names for ``script`` (workspace-relative) from the files as they are now: every file is
        looked at again, or with ``changed`` (files just written here, or none) only those."""
        with self._lock:
            self._script = script
            if changed is None:
                self._rescan = True
            else:
                self._changed.update(n for n in map(self._name_of, changed) if n is not None)
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="kx-editor-names", daemon=True)
                self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """True once every request so far has been served (for callers that need the names now)."""
        return self._idle.wait(timeout)

    def _serve(self) -> None:
        from kx_jupyter.qcheck import defined_names

        while True:
            with self._lock:
                script, rescan, changed = self._script, self._rescan, self._changed
                self._script, self._rescan, self._changed = None, False, set()
                if script is None:
                    self._thread = None
                    self._idle.set()
                    return
            try:
                if rescan or self._read is None:
                    self._scan()
                else:
                    for name in changed:
                        self._reread(name)
                files = {name: data for name, (_stamp, data) in self._read.items()}
                names = defined_names(files, script) if script in files else []
            except Exception:  # noqa: BLE001 - a checker bug must not end completion nor print into a cell
                continue  # the last names stay
            self._on_names(names)

    def _scan(self) -> None:
        """Every q file of the workspace; only new or changed ones are read."""
        known, self._read = self._read or {}, {}
        for name in self.workspace.files():
            if is_q(name):
                self._reread(name, known.get(name))

    def _reread(self, name: str, known: tuple | None = None) -> None:
        path = f"{self.workspace.root}{os.sep}{name}"  # os.stat on a str: a third of Path.stat's time
        try:
            info = os.stat(path)
            stamp = (info.st_mtime_ns, info.st_size)
            self._read[name] = known if known and known[0] == stamp else (stamp, read_bytes(path))
        except OSError:  # removed or unreadable: it defines nothing
            self._read.pop(name, None)

    def _name_of(self, path: str | os.PathLike) -> str | None:
        """``path`` as a workspace-relative q file name, or None when it is no q file of the workspace."""
        try:
            name = Path(path).resolve().relative_to(self.workspace.root).as_posix()
        except ValueError:
            return None
        return name if is_q(name) else None


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()
