"""The files of a workspace directory that the form's file panel edits.

q scripts, plus the plain-text files q code often loads beside them (k scripts, CSV
parameter tables, JSON, YAML, notes). Names are workspace-relative POSIX paths; a name without one of
those suffixes becomes a ``.q`` file. Anything that would leave the workspace or is not a
plain file name is refused with a message that says how to fix it. Unsaved editor text is
kept per file (``drafts``) so switching files never loses an edit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from ..errors import KxError
from ..files import write_atomic

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_SKIP_DIRS = {"node_modules", "__pycache__"}
EDITABLE_SUFFIXES = (".q", ".k", ".csv", ".txt", ".json", ".yaml", ".yml", ".md")


def is_q(name: str) -> bool:
    """Whether ``name`` is q source: checked and highlighted (k is another syntax: plain text, as other files)."""
    return name.endswith(".q")


class Workspace:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.drafts: dict[str, str] = {}

    def files(self) -> list[str]:
        """Every editable file under the root, sorted, skipping hidden and tool directories.

        One pass that never enters a skipped directory: linear in the entries it reads."""
        if not self.root.is_dir():
            return []
        found, folders = [], [(str(self.root), "")]
        while folders:  # scandir's entry types need no stat per file (os.walk + isfile paid one each)
            folder, prefix = folders.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                name = entry.name
                if name.startswith(".") or name in _SKIP_DIRS:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    folders.append((entry.path, prefix + name + "/"))
                elif name.endswith(EDITABLE_SUFFIXES) and entry.is_file():
                    found.append(prefix + name)
        return sorted(found)

    def normalize(self, name: str) -> str:
        """``lib/x`` -> ``lib/x.q`` (``config/limits.csv`` stays); refuses absolute paths, ``..`` and odd characters."""
        name = (name or "").strip().replace("\\", "/")
        if not name:
            raise KxError("no file name given", hint="Type a name such as lib/analytics.q.")
        if not name.endswith(EDITABLE_SUFFIXES):
            name += ".q"
        parts = PurePosixPath(name).parts
        if name.startswith("/") or any(not _NAME.match(p) for p in parts):
            raise KxError(
                f"{name!r} is not a workspace file name",
                hint="Use letters, digits, '_', '-' and '.', with '/' between folders, e.g. lib/analytics.q.",
            )
        return "/".join(parts)

    def path(self, name: str) -> Path:
        return self.root / self.normalize(name)

    def read(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def write(self, name: str, text: str) -> None:
        write_atomic(self.path(name), text)
        self.drafts.pop(self.normalize(name), None)

    def create(self, name: str, text: str = "") -> str:
        name = self.normalize(name)
        if self.path(name).exists():
            raise KxError(f"{name} already exists", hint="Pick another name, or open it from the list.")
        self.write(name, text)
        return name

    def rename(self, old: str, new: str) -> str:
        old, new = self.normalize(old), self.normalize(new)
        if self.path(new).exists():
            raise KxError(f"cannot rename {old} to {new}: {new} already exists", hint="Pick another name.")
        self.path(new).parent.mkdir(parents=True, exist_ok=True)
        self.path(old).rename(self.path(new))
        if old in self.drafts:
            self.drafts[new] = self.drafts.pop(old)
        return new

    def delete(self, name: str) -> None:
        name = self.normalize(name)
        self.path(name).unlink(missing_ok=True)
        self.drafts.pop(name, None)
