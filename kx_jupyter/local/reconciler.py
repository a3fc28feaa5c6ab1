"""Carries out queued cluster operations step by step, like the service's own control loop.

Operations (create, update, rollback, replace, delete) are rows in SQLite with a plan: a list
of phases, each a list of node ids started together. ROLLING has one node per phase, FORCE
one phase with every node, NO_RESTART none (the new code is checked and copied in place). A
node is RUNNING once its runtime is ready and ``node_start_seconds`` have passed. A node that
fails turns an update into a rollback to the previous code; the cluster then returns to
RUNNING with a ``statusReason`` (the service has no UPDATE_FAILED). After a restart every
pending operation is re-run from its first phase, so it settles the same way every time.
A RUNNING node whose q process dies (or that cannot start again after a plane restart) is
restarted with the cluster's current code. A replacement node that cannot start stays
PROVISIONING and is started again with a growing delay (each failure in its log), until it
starts or a code update takes its place.

Faults are isolated per operation: an unexpected error while advancing one ends that operation
as failed (an update leaves its cluster RUNNING on the previous code, with a ``statusReason``
saying so), is logged once, and every other cluster goes on.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
import time
import zipfile
from pathlib import Path

from .api import args_dict, status_reason
from .runtime import CheckerRuntime, extract_bundle, start_runtime

START_TIMEOUT_SECONDS = 60.0
CRASH_CHECK_SECONDS = 0.5
RETRY_MAX_SECONDS = 60.0  # a replacement that keeps failing is tried again at most this far apart


def log_group(env_id: str, cluster: str) -> str:
    return f"/aws/vendedlogs/finspace/{env_id}/{cluster}"


def _return_freed_memory() -> None:
    """Hand memory freed by a finished operation (unpacking, checking, its requests) back to the OS,
    so a plane that lives for months stays at its idle size (glibc keeps it otherwise)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


class NodeStartError(Exception):
    """A node could not even begin to start (its code cannot be read)."""


