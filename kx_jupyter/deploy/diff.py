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
    diff: str = ""  # unified diff, deployed -> workspace, for added, removed and modified text files
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


NO_NEWLINE = "\\ No newline at end of file\n"


def unified(old: str, new: str, old_name: str, new_name: str) -> str:
    """A unified diff as ``diff -u`` and git print it: a last line without its newline is marked
    (difflib would run it into the next line instead)."""
    out = []
    for line in difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name
    ):
        out.append(line if line.endswith("\n") else line + "\n" + NO_NEWLINE)
    return "".join(out)


def _one_sided(path: str, content: bytes, status: str) -> FileDiff:
    """An added or removed file shows its whole content (a text file), as git does."""
    text = _text(content)
    if text is None:
        return FileDiff(path, status, binary=True)
    if status == ADDED:
        return FileDiff(path, status, unified("", text, "/dev/null", f"workspace/{path}"))
    return FileDiff(path, status, unified(text, "", f"cluster/{path}", "/dev/null"))


def compare(deployed: dict[str, bytes], workspace: dict[str, bytes], unsafe=()) -> list[FileDiff]:
    out = [FileDiff(name, UNSAFE) for name in sorted(unsafe)]
    for path in sorted(set(deployed) | set(workspace)):
        old, new = deployed.get(path), workspace.get(path)
        if old is None:
            out.append(_one_sided(path, new, ADDED))
        elif new is None:
            out.append(_one_sided(path, old, REMOVED))
        elif old == new:
            out.append(FileDiff(path, UNCHANGED))
        else:
            old_text, new_text = _text(old), _text(new)
            if old_text is None or new_text is None:
                out.append(FileDiff(path, MODIFIED, binary=True))
            else:
                out.append(
                    FileDiff(
                        path, MODIFIED, unified(old_text, new_text, f"cluster/{path}", f"workspace/{path}")
                    )
                )
    return out
