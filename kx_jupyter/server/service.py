"""What the lab extension's routes do, as plain blocking calls (the handlers run them off the loop).

Settings are the server's: ``load_settings()`` (``KX_JUPYTER_*``, the config file; the server
extension has put the plane's home and port in the environment). ``%config`` in a kernel is
not seen here. A relative ``workspace`` is resolved against the directory of the notebook the
user is in, which is where that notebook's kernel runs, so the sidebar checks, diffs and pushes
the same files a ``%kx_update`` in that notebook would.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path, PurePosixPath

from ..config import load_settings
from ..errors import KxError
from .runs import Runs

MAGIC = "%%kx_file"


class LabService:
    def __init__(self, root_dir: str | Path):
        self.root = Path(root_dir).expanduser().resolve()
        self.runs = Runs()
        self._lock = threading.Lock()
        self._engine = None
        self._engine_key = None

    # -- settings and the engine
    def engine(self, connect: bool = False):
        """One engine while the settings stay the same (its boto3 clients are reused across requests).

        ``connect``: create its clients first, under the lock: requests run in several threads and
        boto3 does not create clients thread-safely (history and checks need none).
        """
        from ..deploy import Engine

        settings = load_settings()
        key = repr(sorted(settings.to_dict().items()))
        with self._lock:
            if self._engine is None or key != self._engine_key:
                self._engine, self._engine_key = Engine(settings), key
            engine = self._engine
            if connect:
                clients = engine.clients
                clients.finspace, clients.s3, clients.logs  # noqa: B018 - created here, once
            return engine

    def workspace(self, notebook: str = "") -> Path:
        """``settings.workspace``, relative ones taken from the notebook's directory (else the server's root)."""
        configured = Path(load_settings().workspace).expanduser()
        if configured.is_absolute():
            return configured
        base = self.root
        if notebook:
            rel = PurePosixPath(notebook)
            if rel.is_absolute() or ".." in rel.parts:
                raise KxError(
                    f"notebook path {notebook!r} is not inside the server's root",
                    hint="Pass the path JupyterLab shows, relative to its root.",
                )
            base = self.root.joinpath(*rel.parent.parts)
        return (base / configured).resolve()

    # -- read-only views
    def overview(self, notebook: str = "") -> dict:
        """The environment's clusters, each with its nodes, the code it runs and its last push."""
        engine = self.engine(connect=True)
        env = engine.environment()
        clusters = [self._cluster(engine, env, c) for c in engine.clusters(env)]
        workspace = self.workspace(notebook)
        return {
            "environment": env,
            "backend": engine.settings.backend,
            "workspace": str(workspace),
            "workspaceLabel": self._label(workspace),
            "strategy": engine.settings.strategy,
            "initScript": engine.settings.init_script,
            "cluster": engine.settings.cluster,
            "clusters": clusters,
            "runs": self.runs.snapshot(),
            "now": time.time(),
        }

    def _label(self, path: Path) -> str:
        """A workspace as the file browser shows it (relative to the root), else its full path."""
        try:
            return "/" + path.relative_to(self.root).as_posix() if path != self.root else "/ (the root)"
        except ValueError:
            return str(path)

    def _cluster(self, engine, env: str, summary: dict) -> dict:
        from ..deploy.watch import code_matches

        name = summary["clusterName"]
        status = engine.status(name, env)
        history = engine.history(name, env, limit=50)
        code = status.get("code") or {}
        running = next(
            (e for e in history if e.outcome == "succeeded" and code_matches(code, e.code())), None
        )
        nodes = status.get("nodes", [])
        return {
            "name": name,
            "type": status.get("clusterType"),
            "status": status.get("status"),
            "statusReason": status.get("statusReason", ""),
            "nodeCount": (status.get("capacityConfiguration") or {}).get("nodeCount"),
            "nodesRunning": sum(1 for n in nodes if n.get("status") == "RUNNING"),
            "nodes": nodes,
            "code": code,
            "initializationScript": status.get("initializationScript"),
            "arguments": {a.get("key"): a.get("value") for a in status.get("commandLineArguments") or []},
            "lastModified": status.get("lastModifiedTimestamp"),
            "running": _entry(running),
            "inProgress": _entry(next((e for e in history if e.outcome == "updating"), None)),
            "lastPush": _entry(history[0] if history else None),
        }

    def history(self, cluster: str, limit: int = 20) -> list[dict]:
        engine = self.engine()
        return [_entry(e, tail=True) for e in engine.history(cluster, engine.environment(), limit)]

    def diff(self, cluster: str, notebook: str = "") -> dict:
        engine = self.engine(connect=True)
        files = engine.diff(cluster, src=str(self.workspace(notebook)))
        return {
            "cluster": cluster,
            "workspace": str(self.workspace(notebook)),
            "files": [f.to_dict() for f in files],
        }

    def check(self, notebook: str = "") -> dict:
        """The workspace check a push would make (offline)."""
        from ..qcheck import has_errors

        engine = self.engine()
        workspace = self.workspace(notebook)
        diags = engine.check(src=str(workspace))
        return {
            "workspace": str(workspace),
            "workspaceLabel": self._label(workspace),
            "errors": has_errors(diags),
            "diagnostics": [d.to_dict() for d in diags],
        }

    def activity(self, since: float) -> dict:
        """From the history alone (no network): updates running now and those that ended after ``since``.

        Every push lands in the history, wherever it was started (a kernel's ``--background``
        push, the command line, the sidebar), so this is what notifications and the status bar
        follow. An entry still 'updating' after the watch timeout is a watch that died: left out.
        """
        engine = self.engine()
        now = time.time()
        entries = engine.history(limit=100)
        running = [
            _entry(e)
            for e in entries
            if e.outcome == "updating" and now - e.started_at < engine.settings.timeout
        ]
        ended = [
            _entry(e) for e in entries if e.finished_at and e.finished_at > since and e.outcome != "updating"
        ]
        return {"now": now, "running": running, "ended": ended}

    # -- changes
    def push(
        self, cluster: str, notebook: str = "", strategy: str | None = None, arguments: dict | None = None
    ) -> dict:
        """Push the workspace as ``%kx_update`` would; ``arguments`` are the command-line arguments to
        pass (the sidebar offers to keep the cluster's own: a push without them drops them)."""
        engine = self.engine(connect=True)
        cluster = cluster or engine.settings.cluster
        strategy = strategy or engine.settings.strategy
        src = str(self.workspace(notebook))
        return self.runs.start(
            "push",
            cluster,
            strategy,
            lambda on_event: engine.update(
                cluster, src=src, strategy=strategy, args=arguments or None, on_event=on_event
            ),
        )

    def rollback(self, cluster: str, to: int | None = None) -> dict:
        engine = self.engine(connect=True)
        cluster = cluster or engine.settings.cluster
        return self.runs.start(
            "rollback", cluster, "", lambda on_event: engine.rollback(cluster, to=to, on_event=on_event)
        )


def lint_cell(source: str) -> list[dict]:
    """The checker's findings for a ``%%kx_file`` cell, located in the cell (its line 1 is the magic).

    Offline and kernel-free: the file on its own, as the cell's own check reports it before
    the bundle is known. Any other cell has nothing to say.
    """
    from ..qcheck import check_source

    first, _, body = source.partition("\n")
    words = first.split()
    if not words or words[0] != MAGIC:
        return []
    path = next((w for w in words[1:] if not w.startswith("-")), "<cell>")
    return [dict(d.to_dict(), line=d.line + 1) for d in check_source(body, path)]


def _entry(entry, tail: bool = False) -> dict | None:
    if entry is None:
        return None
    data = entry.to_dict()
    if not tail:
        data.pop("log_tail", None)
    return data
