"""The workspace against the code a cluster runs, file by file.

The deployed zip is read in memory (``zipread.read_bundle``) and never extracted; entries whose
names could escape a directory are reported, not compared: a zip from S3 is untrusted input.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass

ADDED, REMOVED, MODIFIED, UNCHANGED, UNSAFE = "added", "removed", "modified", "unchanged", "unsafe"


@dataclass(frozen=True)
class FileDiff:
    """One path: ``added`` (only in the workspace), ``removed`` (only on the cluster), ``modified``,
    ``unchanged`` or ``unsafe`` (a deployed entry name that could escape a directory)."""

    path: str
    status: str
    diff: str = ""  # unified diff, deployed -> workspace, for modified text files
    binary: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        marks = {ADDED: "A", REMOVED: "D", MODIFIED: "M", UNCHANGED: " ", UNSAFE: "!"}
        note = " (binary)" if self.binary and self.status == MODIFIED else ""
        return f"{marks[self.status]} {self.path}{note}"


def _text(content: bytes) -> str | None:
    if b"\x00" in content:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def compare(deployed: dict[str, bytes], workspace: dict[str, bytes], unsafe=()) -> list[FileDiff]:
    out = [FileDiff(name, UNSAFE) for name in sorted(unsafe)]
    for path in sorted(set(deployed) | set(workspace)):
        old, new = deployed.get(path), workspace.get(path)
        if old is None:
            out.append(FileDiff(path, ADDED, binary=_text(new) is None))
        elif new is None:
            out.append(FileDiff(path, REMOVED, binary=_text(old) is None))
        elif old == new:
            out.append(FileDiff(path, UNCHANGED))
        else:
            old_text, new_text = _text(old), _text(new)
            if old_text is None or new_text is None:
                out.append(FileDiff(path, MODIFIED, binary=True))
            else:
                lines = difflib.unified_diff(
                    old_text.splitlines(keepends=True),
                    new_text.splitlines(keepends=True),
                    f"cluster/{path}",
                    f"workspace/{path}",
                )
                out.append(FileDiff(path, MODIFIED, "".join(lines)))
    return out
