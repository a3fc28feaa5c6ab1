"""The workspace's git commit and whether it has uncommitted changes, recorded with each push.

Asked of ``git`` itself (``rev-parse HEAD``, ``status --porcelain``) with a short timeout: no git,
not a checkout, a repository without commits or a slow disk all give (None, None), never an error,
since a push must not depend on version control.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

TIMEOUT_SECONDS = 3.0


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(root) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout holding ``root`` (changes under ``root`` only); (None, None) otherwise."""
    root = Path(root).expanduser()
    commit = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    if not commit:
        return None, None
    status = _git(root, "status", "--porcelain", "--", ".")
    return commit.strip(), (bool(status.strip()) if status is not None else None)


def git_label(commit: str | None, dirty: bool | None) -> str:
    """How history shows it: the short commit, '+' when the workspace had uncommitted changes."""
    if not commit:
        return ""
    return commit[:10] + ("+" if dirty else "")
