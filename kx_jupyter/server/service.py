"""What the lab extension's routes do, as plain blocking calls (the handlers run them off the loop).

Settings are the server's: ``load_settings()`` (``KX_JUPYTER_*``, the config file; the server
extension has put the plane's home and port in the environment), except where the active
notebook's kernel published its own ``%config KxJupyter.*`` (``kernelsettings``): then its
workspace, cluster, strategy, init script and (on the same backend) environment win, and the
overview says which settings it used. A relative server ``workspace`` is resolved against the
directory of the notebook the user is in, which is where that notebook's kernel runs, so the
sidebar checks, diffs and pushes the same files a ``%kx_update`` in that notebook would.
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
                self._engine, self._engine_key = Engine(settings, origin="lab"), key
            engine = self._engine
            if connect:
                clients = engine.clients
                clients.finspace, clients.s3, clients.logs  # noqa: B018 - created here, once
            return engine

    def workspace(self, notebook: str = "", kernel: dict | None = None) -> Path:
        """The kernel's published workspace, else ``settings.workspace``, relative ones taken from
        the notebook's directory (else the server's root)."""
        if kernel and kernel.get("workspace"):
            return Path(kernel["workspace"])
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
    def overview(self, notebook: str = "", kernel: dict | None = None) -> dict:
        """The environment's clusters, each with its nodes, the code it runs and its last push."""
        engine = self.engine(connect=True)
        use = _effective(engine.settings, kernel)
        env = engine.environment(use["environment"] or None)
        clusters = [self._cluster(engine, env, c) for c in engine.clusters(env)]
        workspace = self.workspace(notebook, kernel)
        return {
            "environment": env,
            "backend": engine.settings.backend,
            "workspace": str(workspace),
            "workspaceLabel": self._label(workspace),
            "strategy": use["strategy"],
            "initScript": use["init_script"],
            "cluster": use["cluster"],
            "settings": _provenance(engine.settings, kernel),
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

    def history(self, cluster: str, kernel: dict | None = None, limit: int = 20) -> list[dict]:
        engine = self.engine()
        env = engine.environment(_effective(engine.settings, kernel)["environment"] or None)
        return [_entry(e, tail=True, root=self.root) for e in engine.history(cluster, env, limit)]

    def diff(self, cluster: str, notebook: str = "", kernel: dict | None = None) -> dict:
        engine = self.engine(connect=True)
        workspace = self.workspace(notebook, kernel)
        env = _effective(engine.settings, kernel)["environment"] or None
        files = engine.diff(cluster, env=env, src=str(workspace))
        return {"cluster": cluster, "workspace": str(workspace), "files": [f.to_dict() for f in files]}

    def rollback_diff(self, cluster: str, to: int | None = None, kernel: dict | None = None) -> dict:
        """What a rollback would change: the entry it goes to, and the running code → that entry's."""
        engine = self.engine(connect=True)
        env = _effective(engine.settings, kernel)["environment"] or None
        entry, files = engine.rollback_diff(cluster, to=to, env=env)
        return {
            "cluster": cluster,
            "entry": _entry(entry, root=self.root),
            "files": [f.to_dict() for f in files],
        }

    def check(self, notebook: str = "", kernel: dict | None = None) -> dict:
        """The workspace check a push would make (offline)."""
        from ..qcheck import has_errors

        engine = self.engine()
        workspace = self.workspace(notebook, kernel)
        init = _effective(engine.settings, kernel)["init_script"]
        diags = engine.check(src=str(workspace), init=init)
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
            _entry(e, root=self.root)
            for e in entries
            if e.outcome == "updating" and now - e.started_at < engine.settings.timeout
        ]
        ended = [
            _entry(e, root=self.root)
            for e in entries
            if e.finished_at and e.finished_at > since and e.outcome != "updating"
        ]
        return {"now": now, "running": running, "ended": ended}

    # -- changes
    def push(
        self,
        cluster: str,
        notebook: str = "",
        strategy: str | None = None,
        arguments: dict | None = None,
        kernel: dict | None = None,
    ) -> dict:
        """Push the workspace as ``%kx_update`` would; ``arguments`` are the command-line arguments to
        pass (the sidebar offers to keep the cluster's own: a push without them drops them)."""
        engine = self.engine(connect=True)
        use = _effective(engine.settings, kernel)
        cluster = cluster or use["cluster"]
        strategy = strategy or use["strategy"]
        src = str(self.workspace(notebook, kernel))
        return self.runs.start(
            "push",
            cluster,
            strategy,
            lambda on_event: engine.update(
                cluster,
                env=use["environment"] or None,
                src=src,
                init=use["init_script"],
                strategy=strategy,
                args=arguments or None,
                on_event=on_event,
            ),
        )

    def rollback(self, cluster: str, to: int | None = None, kernel: dict | None = None) -> dict:
        engine = self.engine(connect=True)
        use = _effective(engine.settings, kernel)
        cluster = cluster or use["cluster"]
        env = use["environment"] or None
        return self.runs.start(
            "rollback",
            cluster,
            "",
            lambda on_event: engine.rollback(cluster, to=to, env=env, on_event=on_event),
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


def _effective(settings, kernel: dict | None) -> dict:
    """The settings a sidebar action uses: the kernel's published ones where it set them. Its
    environment only counts on the server's backend (another backend is another service)."""
    use = {name: getattr(settings, name) for name in ("cluster", "environment", "strategy", "init_script")}
    if not kernel:
        return use
    same_backend = kernel.get("backend", settings.backend) == settings.backend
    for name in use:
        if kernel.get(name) and (name != "environment" or same_backend):
            use[name] = kernel[name]
    return use


def _provenance(settings, kernel: dict | None) -> dict:
    """Whose settings the sidebar shows: ``from`` is "kernel" or "server"; ``kernel`` lists the
    published values that differ from the server's; ``note`` says what the sidebar cannot follow."""
    if kernel is None:
        return {"from": "server", "kernel": {}, "note": ""}
    differ = {k: v for k, v in kernel.items() if k != "workspace" and v and v != getattr(settings, k)}
    note = ""
    if kernel.get("backend", settings.backend) != settings.backend:
        note = (
            f"the kernel uses the {kernel['backend']} backend; the sidebar shows the server's "
            f"({settings.backend}) clusters"
        )
    return {"from": "kernel", "kernel": differ, "note": note}


def cell_of(origin: str, root: Path) -> dict | None:
    """The notebook cell a push came from (``notebook:<path>#<cell id>``), as a path under the
    server's root and a cell id, or None (not from a notebook, or a notebook outside the root)."""
    kind, _, rest = (origin or "").partition(":")
    path, _, cell = rest.rpartition("#")
    if kind != "notebook" or not path:
        return None
    where = PurePosixPath(path)
    if where.is_absolute():
        try:
            where = PurePosixPath(Path(path).resolve().relative_to(root).as_posix())
        except ValueError:
            return None
    if ".." in where.parts:
        return None
    return {"path": where.as_posix(), "cellId": cell}


def _entry(entry, tail: bool = False, root: Path | None = None) -> dict | None:
    if entry is None:
        return None
    data = entry.to_dict()
    if not tail:
        data.pop("log_tail", None)
    if root is not None:
        data["cell"] = cell_of(entry.origin, root)
    return data
