"""Watching an update: a Deployment whose events come from a polling thread.

The watch only reads (GetKxCluster; ListKxClusterNodes while updating, as often as the
``PollPolicy`` says), so stopping it (``detach``, Ctrl-C, a closed notebook) never cancels
the update; ``Engine.attach`` starts a new watch later. Events are emitted on changes (phase, status, nodes), not on every poll.
"""

from __future__ import annotations

import html
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime

from ..errors import DeploymentFailed, KxError
from . import history as hist
from .aws_errors import calling
from .logs import tail
from .polling import PollPolicy

# Deployment.status values that mean "deployed or nothing to do" (exit code 0)
OK_STATUSES = ("succeeded", "unchanged", "dry-run", "submitted", "detached")

NEVER_STARTED_SECONDS = 60.0  # RUNNING with the old code this long after the call: the update did not happen


@dataclass(frozen=True)
class Event:
    phase: str
    cluster_status: str
    nodes: list = field(default_factory=list)   # [{"nodeId", "status", "availabilityZoneId", "launchTime"}]
    elapsed: float = 0.0                        # seconds since the push started
    message: str = ""
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        head = f"[{self.elapsed:6.1f}s] {self.phase:<9}"
        status = f" {self.cluster_status}" if self.cluster_status else ""
        reason = f" ({self.reason})" if self.reason else ""
        return f"{head}{status} {self.message}{reason}".rstrip()


def jsonable(value):
    """Describe-call output made JSON-able (datetimes as ISO text)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def code_matches(running: dict | None, expected: dict) -> bool:
    running = running or {}
    if running.get("s3Bucket") != expected.get("s3Bucket") or running.get("s3Key") != expected.get("s3Key"):
        return False
    want, have = expected.get("s3ObjectVersion"), running.get("s3ObjectVersion")
    return not (want and have and want != have)


def judge(desc: dict, expected_code: dict | None, seen_updating: bool, pushed_at: float, now: float):
    """("wait" | "succeeded" | "failed", reason) for one GetKxCluster answer."""
    status = desc.get("status", "")
    reason = desc.get("statusReason") or ""
    if status in ("UPDATING", "PENDING"):
        return "wait", ""
    if status != "RUNNING":
        return "failed", f"the cluster is {status}" + (f": {reason}" if reason else "")
    modified = desc.get("lastModifiedTimestamp")
    touched = seen_updating or (isinstance(modified, datetime) and modified.timestamp() >= pushed_at - 1)
    applied = expected_code is None or code_matches(desc.get("code"), expected_code)
    if touched and applied:
        return "succeeded", ""
    if touched:
        return "failed", reason or "the update ended but the cluster does not run the pushed code"
    if now - pushed_at > NEVER_STARTED_SECONDS:
        return "failed", reason or "the cluster never started the update and does not run the pushed code"
    return "wait", ""


def took_update(desc: dict, pushed_code: dict, before: dict) -> bool:
    """After an update call whose answer was lost: whether the cluster took the update.

    ``before`` is the cluster as preflight saw it. It took the update when it is updating,
    runs the pushed code it did not run before, or changed since (an update that already
    ended; the watch then judges it). Otherwise it is untouched: the call never took effect.
    Comparing with preflight's answer, not the local clock, keeps clock skew out of it.
    """
    if desc.get("status") in ("UPDATING", "PENDING"):
        return True
    if code_matches(desc.get("code"), pushed_code) and not code_matches(before.get("code"), pushed_code):
        return True
    return jsonable(desc.get("lastModifiedTimestamp")) != jsonable(before.get("lastModifiedTimestamp"))


def running_since(desc: dict) -> float | None:
    """When the cluster became RUNNING, by its own clock (the service stamps
    ``lastModifiedTimestamp`` then): the history's durations must not include how late the
    watch saw it, or the poller's expected length would drift later with every push."""
    modified = desc.get("lastModifiedTimestamp")
    return modified.timestamp() if isinstance(modified, datetime) and desc.get("status") == "RUNNING" else None


def node_view(nodes: list[dict]) -> list[dict]:
    keep = ("nodeId", "status", "availabilityZoneId", "launchTime")
    return sorted((jsonable({k: n[k] for k in keep if k in n}) for n in nodes), key=lambda n: n.get("nodeId", ""))


