"""The names a workspace's q code defines, for the q editor's completion.

They come from the checker's symbol table (``qcheck.defined_names``): what the init script and
the files it loads define. Kept cheap for big workspaces: a q file is read again only when its
size or modification time changed, lexing reuses the checker's cache of lexed texts, and the
work runs in one background thread where the latest request wins, so a keystroke, a save or a
file switch never waits for it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from .workspace import Workspace, is_q


class WorkspaceNames:
    """``refresh(script)`` recomputes in the background and hands the sorted names to ``on_names``."""

    def __init__(self, root: str | os.PathLike, on_names: Callable[[list[str]], None]):
        self.workspace = Workspace(root)
        self._on_names = on_names
        self._read: dict[str, tuple[tuple[int, int], bytes]] = {}  # q file -> ((mtime_ns, size), bytes)
        self._lock = threading.Lock()
        self._wanted: str | None = None  # the script of the request not yet served
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    def refresh(self, script: str) -> None:
        with self._lock:
            self._wanted = script
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="kx-editor-names", daemon=True)
                self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """True once every request so far has been served (for callers that need the names now)."""
        return self._idle.wait(timeout)

    def compute(self, script: str) -> list[str]:
        """The names ``script`` (workspace-relative) and what it loads define; none if it is not there."""
        from kx_jupyter.qcheck import defined_names

        files = self._files()
        return defined_names(files, script) if script in files else []

    def _serve(self) -> None:
        while True:
            with self._lock:
                script, self._wanted = self._wanted, None
                if script is None:
                    self._thread = None
                    self._idle.set()
                    return
            self._on_names(self.compute(script))

    def _files(self) -> dict[str, bytes]:
        """Every q file's bytes; only new or changed files are read."""
        fresh = {}
        for name in self.workspace.files():
            if not is_q(name):
                continue
            path = self.workspace.root / name
            try:
                info = path.stat()
                stamp = (info.st_mtime_ns, info.st_size)
                known = self._read.get(name)
                fresh[name] = known if known and known[0] == stamp else (stamp, path.read_bytes())
            except OSError:  # removed or unreadable since the listing: it defines nothing
                continue
        self._read = fresh
        return {name: data for name, (_stamp, data) in fresh.items()}
