"""Tab completion of environment and cluster names for the ``%kx_*`` magics.

Names come from the backend, which may be slow or down, and a completer runs while the user
waits on the Tab key: so names are cached, refreshed in a daemon thread, and a completion
waits at most ``WAIT_SECONDS`` for a first answer; an unreachable backend means no
suggestions, never a hang or an error.
"""

from __future__ import annotations

import threading
import time

WAIT_SECONDS = 0.3
FRESH_SECONDS = 60.0
# magic -> does its first positional argument name a cluster?
CLUSTER_POSITIONAL = {"%kx_status", "%kx_history", "%kx_rollback", "%kx_diff"}
MAGICS = ("%kx_update", "%kx_clusters", *sorted(CLUSTER_POSITIONAL))


class NameCache:
    """Environment ids and cluster names of the backend, fetched off the Tab-key path."""

    def __init__(self, fetch):
        self._fetch = fetch  # () -> (environment ids, cluster names); may raise
        self._lock = threading.Lock()
        self._names: tuple[list[str], list[str]] = ([], [])
        self._fetched_at = 0.0
        self._thread: threading.Thread | None = None

    def warm(self) -> threading.Thread | None:
        """Start a refresh in the background if the names are stale; never waits."""
        with self._lock:
            stale = time.monotonic() - self._fetched_at > FRESH_SECONDS
            if stale and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._refresh, name="kx-complete-names", daemon=True)
                self._thread.start()
            return self._thread

    def names(self) -> tuple[list[str], list[str]]:
        thread = self.warm()
        with self._lock:
            first = self._fetched_at == 0.0
        if first and thread is not None:
            thread.join(WAIT_SECONDS)
        with self._lock:
            return self._names

    def _refresh(self) -> None:
        try:
            envs, clusters = self._fetch()
        except Exception:  # unreachable or misconfigured backend: keep what we had, try again later
            with self._lock:
                self._fetched_at = time.monotonic() - FRESH_SECONDS + 10.0
            return
        with self._lock:
            self._names = (sorted(set(envs)), sorted(set(clusters)))
            self._fetched_at = time.monotonic()


def complete(cache: NameCache, line: str, symbol: str) -> list[str]:
    """Suggestions for the word being typed (``symbol``) on a ``%kx_*`` line."""
    words = line.split()
    if not words:
        return []
    command = words[0]
    done = words[1:] if line.endswith((" ", "\t")) else words[1:-1]  # words before the one being typed
    previous = done[-1] if done else ""
    envs, clusters = cache.names()
    if previous == "--env":
        pool = envs
    elif previous == "--cluster" or (
        command in CLUSTER_POSITIONAL
        and not [w for w in done if not w.startswith("-")]
        and not symbol.startswith("-")
    ):
        pool = clusters
    else:
        return []
    return [name for name in pool if name.startswith(symbol)]


def matcher(cache: NameCache):
    """An IPython completion matcher (``IPCompleter.custom_matchers``) for ``%kx_*`` lines: names
    from ``cache``; when it has some, they replace the other matchers' guesses."""
    from IPython.core.completer import SimpleCompletion, context_matcher

    @context_matcher(identifier="kx_jupyter.names")
    def kx_names(context) -> dict:
        line = context.line_with_cursor.lstrip()  # as the hooks had it: the whole line
        if line.split(" ", 1)[0] not in MAGICS:
            return {"completions": []}
        names = complete(cache, line, context.token)
        return {"completions": [SimpleCompletion(name, type="kx") for name in names], "suppress": bool(names)}

    return kx_names