class Reconciler:
    def __init__(
        self,
        store,
        backends,
        state_dir: Path,
        node_start_seconds: float,
        q_binary: str | None,
        tick: float = 0.05,
        faults=None,
    ):
        self.store = store
        self.faults = faults  # the plane's fault plan: its ``step_error`` clusters fail here
        self.backends = backends
        self.nodes_dir = Path(state_dir) / "nodes"
        self.node_start_seconds = node_start_seconds
        self.q_binary = q_binary
        self.tick = tick
        self.runtimes: dict[str, object] = {}
        self._owners: dict[str, tuple[str, str]] = {}  # node id -> (environment id, cluster name)
        self._unpublished: set[str] = set()  # resumed nodes whose port is not yet announced
        self._last_crash_check = 0.0
        self._validators: dict[int, CheckerRuntime] = {}
        self._retries: dict[
            int, tuple[int, float]
        ] = {}  # replace operation id -> (failures, when to try again)
        self._last_error = (
            ""  # the last unexpected error outside an operation, so a repeat is not logged again
        )
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kx-local-reconciler", daemon=True)

    # lifecycle of the loop -----------------------------------------------------------------
    def start(self) -> None:
        self._recover()
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        for runtime in self.runtimes.values():
            runtime.stop()
        self.runtimes.clear()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.step()
                self._last_error = ""
            except Exception as exc:  # keep the plane alive; the plane log shows what broke, once
                if repr(exc) != self._last_error:
                    logging.getLogger("kx_jupyter.local").exception("reconciler step failed")
                self._last_error = repr(exc)
            self._wake.wait(self.tick)
            self._wake.clear()

    def step(self) -> None:
        ops = self.store.read("SELECT * FROM operations WHERE state='pending' ORDER BY id")
        for op in ops:
            if self.faults is not None and self.faults.holds(op["cluster"]):
                continue
            try:
                if self.faults is not None and self.faults.step_fails(op["cluster"]):
                    raise RuntimeError("internal error injected by the fault plan")
                self._advance(op)
            except Exception as exc:  # one cluster's fault must not stop the others
                self._abandon(op, exc)
        pending = {op["id"] for op in ops}
        self._retries = {op_id: retry for op_id, retry in self._retries.items() if op_id in pending}
        for node_id in list(self.runtimes):  # output of nodes outside any operation, e.g. after a restart
            self._drain(*self._owners[node_id], node_id)
        for node_id in list(self._unpublished):
            runtime = self.runtimes.get(node_id)
            state = runtime.poll()[0] if runtime is not None else "gone"
            if state == "ready":
                with self.store.tx() as db:
                    db.execute("UPDATE nodes SET port=? WHERE node_id=?", (runtime.port, node_id))
            if state != "starting":
                self._unpublished.discard(node_id)
        if time.monotonic() - self._last_crash_check >= CRASH_CHECK_SECONDS:
            self._last_crash_check = time.monotonic()
            self._restart_crashed_nodes()

    def _restart_crashed_nodes(self) -> None:
        """A RUNNING node whose q process died is restarted with the cluster's code, as the service would."""
        busy = {
            n
            for op in self.store.read("SELECT plan FROM operations WHERE state='pending'")
            for phase in json.loads(op["plan"])
            for n in phase
        }
        rows = self.store.read(
            "SELECT n.node_id, n.env_id, n.cluster, c.config FROM nodes n JOIN clusters c "
            "ON c.env_id=n.env_id AND c.name=n.cluster WHERE n.status='RUNNING' AND c.status='RUNNING'"
        )
        for row in rows:
            runtime = self.runtimes.get(row["node_id"])
            if row["node_id"] in busy or runtime is None or runtime.poll()[0] != "failed":
                continue
            self._stop_node(row["node_id"])  # also keeps its last output in the node log
            self._log(
                row["env_id"], row["cluster"], row["node_id"], [f"{runtime.poll()[1]}: the node is restarted"]
            )
            self._queue_restart(row["env_id"], row["cluster"], row["node_id"], row["config"])

    def _queue_restart(
        self, env_id: str, cluster: str, node_id: str, config: str, failed: str | None = None
    ) -> None:
        """The node goes PROVISIONING and a replace operation starts it again with ``config``.
        ``failed``: why it could not start just now (it is then retried with a delay, see ``_retry_replacement``)."""
        with self.store.tx() as db:
            db.execute(
                "UPDATE nodes SET status='PROVISIONING', launch_time=NULL, port=NULL WHERE node_id=?",
                (node_id,),
            )
            db.execute(
                "INSERT INTO operations(env_id, cluster, kind, state, plan, target, previous, reason, created) "
                "VALUES (?, ?, 'replace', 'pending', ?, ?, 'null', ?, ?)",
                (env_id, cluster, json.dumps([[node_id]]), config, failed, time.time()),
            )

    # recovery ----------------------------------------------------------------------------
    def _recover(self) -> None:
        """Kill node processes a dead plane left behind, resume nodes, re-run pending operations."""
        for row in self.store.read("SELECT pid FROM nodes WHERE pid IS NOT NULL"):
            self._kill_orphan(row["pid"])
        with self.store.tx() as db:
            db.execute("UPDATE operations SET phase=0, phase_started=NULL WHERE state='pending'")
            db.execute("UPDATE nodes SET pid=NULL, port=NULL")
            db.execute(
                "UPDATE nodes SET status='RUNNING', launch_time=COALESCE(launch_time, ?) WHERE status='PROVISIONING' AND "
                "EXISTS (SELECT 1 FROM clusters c WHERE c.env_id=nodes.env_id AND c.name=nodes.cluster AND c.status='UPDATING')",
                (time.time(),),
            )
        for cluster in self.store.read("SELECT * FROM clusters WHERE status IN ('RUNNING', 'UPDATING')"):
            config = json.loads(cluster["config"])
            for node in self.store.read(
                "SELECT node_id FROM nodes WHERE env_id=? AND cluster=? AND status='RUNNING'",
                (cluster["env_id"], cluster["name"]),
            ):
                try:
                    self._start_node(
                        cluster["env_id"], cluster["name"], node["node_id"], config, keep_status=True
                    )
                except NodeStartError as exc:
                    self._log(
                        cluster["env_id"], cluster["name"], node["node_id"], [f"node restart failed: {exc}"]
                    )
                    if cluster["status"] == "RUNNING":  # an update in progress restarts its nodes anyway
                        self._queue_restart(
                            cluster["env_id"],
                            cluster["name"],
                            node["node_id"],
                            cluster["config"],
                            status_reason(f"node {node['node_id']} failed to start: {exc}"),
                        )

    def _kill_orphan(self, pid: int) -> None:
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return
        if cwd.startswith(str(self.nodes_dir)):  # only our own node processes
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass

    # nodes -------------------------------------------------------------------------------
    def _unpack(self, config: dict, code_dir: Path) -> list[str]:
        """Unpack the config's code bundle into ``code_dir`` from its blob file (nothing kept in memory)."""
        code = config.get("code")
        if not code:
            return extract_bundle(None, code_dir)
        ref = (code["s3Bucket"], code["s3Key"], config.get("resolvedVersion"))
        try:
            return extract_bundle(self.backends.object_path(*ref), code_dir)
        except KeyError:
            raise NodeStartError(
                f"the code object s3://{ref[0]}/{ref[1]} version {ref[2]} can no longer be read"
            ) from None
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            raise NodeStartError(
                f"the code object s3://{ref[0]}/{ref[1]} is not a readable zip file: {exc}"
            ) from None

    def _log(self, env_id: str, cluster: str, node_id: str, lines: list[str]) -> None:
        self.backends.append_log(log_group(env_id, cluster), node_id, lines)

    def _drain(self, env_id: str, cluster: str, node_id: str) -> None:
        runtime = self.runtimes.get(node_id)
        if runtime is not None:
            self._log(env_id, cluster, node_id, runtime.drain_log())

    def _stop_node(self, node_id: str) -> None:
        runtime = self.runtimes.pop(node_id, None)
        if runtime is not None:
            runtime.stop()
            self._log(*self._owners.pop(node_id), node_id, runtime.drain_log())

    def _start_node(
        self, env_id: str, cluster: str, node_id: str, config: dict, keep_status: bool = False
    ) -> None:
        self._stop_node(node_id)
        code_dir = self.nodes_dir / node_id / "code"
        names = self._unpack(config, code_dir)
        code = config.get("code") or {}
        self._log(
            env_id,
            cluster,
            node_id,
            [
                f"starting node with s3://{code.get('s3Bucket', '-')}/{code.get('s3Key', '-')} "
                f"init {config.get('initializationScript', '-')}"
            ],
        )
        runtime = start_runtime(
            self.q_binary,
            code_dir,
            names,
            config.get("initializationScript"),
            args_dict(config.get("commandLineArguments")),
        )
        self.runtimes[node_id] = runtime
        self._owners[node_id] = (env_id, cluster)
        with self.store.tx() as db:
            if keep_status:  # resumed after a restart: the port is announced once q listens (see step)
                db.execute("UPDATE nodes SET pid=?, port=NULL WHERE node_id=?", (runtime.pid, node_id))
                self._unpublished.add(node_id)
            else:
                db.execute(
                    "UPDATE nodes SET status='PROVISIONING', launch_time=NULL, pid=?, port=NULL WHERE node_id=?",
                    (runtime.pid, node_id),
                )
        self._drain(env_id, cluster, node_id)

    # operations --------------------------------------------------------------------------
    def _set_op(self, op_id: int, **fields) -> None:
        cols = ", ".join(f"{k}=?" for k in fields)
        with self.store.tx() as db:
            db.execute(f"UPDATE operations SET {cols} WHERE id=?", (*fields.values(), op_id))

    def _advance(self, op) -> None:
        env_id, cluster, kind = op["env_id"], op["cluster"], op["kind"]
        plan = json.loads(op["plan"])
        target = json.loads(op["target"]) if op["target"] else None
        now = time.time()
        if kind == "delete":
            return self._advance_delete(op, now)
        if op["phase_started"] is None and now < self._retries.get(op["id"], (0, 0.0))[1]:
            return  # a replacement that failed waits for its next try
        if op["phase_started"] is None:
            removed = (json.loads(op["previous"]) or {}).get("removed") if kind == "replace" else None
            if (
                removed and op["id"] not in self._retries
            ):  # DeleteKxClusterNode: the old node goes away as its replacement starts
                self._log(env_id, cluster, removed, ["node deleted: it is being replaced"])
                self._stop_node(removed)
                shutil.rmtree(self.nodes_dir / removed, ignore_errors=True)
            try:
                if op["phase"] < len(plan):  # stop the whole phase at once (FORCE: every node), then start it
                    phase = plan[op["phase"]]
                    with self.store.tx() as db:
                        db.executemany(
                            "UPDATE nodes SET status='PROVISIONING', launch_time=NULL, port=NULL WHERE node_id=?",
                            [(n,) for n in phase],
                        )
                    for node_id in phase:
                        self._stop_node(node_id)
                    for node_id in phase:
                        self._start_node(env_id, cluster, node_id, target)
                elif kind == "update":  # NO_RESTART: check the new code without touching q
                    check_dir = self.nodes_dir / f"op-{op['id']}" / "code"
                    self._validators[op["id"]] = CheckerRuntime(
                        check_dir,
                        self._unpack(target, check_dir),
                        target.get("initializationScript"),
                        args_dict(target.get("commandLineArguments")),
                    )
            except NodeStartError as exc:
                return self._fail(op, plan[op["phase"]][0] if op["phase"] < len(plan) else None, str(exc))
            self._set_op(op["id"], phase_started=now)
            return
        elapsed = now - op["phase_started"]
        if op["phase"] >= len(plan):
            validator = self._validators.get(op["id"])
            if validator is not None:
                state, why = validator.poll()
                if state == "failed":  # every node keeps running the old code; each log says why
                    self._validators.pop(op["id"], None)
                    lines = [*validator.drain_log(), f"NO_RESTART code update refused: {why}"]
                    for row in self.store.read(
                        "SELECT node_id FROM nodes WHERE env_id=? AND cluster=?", (env_id, cluster)
                    ):
                        self._log(env_id, cluster, row["node_id"], lines)
                    return self._fail(op, None, why)
                if state != "ready":
                    return
            if elapsed >= self.node_start_seconds:
                self._validators.pop(op["id"], None)
                shutil.rmtree(self.nodes_dir / f"op-{op['id']}", ignore_errors=True)
                return self._finish(op, target)
            return
        phase = plan[op["phase"]]
        ready = True
        for node_id in phase:
            runtime = self.runtimes.get(node_id)
            if runtime is None:  # the node was removed meanwhile
                continue
            state, why = runtime.poll()
            self._drain(env_id, cluster, node_id)
            if state == "failed":
                return self._fail(op, node_id, why)
            if state == "starting" and elapsed > START_TIMEOUT_SECONDS + self.node_start_seconds:
                return self._fail(
                    op,
                    node_id,
                    f"q did not listen on port {runtime.port} within {START_TIMEOUT_SECONDS:.0f} seconds",
                )
            ready = ready and state == "ready"
        if not ready or elapsed < self.node_start_seconds:
            return
        with self.store.tx() as db:
            for node_id in phase:
                runtime = self.runtimes.get(node_id)
                db.execute(
                    "UPDATE nodes SET status='RUNNING', launch_time=?, port=? WHERE node_id=?",
                    (now, getattr(runtime, "port", None), node_id),
                )
        for node_id in phase:
            self._log(env_id, cluster, node_id, ["node is RUNNING"])
        if op["phase"] + 1 < len(plan):
            self._set_op(op["id"], phase=op["phase"] + 1, phase_started=None)
            self._advance({**dict(op), "phase": op["phase"] + 1, "phase_started": None})
        else:
            self._finish(op, target)

    def _advance_delete(self, op, now: float) -> None:
        env_id, cluster = op["env_id"], op["cluster"]
        if op["phase_started"] is None:
            for row in self.store.read(
                "SELECT node_id FROM nodes WHERE env_id=? AND cluster=?", (env_id, cluster)
            ):
                self._stop_node(row["node_id"])
                self._log(env_id, cluster, row["node_id"], ["cluster deleted: node stopped"])
            self._set_op(op["id"], phase_started=now)
            return
        if now - op["phase_started"] < self.node_start_seconds:
            return
        with self.store.tx() as db:
            rows = db.execute(
                "SELECT node_id FROM nodes WHERE env_id=? AND cluster=?", (env_id, cluster)
            ).fetchall()
            db.execute("DELETE FROM nodes WHERE env_id=? AND cluster=?", (env_id, cluster))
            db.execute("DELETE FROM clusters WHERE env_id=? AND name=?", (env_id, cluster))
            db.execute("UPDATE operations SET state='done' WHERE id=?", (op["id"],))
        for row in rows:
            shutil.rmtree(self.nodes_dir / row["node_id"], ignore_errors=True)

    def _finish(self, op, target: dict) -> None:
        self._settle(op, target)
        _return_freed_memory()

    def _settle(self, op, target: dict) -> None:
        env_id, cluster, kind = op["env_id"], op["cluster"], op["kind"]
        now = time.time()
        with self.store.tx() as db:
            db.execute("UPDATE operations SET state='done' WHERE id=?", (op["id"],))
            if kind == "update":
                config = {k: v for k, v in target.items() if k != "strategy"}
                db.execute(
                    "UPDATE clusters SET status='RUNNING', status_reason=NULL, config=?, modified=? WHERE env_id=? AND name=?",
                    (json.dumps(config), now, env_id, cluster),
                )
                db.execute(
                    "INSERT INTO applied_updates VALUES (?, 1) ON CONFLICT(client_token) DO UPDATE SET count=count+1",
                    (op["client_token"] or "",),
                )
            elif kind == "create":
                db.execute(
                    "UPDATE clusters SET status='RUNNING', modified=? WHERE env_id=? AND name=?",
                    (now, env_id, cluster),
                )
            elif kind == "rollback":
                db.execute(
                    "UPDATE clusters SET status='RUNNING', status_reason=?, modified=? WHERE env_id=? AND name=?",
                    (op["reason"], now, env_id, cluster),
                )
            nodes = [
                r["node_id"]
                for r in db.execute(
                    "SELECT node_id FROM nodes WHERE env_id=? AND cluster=?", (env_id, cluster)
                )
            ]
        if kind == "update":
            if target.get("strategy") == "NO_RESTART":
                for node_id in nodes:
                    self._unpack(target, self.nodes_dir / node_id / "code")
            code = target.get("code") or {}
            for node_id in nodes:
                self._log(
                    env_id,
                    cluster,
                    node_id,
                    [
                        f"code update applied ({target.get('strategy')}): s3://{code.get('s3Bucket')}/{code.get('s3Key')} "
                        f"version {target.get('resolvedVersion')}"
                    ],
                )

    def _fail(self, op, node_id: str | None, why: str) -> None:
        env_id, cluster, kind = op["env_id"], op["cluster"], op["kind"]
        plan = json.loads(op["plan"])
        if node_id is not None:
            self._drain(env_id, cluster, node_id)
            self._stop_node(node_id)
            self._log(env_id, cluster, node_id, [f"node failed to start: {why}"])
        where = f"on node {node_id}" if node_id else "while checking the new code"
        if kind == "update":
            reason = status_reason(
                f"Code update failed {where}: {why}. The cluster runs the previous code; see the node log"
            )
            touched = [n for phase in plan[: op["phase"] + 1] for n in phase]
            self._set_op(
                op["id"],
                kind="rollback",
                plan=json.dumps([touched] if touched else []),
                phase=0,
                phase_started=None,
                target=op["previous"],
                reason=reason,
            )
            self.wake()
            return
        if kind == "create":
            with self.store.tx() as db:
                db.execute("UPDATE operations SET state='done' WHERE id=?", (op["id"],))
                db.execute(
                    "UPDATE clusters SET status='CREATE_FAILED', status_reason=?, modified=? WHERE env_id=? AND name=?",
                    (status_reason(f"Cluster creation failed {where}: {why}"), time.time(), env_id, cluster),
                )
            for phase in plan:
                for n in phase:
                    self._stop_node(n)
            return
        if kind == "rollback":
            reason = status_reason(f"{op['reason']}. Restoring the previous code also failed {where}")
            with self.store.tx() as db:
                db.execute("UPDATE operations SET reason=? WHERE id=?", (reason, op["id"]))
            return self._finish({**dict(op), "reason": reason}, json.loads(op["target"]))
        self._retry_replacement(op, node_id, why)

    def _abandon(self, op, exc: Exception) -> None:
        """End an operation that hit an unexpected error: logged once, marked failed, the cluster settled.

        An update or rollback leaves the cluster RUNNING on the code it last ran successfully (its
        ``config`` is only changed when an update finishes); a create ends CREATE_FAILED, a delete
        DELETE_FAILED; nodes of the operation that were starting are stopped and marked with the reason."""
        env_id, cluster, kind = op["env_id"], op["cluster"], op["kind"]
        logging.getLogger("kx_jupyter.local").error(
            "operation %s (%s of %s/%s) failed with an internal error; other clusters go on",
            op["id"],
            kind,
            env_id,
            cluster,
            exc_info=exc,
        )
        what = {
            "update": "Code update",
            "rollback": "Code update",
            "create": "Cluster creation",
            "delete": "Cluster deletion",
            "replace": "Node replacement",
        }.get(kind, "Operation")
        reason = status_reason(
            f"{what} failed with an internal error of the local plane ({type(exc).__name__}: {exc}). "
            "The cluster keeps its previous code; see the plane log"
        )
        status = {"create": "CREATE_FAILED", "delete": "DELETE_FAILED"}.get(kind, "RUNNING")
        plan = json.loads(op["plan"] or "[]") if kind != "delete" else []
        touched = [n for phase in plan[: op["phase"] + 1] for n in phase]
        with self.store.tx() as db:
            db.execute("UPDATE operations SET state='failed', reason=? WHERE id=?", (reason, op["id"]))
            db.execute(
                "UPDATE clusters SET status=?, status_reason=?, modified=? WHERE env_id=? AND name=?",
                (status, reason, time.time(), env_id, cluster),
            )
            row = db.execute(
                "SELECT config FROM clusters WHERE env_id=? AND name=?", (env_id, cluster)
            ).fetchone()
        self._validators.pop(op["id"], None)
        self._retries.pop(op["id"], None)
        for node_id in touched:
            self._stop_node(node_id)
            self._log(env_id, cluster, node_id, [reason])
            if kind in ("update", "rollback") and row is not None:  # its nodes go back to the previous code
                self._queue_restart(env_id, cluster, node_id, row["config"], reason)

    def _retry_replacement(self, op, node_id: str | None, why: str) -> None:
        """The node stays PROVISIONING and is started again later; an update may take over meanwhile
        (the failure in ``reason`` tells the API this replacement no longer holds the cluster)."""
        failures = self._retries.get(op["id"], (0, 0.0))[0] + 1
        delay = min(RETRY_MAX_SECONDS, 2.0**failures)
        self._retries[op["id"]] = (failures, time.time() + delay)
        if node_id is not None:
            self._log(
                op["env_id"],
                op["cluster"],
                node_id,
                [
                    f"the node is started again in {delay:.0f}s (failure {failures}); a code update replaces it too"
                ],
            )
        self._set_op(
            op["id"], phase_started=None, reason=status_reason(f"node {node_id} failed to start: {why}")
        )
