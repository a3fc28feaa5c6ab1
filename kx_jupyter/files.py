"""Files that appear whole or not at all: written under a temporary name, then renamed into place.

A reader (another process, the next start after a crash) sees either the old file or the new
one, never half of one: the data goes to a temporary file in the destination's directory (a
rename is atomic only within one file system), and ``os.replace`` puts it in place. With
``durable`` the data, and then the directory entry, are flushed to disk first, so a power cut
cannot leave the new name pointing at empty blocks: a user's code and credentials want that, a
state file rewritten on every start does not.

``write_atomic`` writes bytes or text in one call; ``NewFile`` is the same for data written
piece by piece (an upload, a blob named by its hash once the last byte is in).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class NewFile:
    """A file being written in ``directory`` under a temporary name; ``publish`` names it, else it goes.

    ``mode``: the permissions it is published with (default: what a new file gets under the umask).
    Used as a context manager, a file not published by the end of the block is removed.
    """

    def __init__(self, directory: str | os.PathLike, mode: int | None = None, prefix: str = ".tmp-"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.mode = mode
        # with a mode: owner-only until published; without: the kernel applies the umask (reading the
        # umask means setting it, which would race other threads' file creation)
        created = 0o600 if mode is not None else 0o666
        while True:
            path = self.directory / f"{prefix}{secrets.token_hex(8)}.tmp"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, created)
                break
            except FileExistsError:
                continue
        self.path: Path | None = path
        self.file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def close(self, durable: bool = False) -> None:
        """Finish writing (the file stays under its temporary name, readable at ``path``)."""
        if self.file.closed:
            return
        if durable:
            self.file.flush()
            os.fsync(self.file.fileno())
        self.file.close()

    def publish(self, target: str | os.PathLike, durable: bool = False, overwrite: bool = True) -> bool:
        """Rename it to ``target`` (same directory tree, same file system); False, and the file
        dropped, when ``overwrite`` is off and ``target`` exists (content-addressed files are equal)."""
        target = Path(target)
        self.close(durable)
        if not overwrite and target.exists():
            self.discard()
            return False
        if self.mode is not None:
            os.chmod(self.path, self.mode)
        os.replace(self.path, target)
        self.path = None
        if durable:
            _fsync_dir(target.parent)
        return True

    def discard(self) -> None:
        self.file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None

    def __enter__(self) -> NewFile:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()


def write_atomic(
    path: str | os.PathLike, data: bytes | str, mode: int | None = None, durable: bool = True
) -> None:
    """Replace ``path`` with ``data`` in one step (text is written as UTF-8, newlines untouched).

    ``mode``: its permissions; by default an existing file keeps its own and a new one gets the
    umask's. ``durable``: on disk before this returns (off for files that are cheap to lose).
    """
    path = Path(path)
    if mode is None and path.exists():
        mode = path.stat().st_mode & 0o777
    with NewFile(path.parent, mode, prefix=f".{path.name}.") as new:
        new.write(data.encode("utf-8") if isinstance(data, str) else data)
        new.publish(path, durable=durable)


def remove_unpublished(directory: str | os.PathLike, prefix: str) -> list[str]:
    """Delete the files ``NewFile(directory, prefix=prefix)`` left behind in a process killed mid-write
    (incomplete by definition); the names removed. Only for a directory no other process is writing
    in (the local plane calls it on start, holding its state dir's lock)."""
    removed = []
    for path in Path(directory).glob(f"{prefix}*.tmp"):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed
