"""One release per cluster at a time: an exclusive ``flock`` per cluster under the kx home.

A lock file, not the service's ConflictException: a conflict arrives only when two updates of one
cluster overlap, so two releases whose stages reach a cluster at different moments would both
pass and leave it on whichever came last. The lock refuses the second release before it stages
anything, and the operating system drops it when the process ends (even by SIGKILL), so
``--resume`` after a crash is never locked out. It guards releases from one kx home (one
machine); plain pushes and other machines still meet the service's ConflictException.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ..errors import KxError

LOCK_DIR = "release-locks"  # under settings.home


def lock_path(home: Path, environment: str, cluster: str) -> Path:
    return Path(home) / LOCK_DIR / f"{environment}--{cluster}.lock"


@contextmanager
def holding(home: Path, clusters: list[tuple[str, str]]):
    """Hold every (environment, cluster)'s lock for the block; refuses at once if one is held."""
    with ExitStack() as stack:
        for environment, cluster in sorted(set(clusters)):
            path = lock_path(home, environment, cluster)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            stack.callback(os.close, fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                raise KxError(
                    f"a release is already running on cluster {cluster} ({holder}); this one was refused",
                    hint="Wait for it to end, or continue an interrupted one with "
                    "`kx-jupyter release --resume`.",
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield
