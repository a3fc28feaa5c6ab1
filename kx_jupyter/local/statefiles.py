"""The files that say a state dir is a plane's, which plane serves it, and that only one does.

``plane.json`` (pid, port, node runtime) is written by the serving plane and read by clients to
find it; ``plane.lock`` is held (``flock``) by the serving plane for its whole life, so a second
plane on the same state refuses to start even when the first is too slow to answer; the marker
``.kx-jupyter-plane`` is what ``reset`` requires before it deletes a directory.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..files import write_atomic

STATE_FILE = "plane.json"
LOCK_FILE = "plane.lock"
MARKER = ".kx-jupyter-plane"
LOG_FILE = "plane.log"


@dataclass(frozen=True)
class PlaneInfo:
    """Where a running plane is and how to sign for it."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str = field(repr=False)
    pid: int
    state_dir: Path

    def __repr__(self) -> str:
        return f"PlaneInfo(endpoint={self.endpoint!r}, region={self.region!r}, pid={self.pid}, state_dir={str(self.state_dir)!r})"


def read_state(state_dir) -> dict:
    try:
        state = json.loads((Path(state_dir) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def write_state(
    state_dir: Path, pid: int, port: int, q_binary: str | None, node_start_seconds: float
) -> None:
    state = {"pid": pid, "port": port, "q_binary": q_binary, "node_start_seconds": node_start_seconds}
    # rewritten on every start: no fsync (a lost file means a plane nobody finds, which a start mends)
    write_atomic(Path(state_dir) / STATE_FILE, json.dumps(state), mode=0o600, durable=False)


def remove_state(state_dir: Path, pid: int) -> None:
    if read_state(state_dir).get("pid") == pid:
        (Path(state_dir) / STATE_FILE).unlink(missing_ok=True)


def hold_lock(state_dir: Path, write_pid: bool = True):
    """Take the state dir's lock for this process's life (the open file is returned: keep it) and
    write this pid into it; ``None`` if another plane holds it."""
    fd = os.open(Path(state_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if write_pid:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    return os.fdopen(fd, "r+")


def lock_holder(state_dir) -> int | None:
    """The pid of the plane holding the state dir's lock (0 if it cannot be read), or ``None`` if none does."""
    path = Path(state_dir) / LOCK_FILE
    if not path.exists():
        return None
    held = hold_lock(Path(state_dir), write_pid=False)
    if held is not None:
        held.close()
        return None
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def mark(state_dir: Path) -> None:
    """Make the state dir the plane's: marked, and owner-only whatever modes it had before."""
    state_dir = Path(state_dir)
    (state_dir / MARKER).touch(mode=0o600, exist_ok=True)
    owner_only(state_dir)


def is_marked(state_dir) -> bool:
    return (Path(state_dir) / MARKER).is_file()


def owner_only(root: Path) -> None:
    """Directories 0700, files without group or other bits (code, logs, blobs and keys are the user's)."""
    os.chmod(root, 0o700)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o700)
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                mode = os.lstat(path).st_mode
                if mode & 0o077 and not os.path.islink(path):
                    os.chmod(path, mode & 0o700)
            except FileNotFoundError:
                pass