class Deployment:
    """One push (or watch) and what became of it.

    ``status``: watching | succeeded | failed | unchanged | dry-run | submitted | detached.
    ``events`` grows as the watch runs; ``on_event`` is called from the watching thread.
    ``wait()`` blocks until the watch ends and returns ``result`` (a JSON-able dict, see
    ``kx_jupyter.deploy``); it does not raise: a failure is in ``status``, ``error`` and ``result``.
    ``detach()`` stops watching and never cancels the update.
    """

    def __init__(self, environment: str, cluster: str, result: dict, on_event=None):
        self.environment = environment
        self.cluster = cluster
        self.status = "watching"
        self.events: list[Event] = []
        self.result = {"status": self.status, "environment": environment, "cluster": cluster, **result}
        self.error: KxError | None = None
        self._on_event = on_event
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- used by the engine and the watch
    def emit(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception as exc:  # a broken view must not stop the watch
                warnings.warn(f"kx-jupyter: an on_event callback failed: {exc!r}", RuntimeWarning, stacklevel=2)

    def finish(self, status: str, error: KxError | None = None, **result) -> None:
        with self._lock:
            self.status = status
            self.error = error
            self.result.update(result, status=status)
            if error is not None:
                self.result.setdefault("reason", error.message)
        self._done.set()

    def start(self, target) -> None:
        self._thread = threading.Thread(target=target, name=f"kx-watch-{self.cluster}", daemon=True)
        self._thread.start()

    @property
    def stopping(self) -> threading.Event:
        return self._stop

    # -- public
    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    @property
    def exit_code(self) -> int:
        if self.status == "failed":
            return self.error.exit_code if self.error else 1
        return 0

    def wait(self, timeout: float | None = None) -> dict:
        self._done.wait(timeout)
        if self._done.is_set() and self._thread is not None:
            self._thread.join()
        return self.result

    def detach(self) -> None:
        """Stop watching; the update goes on (re-attach with ``Engine.attach``).

        Returns at once; the thread ends after its current call (``wait()`` joins it).
        """
        self._stop.set()

    def __repr__(self) -> str:
        last = f": {self.events[-1]}" if self.events else ""
        return f"<Deployment {self.environment}/{self.cluster} {self.status}{last}>"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{e.elapsed:.1f}s</td><td>{html.escape(e.phase)}</td>"
                       f"<td>{html.escape(e.cluster_status)}</td><td>{html.escape(e.message)}</td>"
                       f"<td>{html.escape(e.reason)}</td></tr>" for e in self.events)
        return (f"<div><b>{html.escape(self.environment)}/{html.escape(self.cluster)}</b>: "
                f"{html.escape(self.status)}<table>{rows}</table></div>")


class Watch:
    """The polling loop behind a Deployment (run in its thread)."""

    def __init__(self, deployment: Deployment, clients, settings, *, expected_code, pushed_at: float,
                 seen_updating: bool, history: hist.History | None, entry_id: int | None, expected_seconds: float):
        self.d = deployment
        self.clients = clients
        self.settings = settings
        self.expected_code = expected_code
        self.pushed_at = pushed_at
        self.seen_updating = seen_updating
        self.history = history
        self.entry_id = entry_id
        self.policy = PollPolicy(settings.poll_initial, settings.poll_max, expected_seconds)
        self._last = None
        self._status = None       # the cluster status at the previous poll
        self._nodes_seen: list[dict] = []

    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # never die silently in a thread: end the deployment with the reason
            error = exc if isinstance(exc, KxError) else KxError(f"watching stopped: {exc!r}")
            self.d.emit(Event("detached", "", [], self._elapsed(), "stopped watching; the update goes on", error.message))
            self.d.finish("detached", error=None, reason=error.message)

    def _elapsed(self) -> float:
        return max(0.0, time.time() - self.pushed_at)

    def _loop(self) -> None:
        env, name = self.d.environment, self.d.cluster
        while True:
            if self.d.stopping.is_set():
                self.d.emit(Event("detached", "", [], self._elapsed(), "stopped watching; the update goes on"))
                self.d.finish("detached", elapsed=self._elapsed())
                return
            elapsed = self._elapsed()
            if elapsed > self.settings.timeout:
                self._fail(f"no result after watching {elapsed:.0f}s (KxJupyter.timeout); the update goes on",
                           hist.TIMED_OUT, "")
                return
            try:
                with calling(f"reading cluster {name}", self.settings):
                    desc = self.clients.finspace.get_kx_cluster(environmentId=env, clusterName=name)
                    status = desc.get("status", "")
                    if status == "UPDATING" and self.policy.list_nodes(elapsed, changed=status != self._status):
                        self._nodes_seen = self._nodes(env, name)
            except KxError as exc:
                self.d.emit(Event("nodes", "", [], elapsed, "cannot read the cluster; retrying", exc.message))
                self.d.stopping.wait(self.policy.next(elapsed))
                continue
            self._status = status
            self.seen_updating = self.seen_updating or status == "UPDATING"
            verdict, reason = judge(desc, self.expected_code, self.seen_updating, self.pushed_at, time.time())
            if verdict == "wait":
                self._changed(status, self._nodes_seen if status == "UPDATING" else [], elapsed)
            elif verdict == "succeeded":
                final_nodes = self._final_nodes(env, name)
                self.d.emit(Event("done", status, final_nodes, elapsed, "the cluster runs the pushed code"))
                if self.history and self.entry_id:
                    self.history.finish(self.entry_id, hist.SUCCEEDED, finished_at=running_since(desc))
                self.d.finish("succeeded", elapsed=elapsed, nodes=final_nodes)
                return
            else:
                self._fail(reason, hist.FAILED, status, desc, nodes=self._final_nodes(env, name))
                return
            self.d.stopping.wait(self.policy.next(elapsed))

    def _nodes(self, env, name) -> list[dict]:
        pages, kwargs = [], {"environmentId": env, "clusterName": name, "maxResults": 100}
        for _ in range(10):
            page = self.clients.finspace.list_kx_cluster_nodes(**kwargs)
            pages.extend(page.get("nodes", []))
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        return node_view(pages)

    def _final_nodes(self, env, name) -> list[dict]:
        try:
            with calling(f"listing the nodes of {name}", self.settings):
                return self._nodes(env, name)
        except KxError:
            return []

    def _changed(self, status: str, nodes: list[dict], elapsed: float) -> None:
        signature = (status, tuple((n.get("nodeId"), n.get("status")) for n in nodes))
        if signature == self._last:
            return
        self._last = signature
        running = sum(1 for n in nodes if n.get("status") == "RUNNING")
        others = ", ".join(f"{n.get('nodeId')} {n.get('status')}" for n in nodes if n.get("status") != "RUNNING")
        message = f"{running}/{len(nodes)} nodes running" if nodes else f"cluster {status.lower()}"
        message += f"; {others}" if others else ""
        self.d.emit(Event("nodes", status, nodes, elapsed, message))

    def _fail(self, reason: str, outcome: str, status: str, desc: dict | None = None, nodes=()) -> None:
        """End as failed; ``nodes``: the cluster's nodes now (after the service kept the previous code)."""
        elapsed = self._elapsed()
        lines = tail(self.clients.logs, self.d.environment, self.d.cluster, int((self.pushed_at - 1) * 1000),
                     settings=self.settings)
        still = ""
        if desc and self.expected_code and desc.get("code") and not code_matches(desc.get("code"), self.expected_code):
            still = f"; the cluster still runs s3://{desc['code'].get('s3Bucket')}/{desc['code'].get('s3Key')}"
        error = DeploymentFailed(f"the update of {self.d.cluster} failed: {reason}{still}", hint="See the log tail below; fix the code and push again, "
                                               "or `kx-jupyter rollback`.")
        if self.history and self.entry_id:
            self.history.finish(self.entry_id, outcome, reason, "\n".join(lines))
        self.d.emit(Event("failed", status, list(nodes), elapsed, f"the update failed{still}", reason))
        self.d.finish("failed", error=error, reason=reason, log_tail=lines, elapsed=elapsed, nodes=list(nodes))
