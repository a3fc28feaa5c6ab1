"""Following an update: a pure step over what the service answered, and a Deployment of events.

``step(state, observation, now) -> (events, next_poll_at, verdict)`` holds the whole watch: the
poll policy (``PollPolicy``), what each node runs (old code, restarting, new code, failed), the
node logs since this push, and every verdict (succeeded, failed, still updating when watching
stops). It makes no call and reads no clock, so it is tested with recorded observations and a
fake clock. ``Reader`` makes the calls a ``Poll`` asks for; ``Deployment.wait`` (the caller's
thread: the CLI, a foreground cell, the form's worker) or ``Deployment.follow_in_background``
(one thread, for a background cell) is the one loop that joins them.

Stopping the watch (a timeout, Ctrl-C, ``detach``) never cancels the update: the outcome is
"still updating, stopped watching" (status ``still-updating``), and the next command that looks
at the cluster settles it (``Engine.settle``).
"""

from __future__ import annotations

import html
import re
import threading
import time
import warnings
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from datetime import datetime

from ..errors import DeploymentFailed, KxError
from .aws_errors import calling
from .logs import log_group
from .polling import Poll, PollPolicy

# Deployment.status values that mean "deployed or nothing to do" (exit code 0)
OK_STATUSES = ("succeeded", "unchanged", "dry-run", "submitted")
STILL_UPDATING = "still-updating"  # the watch stopped (timeout, Ctrl-C, detach); the update goes on
EXIT_STILL_UPDATING = 3
ENDINGS = ("done", "failed", "unchanged", STILL_UPDATING)

NEVER_STARTED_SECONDS = 60.0  # RUNNING with the old code this long after the call: the update did not happen
OLD, RESTARTING, NEW, FAILED = "old code", "restarting", "new code", "failed"
FAILED_BACK = "failed, old code again"  # the failing node, restarted by the service on the previous code
LOG_TAIL_LINES = 40
PROGRESS_EVERY = 1.0  # seconds between two progress events of a long check or bundle
PROGRESS_FROM = (100, 16 * 2**20)  # files or bytes from which a step says its progress (a large workspace)
# a node log line that says something went wrong (q's own errors start with a quote)
ERROR_LINE = re.compile(r"^'|\berror\b|\bfailed\b|\bexception\b", re.IGNORECASE)


@dataclass(frozen=True)
class Event:
    """One thing that happened; ``elapsed`` counts from the command's start.

    phase: progress (of a long check or bundle: ``progress``), check, bundle, stage, update, nodes
    (a change), checked (a read, nothing new), log (new node log lines in ``log``), done, failed,
    unchanged, still-updating. Ending events carry the final ``Deployment.result`` in ``result``."""

    phase: str
    cluster_status: str = ""
    nodes: list = field(
        default_factory=list
    )  # [{"nodeId", "status", "code", "availabilityZoneId", "launchTime"}]
    elapsed: float = 0.0
    message: str = ""
    reason: str = ""
    checked: float | None = None  # elapsed at the last read of the cluster
    log: dict = field(default_factory=dict)  # {nodeId: [new lines]}
    result: dict | None = field(default=None, repr=False, compare=False)
    progress: dict | None = None  # {"step", "files", "bytes", "total_files", "total_bytes"}

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("result")
        return out

    def __str__(self) -> str:
        head = f"[{self.elapsed:6.1f}s] {self.phase:<9}"
        status = f" {self.cluster_status}" if self.cluster_status else ""
        reason = f" ({self.reason})" if self.reason else ""
        return f"{head}{status} {self.message}{reason}".rstrip()


class Interrupted(KeyboardInterrupt):
    """Ctrl-C before the watch started, saying how far the push got (exit code 130).

    A KeyboardInterrupt still (a release, a cell stop as before), with a ``message``, a ``hint``
    and a ``status``: ``not-pushed``, nothing reached the cluster (during check, bundle, preflight
    or the upload, or uploaded but the update not requested); ``unknown``, during the update call,
    whose answer never came; ``still-updating``, the update was requested and goes on."""

    exit_code = 130

    def __init__(self, message: str, status: str, *, hint: str = ""):
        super().__init__(message)
        self.message, self.status, self.hint = message, status, hint

    def __str__(self) -> str:
        return f"{self.message}\n  -> {self.hint}" if self.hint else self.message


def interrupted(cluster: str, reached: str, *, uploaded: str = "", token: str = "") -> Interrupted:
    """The Ctrl-C before the watch, by the last step ``reached``: plan, upload, uploaded, call, requested."""
    watch = f"kx-jupyter status {cluster} --watch"
    if reached in ("plan", "upload"):
        doing = "while checking and bundling" if reached == "plan" else "during the upload"
        return Interrupted(
            f"interrupted (Ctrl-C) {doing}: nothing was pushed, {cluster} is unchanged", "not-pushed"
        )
    if reached == "uploaded":
        return Interrupted(
            f"interrupted (Ctrl-C): the code was uploaded ({uploaded}) but the update was not requested; "
            f"{cluster} is unchanged",
            "not-pushed",
            hint="Push again: the upload is reused (0 bytes).",
        )
    if reached == "call":
        return Interrupted(
            f"interrupted (Ctrl-C) during the update call (clientToken {token}): {cluster} may or may not be updating",
            "unknown",
            hint=f"Find out with `{watch}`; the next look at the cluster records how it ended.",
        )
    return Interrupted(
        f"interrupted (Ctrl-C): the update of {cluster} was requested (clientToken {token}); still updating, "
        "stopped watching: the update goes on",
        STILL_UPDATING,
        hint=f"Re-attach: `{watch}`; the next look at the cluster records how it ended.",
    )


def tell(listener, event) -> None:
    """Give ``event`` to one listener; a broken view must not stop the push."""
    try:
        listener(event)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        warnings.warn(f"kx-jupyter: an on_event callback failed: {exc!r}", RuntimeWarning, stacklevel=3)


def showing_nodes(listener):
    """Mark an ``on_event`` listener as one that draws the node table (a cell's view, the CLI's text
    lines): a push it hears lists each node's turn. Node listings are calls, paid only where someone
    sees them (``polling.PollPolicy``'s ``turns``); returns ``listener``."""
    listener.shows_nodes = True
    return listener


def shows_nodes(listeners) -> bool:
    """Whether one of ``listeners`` draws the node table (``showing_nodes``)."""
    return any(getattr(listener, "shows_nodes", False) for listener in listeners)


class Recorder:
    """Events said before the Deployment exists (bundle, check and their progress): kept, and told to
    ``on_event`` as they happen."""

    def __init__(self, on_event=None):
        self.events: list[Event] = []
        self.on_event = on_event

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if self.on_event is not None:
            tell(self.on_event, event)


class Progress:
    """A progress hook for one step (``check`` or ``bundle``) of a large workspace (``PROGRESS_FROM``),
    or the upload of a large bundle (``sent``, step ``stage``), that emits at most one ``progress``
    event per ``every`` seconds, none in the first ``every`` s (a quick step says nothing more) and
    none once the step is done (its own event says that); elapsed from ``started``, the command's start."""

    def __init__(self, emit, step: str, started: float, every: float | None = None, clock=time.time):
        every = PROGRESS_EVERY if every is None else every
        self.emit, self.step, self.started, self.every, self.clock = emit, step, started, every, clock
        self._next = clock() + every

    def __call__(self, files: int, size: int, total_files: int, total_bytes: int) -> None:
        if files >= total_files or (total_files < PROGRESS_FROM[0] and total_bytes < PROGRESS_FROM[1]):
            return
        said = f"{files:,}/{total_files:,} files, {_size(size)} of {_size(total_bytes)}"
        self._say(said, files=files, bytes=size, total_files=total_files, total_bytes=total_bytes)

    def sent(self, size: int, total_bytes: int) -> None:
        """The upload: ``size`` of ``total_bytes`` bytes sent (a bundle of ``PROGRESS_FROM[1]`` bytes or more)."""
        if size >= total_bytes or total_bytes < PROGRESS_FROM[1]:
            return
        self._say(f"{_size(size)} of {_size(total_bytes)} uploaded", bytes=size, total_bytes=total_bytes)

    def _say(self, said: str, **figures) -> None:
        now = self.clock()
        if now < self._next:
            return
        self._next = now + self.every
        self.emit(
            Event(
                "progress",
                elapsed=now - self.started,
                message=f"{self.step}: {said}",
                progress={"step": self.step, **figures},
            )
        )


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"


def jsonable(value):
    """Describe-call output made JSON-able (datetimes as ISO text)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def _seconds(value) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return float(value) if isinstance(value, (int, float)) else None


def code_matches(running: dict | None, expected: dict) -> bool:
    running = running or {}
    if running.get("s3Bucket") != expected.get("s3Bucket") or running.get("s3Key") != expected.get("s3Key"):
        return False
    want, have = expected.get("s3ObjectVersion"), running.get("s3ObjectVersion")
    return not (want and have and want != have)


def modified_at(desc: dict) -> float | None:
    """The cluster's ``lastModifiedTimestamp`` in epoch seconds, by the cluster's own clock."""
    return _seconds(desc.get("lastModifiedTimestamp"))


def changed_since(desc: dict, before: float | None, pushed_at: float) -> bool:
    """Whether the cluster changed since the push: its stamp differs from the one preflight saw
    (``before``). Pushes recorded without it fall back to this machine's clock (``pushed_at``),
    which a freshly created cluster, whose stamp is recent, can fool."""
    modified = modified_at(desc)
    if modified is None:
        return False
    if before is not None:
        return abs(modified - before) > 1e-3  # both by the cluster's clock: no skew, no creation stamp
    return modified >= pushed_at - 1


def not_taken(desc: dict, expected_code: dict, before: float | None) -> bool:
    """An update call whose answer never came did not reach the cluster: it is RUNNING on other code,
    unchanged since preflight (by its own stamps; unknowable without ``before``)."""
    return (
        before is not None
        and desc.get("status") == "RUNNING"
        and not code_matches(desc.get("code"), expected_code)
        and not changed_since(desc, before, 0.0)
    )


def judge(
    desc: dict,
    expected_code: dict | None,
    seen_updating: bool,
    pushed_at: float,
    now: float,
    before: float | None = None,
):
    """("wait" | "succeeded" | "failed", reason) for one GetKxCluster answer; ``before``: the cluster's
    ``lastModifiedTimestamp`` at preflight (see ``changed_since``)."""
    status = desc.get("status", "")
    reason = desc.get("statusReason") or ""
    if status in ("UPDATING", "PENDING"):
        return "wait", ""
    if status != "RUNNING":
        return "failed", f"the cluster is {status}" + (f": {reason}" if reason else "")
    touched = seen_updating or changed_since(desc, before, pushed_at)
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
    return _seconds(desc.get("lastModifiedTimestamp")) if desc.get("status") == "RUNNING" else None


def node_view(nodes: list[dict]) -> list[dict]:
    keep = ("nodeId", "status", "availabilityZoneId", "launchTime")
    return sorted(
        (jsonable({k: n[k] for k in keep if k in n}) for n in nodes), key=lambda n: n.get("nodeId", "")
    )


def first_error(lines: dict[str, list[tuple]]) -> tuple[str, str] | None:
    """(node, line): the earliest log line since the push that says something went wrong, verbatim.
    ``lines``: {node: [(timestamp, arrival, line)]}; lines of one instant keep the order they came in."""
    found = [
        (ts, n, node, text)
        for node, entries in lines.items()
        for ts, n, text in entries
        if ERROR_LINE.search(text)
    ]
    return (min(found)[2], min(found)[3]) if found else None


# -- the pure watch -------------------------------------------------------------------------------


@dataclass
class Observation:
    """What one read returned: each part None when it was not asked for (or could not be read)."""

    cluster: dict | None = None
    nodes: list | None = None
    logs: list | None = None  # FilterLogEvents events since the last read
    error: str = ""  # why a read failed (the watch retries)


@dataclass(frozen=True)
class Verdict:
    status: str  # succeeded | failed | still-updating
    reason: str = ""
    finished_at: float | None = None  # succeeded: when the cluster became RUNNING, by its clock


@dataclass
class WatchState:
    """Everything the watch knows; ``step`` updates it in place."""

    policy: PollPolicy
    started: float  # the command's start: every elapsed counts from it
    submitted: float  # just before the update call: the poll policy and the logs count from it
    deadline: float  # stop watching then (the update goes on)
    expected_code: dict | None = None
    seen_updating: bool = False
    modified_before: float | None = None  # the cluster's lastModifiedTimestamp at preflight (its clock)
    poll: Poll = field(default_factory=lambda: Poll(0.0, cluster=True, nodes=True))
    status: str = ""
    reason: str = ""
    nodes: list = field(default_factory=list)
    restarted: set = field(default_factory=set)  # nodes seen PROVISIONING during this watch
    launched: dict = field(default_factory=dict)  # {node: launchTime at its first listing}
    logs: dict = field(default_factory=dict)  # {node: [(timestamp s, arrival, line)]}
    log_ids: set = field(default_factory=set)
    error: tuple | None = None  # (node, first error line)
    failing_since: float | None = None  # epoch s when the first error line was logged
    checked: float | None = None  # elapsed at the last read of the cluster or its nodes
    anchor: float = 0.0  # last node change, seconds since the call
    ending: Verdict | None = None  # decided; waiting for the final node listing
    signature: tuple = ()
    desc: dict = field(default_factory=dict)

    @property
    def next_poll_at(self) -> float:
        return min(self.submitted + self.poll.at, self.deadline)


def new_state(
    policy: PollPolicy,
    *,
    started: float,
    submitted: float,
    deadline: float,
    expected_code=None,
    seen_updating: bool = False,
    modified_before: float | None = None,
) -> WatchState:
    """``deadline``: when to stop watching (epoch s); the first read is the policy's."""
    state = WatchState(policy, started, submitted, deadline, expected_code, seen_updating, modified_before)
    state.poll = policy.first()
    return state


def _code_of(state: WatchState, node: dict) -> str:
    node_id = node.get("nodeId")
    launched = _seconds(node.get("launchTime"))
    restored = (
        node.get("status") == "RUNNING"
        and state.failing_since is not None
        and launched is not None
        and launched >= state.failing_since - 1
    )  # restarted after the failure: the service puts the previous code back
    if state.error and state.error[0] == node_id:
        return FAILED_BACK if restored else FAILED
    if node.get("status") != "RUNNING":
        return RESTARTING
    if restored:
        return OLD
    if node_id in state.restarted:
        return NEW
    if node_id in state.launched:  # on the old code at its first listing: new once launched again
        return NEW if launched != state.launched[node_id] else OLD
    return NEW if launched is not None and launched >= state.submitted else OLD


def headline(nodes: list[dict]) -> str:
    if not nodes:
        return ""
    new = sum(1 for n in nodes if n.get("code") == NEW)
    return f"{new}/{len(nodes)} node{'s' if len(nodes) != 1 else ''} on the new code"


def step(state: WatchState, obs: Observation, now: float) -> tuple[list[Event], float, Verdict | None]:
    """Apply one read made at ``now``: the events it causes, when to read next, and the verdict
    (None while the update goes on). No calls, no clock: ``now`` is the caller's."""
    elapsed = max(0.0, now - state.started)
    events: list[Event] = []
    if obs.logs:
        fresh = _take_logs(state, obs.logs)
        if fresh:
            events.append(Event("log", state.status, [], elapsed, checked=state.checked, log=fresh))
    if obs.nodes is not None:
        _take_nodes(state, obs.nodes)
        state.checked = elapsed
    if state.ending is not None:  # the final listing is in (or could not be read: end anyway)
        return events + [_ending_event(state, elapsed)], now, state.ending
    if obs.error:
        events.append(
            Event(
                "checked",
                state.status,
                [],
                elapsed,
                "cannot read the cluster; retrying",
                obs.error,
                checked=state.checked,
            )
        )
        state.poll = Poll(
            max(state.poll.at, now - state.submitted) + state.policy.fine * 2,
            cluster=True,
            nodes=state.poll.nodes,
        )
        return events, state.next_poll_at, None
    verdict = None
    if obs.cluster is not None:
        state.desc = obs.cluster
        state.status = obs.cluster.get("status", "")
        state.reason = obs.cluster.get("statusReason") or ""
        state.checked = elapsed
        state.seen_updating = state.seen_updating or state.status == "UPDATING"
        said, reason = judge(
            obs.cluster, state.expected_code, state.seen_updating, state.submitted, now, state.modified_before
        )
        if said == "succeeded":
            verdict = Verdict("succeeded", finished_at=running_since(obs.cluster))
        elif said == "failed":
            verdict = Verdict("failed", reason)
    signature = (
        state.status,
        tuple((n.get("nodeId"), n.get("status"), n.get("code")) for n in state.nodes),
        state.error,
    )
    if verdict is not None:
        pass  # the ending event follows the final listing
    elif signature != state.signature:
        state.signature = signature
        events.append(
            Event(
                "nodes",
                state.status,
                [dict(n) for n in state.nodes],
                elapsed,
                _progress(state),
                checked=state.checked,
            )
        )
    elif obs.cluster is not None or obs.nodes is not None:
        events.append(Event("checked", state.status, [], elapsed, checked=state.checked))
    if verdict is not None:
        state.ending = verdict
        state.poll = Poll(now - state.submitted, cluster=False, nodes=True)  # the final listing, at once
        return events, now, None
    if now >= state.deadline:
        return (
            events + [_stopped(state, elapsed, "timeout")],
            now,
            Verdict(STILL_UPDATING, _stop_reason("timeout")),
        )
    left = sum(1 for n in state.nodes if n.get("code") != NEW) if obs.nodes is not None else None
    state.poll = state.policy.after(now - state.submitted, left, state.anchor)
    return events, state.next_poll_at, None


def show_turns(state: WatchState, now: float) -> None:
    """Someone sees the node table from ``now`` on (a view joined the watch late): the next read
    lists the nodes within the policy's ``fine`` and each node's turn is listed from then on
    (``PollPolicy.show_turns``). Pure like ``step``: the following thread applies it between reads."""
    state.poll = state.policy.show_turns(now - state.submitted, state.poll)


def stop(state: WatchState, now: float, why: str) -> tuple[list[Event], Verdict]:
    """Stop watching (why: timeout, interrupted, detached): the update goes on."""
    elapsed = max(0.0, now - state.started)
    return [_stopped(state, elapsed, why)], Verdict(STILL_UPDATING, _stop_reason(why))


def _stop_reason(why: str) -> str:
    return {
        "timeout": "the watch timed out (KxJupyter.timeout / --timeout)",
        "interrupted": "interrupted (Ctrl-C)",
    }.get(why, "the watch was stopped")


def _stopped(state: WatchState, elapsed: float, why: str) -> Event:
    return Event(
        STILL_UPDATING,
        state.status,
        [dict(n) for n in state.nodes],
        elapsed,
        "still updating, stopped watching: the update goes on",
        _stop_reason(why),
        checked=state.checked,
    )


def _progress(state: WatchState) -> str:
    text = headline(state.nodes) or f"cluster {state.status.lower()}"
    moving = ", ".join(
        f"{n.get('nodeId')} {n.get('code')}"
        for n in state.nodes
        if n.get("code") in (RESTARTING, FAILED, FAILED_BACK)
    )
    return text + (f"; {moving}" if moving else "")


def _take_logs(state: WatchState, events: list) -> dict:
    fresh: dict[str, list[str]] = {}
    since_ms = state.submitted * 1000
    for e in sorted(
        events, key=lambda e: e.get("timestamp", 0)
    ):  # stable: one instant's lines keep their order
        key = e.get("eventId") or (e.get("logStreamName"), e.get("timestamp"), e.get("message"))
        if key in state.log_ids or e.get("timestamp", 0) < since_ms:
            continue
        state.log_ids.add(key)
        node, text = e.get("logStreamName", ""), (e.get("message") or "").rstrip()
        state.logs.setdefault(node, []).append((e.get("timestamp", 0) / 1000, len(state.log_ids), text))
        fresh.setdefault(node, []).append(text)
    if state.error is None:
        state.error = first_error(state.logs)
        if state.error is not None:
            state.failing_since = min(
                ts for ts, _, text in state.logs[state.error[0]] if text == state.error[1]
            )
    return fresh


def _take_nodes(state: WatchState, nodes: list) -> None:
    view = node_view(nodes)
    for n in view:
        n["code"] = _code_of(state, n)
        node_id = n.get("nodeId")
        if n["code"] in (RESTARTING, NEW):
            state.restarted.add(node_id)
        elif n["code"] == OLD:
            state.launched.setdefault(node_id, _seconds(n.get("launchTime")))
    launches = [_seconds(n.get("launchTime")) for n in view if n["code"] == NEW]
    launches = [ts for ts in launches if ts is not None and ts >= state.submitted]
    if launches:
        state.anchor = max(state.anchor, max(launches) - state.submitted)
    state.nodes = view


def _ending_event(state: WatchState, elapsed: float) -> Event:
    verdict = state.ending
    if verdict.status == "succeeded":
        for n in state.nodes:
            n["code"] = NEW
        return Event(
            "done",
            state.status,
            [dict(n) for n in state.nodes],
            elapsed,
            "the cluster runs the pushed code",
            checked=state.checked,
        )
    for n in state.nodes:
        failing = state.error and state.error[0] == n.get("nodeId")
        n["code"] = (n.get("code") if n.get("code") in (FAILED, FAILED_BACK) else FAILED) if failing else OLD
    return Event(
        "failed",
        state.status,
        [dict(n) for n in state.nodes],
        elapsed,
        state.error[1] if state.error else "the update failed",
        verdict.reason,
        checked=state.checked,
    )


def log_tail(state: WatchState, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` node log lines since this push, oldest first, each "node: message"."""
    merged = sorted((ts, n, node, text) for node, entries in state.logs.items() for ts, n, text in entries)
    return [f"{node}: {text}" for _, _, node, text in merged[-lines:]]


# -- the calls ----------------------------------------------------------------------------------


class Reader:
    """Makes the calls a ``Poll`` asks for; node logs come with every node listing."""

    def __init__(self, clients, settings, environment: str, cluster: str, since: float):
        self.clients, self.settings = clients, settings
        self.environment, self.cluster = environment, cluster
        self.since_ms = int(since * 1000)

    def read(self, poll: Poll) -> Observation:
        obs = Observation()
        env, name = self.environment, self.cluster
        try:
            with calling(f"reading cluster {name}", self.settings):
                if poll.cluster:
                    obs.cluster = self.clients.finspace.get_kx_cluster(environmentId=env, clusterName=name)
                if poll.nodes:
                    obs.nodes = self._nodes()
        except KxError as exc:
            return Observation(error=exc.message)
        if poll.nodes:
            obs.logs = self._logs()
        return obs

    def _nodes(self) -> list[dict]:
        pages, kwargs = (
            [],
            {"environmentId": self.environment, "clusterName": self.cluster, "maxResults": 100},
        )
        while True:
            page = self.clients.finspace.list_kx_cluster_nodes(**kwargs)
            pages.extend(page.get("nodes", []))
            if not page.get("nextToken"):
                return pages
            kwargs["nextToken"] = page["nextToken"]

    def _logs(self) -> list[dict]:
        """New node log events; a log that cannot be read never hides the update's state."""
        group = log_group(self.environment, self.cluster)
        found, kwargs = [], {"logGroupName": group, "startTime": self.since_ms}
        try:
            with calling(f"reading the log group {group}", self.settings):
                while True:
                    page = self.clients.logs.filter_log_events(**kwargs)
                    found.extend(page.get("events", []))
                    if not page.get("nextToken"):
                        break
                    kwargs["nextToken"] = page["nextToken"]
        except KxError:
            return []
        if found:
            self.since_ms = max(
                e.get("timestamp", 0) for e in found
            )  # events at that instant are de-duplicated
        return found


# -- the deployment -----------------------------------------------------------------------------


class Deployment:
    """One push (or watch): a future and an append-only list of events.

    ``status``: watching | succeeded | failed | unchanged | dry-run | submitted | still-updating.
    ``wait()`` follows the update in the calling thread until it ends (or ``timeout`` s pass)
    and returns ``result`` (see ``kx_jupyter.deploy``); it does not raise for a failure (that is
    in ``status``, ``error`` and ``result``), but Ctrl-C while it follows ends the watch as
    still-updating and is raised again. ``follow_in_background()`` follows in one thread
    instead. ``detach()`` stops following; it never cancels the update.
    Listeners (``on_event``, ``on_tick``) run in the following thread.
    """

    def __init__(
        self, environment: str, cluster: str, result: dict, on_event=None, started: float | None = None
    ):
        self.environment = environment
        self.cluster = cluster
        self.started = time.time() if started is None else started
        self.events: list[Event] = []
        self.result = {"status": "watching", "environment": environment, "cluster": cluster, **result}
        self.error: KxError | None = None
        self.future: Future = Future()
        self._listeners = [on_event] if on_event else []
        self._table_shown = False  # a view drawing the node table joined (``show_nodes``)
        self._tickers: list = []
        self._follow = None  # (state, reader, on_end) while there is an update to follow
        self._lock = threading.Lock()
        self._driving = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # the following loop's wait ends early: stop, or a node table shown
        self._thread: threading.Thread | None = None

    @property
    def status(self) -> str:
        return self.result["status"]

    # -- used by the engine
    @property
    def shows_nodes(self) -> bool:
        """A listener draws the node table (``showing_nodes``) or a view that does joined (``show_nodes``):
        the watch lists each node's turn, from the moment it does."""
        with self._lock:
            return self._table_shown or shows_nodes(self._listeners)

    def listen(self, on_event) -> None:
        """Add a listener, also to a running watch; one that draws the node table turns the node turns on."""
        with self._lock:
            self._listeners.append(on_event)
        if shows_nodes([on_event]):
            self._wake.set()

    def show_nodes(self) -> None:
        """A view that draws the node table now shows this deployment (``%kx_status`` on a background
        push): the following loop lists the nodes at once and each turn after (``watch.show_turns``)."""
        with self._lock:
            self._table_shown = True
        self._wake.set()

    def on_tick(self, callback) -> None:
        """``callback()`` about once a second while waiting between reads (clocks in views)."""
        self._tickers.append(callback)

    def emit(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)
            listeners = list(self._listeners)
        for listener in listeners:
            tell(listener, event)

    def record(self, events: list[Event]) -> None:
        """Add events its listeners already heard (the plan's bundle and check) to the list, telling no one."""
        with self._lock:
            self.events.extend(events)

    def finish(self, status: str, error: KxError | None = None, **result) -> None:
        with self._lock:
            self.error = error
            self.result.update(result, status=status)
            if error is not None:
                self.result.setdefault("reason", error.message)
        if not self.future.done():
            self.future.set_result(self.result)

    def follow(self, state: WatchState, reader: Reader, on_end) -> None:
        """Give the deployment an update to follow; ``on_end(verdict, state)`` records the outcome."""
        self._follow = (state, reader, on_end)

    # -- public
    @property
    def following(self) -> bool:
        """There is an update to follow and it has not ended."""
        return self._follow is not None and not self.done

    @property
    def done(self) -> bool:
        return self.future.done()

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    @property
    def exit_code(self) -> int:
        if self.status == "failed":
            return self.error.exit_code if self.error else 1
        return EXIT_STILL_UPDATING if self.status == STILL_UPDATING else 0

    def wait(self, timeout: float | None = None) -> dict:
        until = None if timeout is None else time.time() + timeout
        if self._follow is not None and self._driving.acquire(blocking=False):
            try:
                self._drive(until)
            except KeyboardInterrupt:
                self._end_watch(time.time(), "interrupted")
                raise
            finally:
                self._driving.release()
        else:  # another thread follows it: wait for the end, ticking this thread's listeners
            self._wait_for_end(until)
        return self.result

    def follow_in_background(self) -> None:
        """Follow the update in one daemon thread (a kernel's background watch)."""
        if self._follow is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self.wait, name=f"kx-watch-{self.cluster}", daemon=True)
        self._thread.start()

    def detach(self, timeout: float | None = 10.0) -> None:
        """Stop following (the update goes on); returns once the following loop has ended."""
        self._stop.set()
        self._wake.set()
        if self._follow is not None and not self.done and self._driving.acquire(blocking=False):
            try:  # nobody follows right now: end it here
                self._end_watch(time.time(), "detached")
            finally:
                self._driving.release()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _wait_for_end(self, until: float | None) -> None:
        while not self.done and (until is None or time.time() < until):
            wake = 1.0 if until is None else max(0.0, min(1.0, until - time.time()))
            try:
                self.future.result(wake)
            except Exception:  # noqa: BLE001 - a timeout: tick and go on
                pass
        if self._thread is not None and self.done and self._thread is not threading.current_thread():
            self._thread.join()

    def _drive(self, until: float | None) -> None:
        state, reader, _ = self._follow
        while not self.done:
            self._wake.clear()
            now = time.time()
            if self._stop.is_set():
                self._end_watch(now, "detached")
                return
            if until is not None and now >= until:
                return
            if not state.policy.turns and self.shows_nodes:  # a view with the node table joined
                show_turns(state, now)
            if now + 1e-3 >= state.next_poll_at:
                obs = reader.read(state.poll)
                events, _, verdict = step(state, obs, time.time())
                for event in events[:-1] if verdict else events:
                    self.emit(event)
                if verdict is not None:
                    self._settle(verdict, events[-1] if events else None)
                continue
            wake = min(state.next_poll_at, now + 1.0, until if until is not None else now + 1.0)
            self._wake.wait(max(0.0, wake - now))
            for tick in list(self._tickers):
                tick()

    def _end_watch(self, now: float, why: str) -> None:
        if self.done or self._follow is None:
            return
        events, verdict = stop(self._follow[0], now, why)
        self._settle(verdict, events[-1])

    def _settle(self, verdict: Verdict, last: Event | None) -> None:
        """Record the outcome, then tell the listeners (the last event carries the result)."""
        state, _, on_end = self._follow
        error = on_end(verdict, state)
        elapsed = max(0.0, time.time() - self.started)
        self.result.update(
            elapsed=round(elapsed, 3),
            nodes=[dict(n) for n in state.nodes],
            reason=verdict.reason,
            first_error=({"node": state.error[0], "line": state.error[1]} if state.error else None),
            status_reason=state.reason,
        )
        if verdict.status == "failed":
            self.result["log_tail"] = log_tail(state)
        with self._lock:
            self.error = error
            self.result["status"] = verdict.status
        if last is not None:
            self.emit(
                Event(
                    last.phase,
                    last.cluster_status,
                    last.nodes,
                    last.elapsed,
                    last.message,
                    last.reason,
                    last.checked,
                    last.log,
                    result=dict(self.result),
                )
            )
        if not self.future.done():
            self.future.set_result(self.result)

    def __repr__(self) -> str:
        last = f": {self.events[-1]}" if self.events else ""
        return f"<Deployment {self.environment}/{self.cluster} {self.status}{last}>"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{e.elapsed:.1f}s</td><td>{html.escape(e.phase)}</td>"
            f"<td>{html.escape(e.cluster_status)}</td><td>{html.escape(e.message)}</td>"
            f"<td>{html.escape(e.reason)}</td></tr>"
            for e in self.events
            if e.phase not in ("checked", "log")
        )
        return (
            f"<div><b>{html.escape(self.environment)}/{html.escape(self.cluster)}</b>: "
            f"{html.escape(self.status)}<table>{rows}</table></div>"
        )


def failure(cluster: str, verdict: Verdict, state: WatchState) -> DeploymentFailed:
    """The error of a failed update: the failing node's first error line first, the service's reason after."""
    still = ""
    code = (state.desc or {}).get("code")
    if code and state.expected_code and not code_matches(code, state.expected_code):
        still = f"; the cluster still runs s3://{code.get('s3Bucket')}/{code.get('s3Key')}"
    said = f"{state.error[0]}: {state.error[1]}" if state.error else verdict.reason
    more = f" ({verdict.reason})" if state.error and verdict.reason else ""
    return DeploymentFailed(
        f"the update of {cluster} failed: {said}{more}{still}",
        hint="See the node log below; fix the code and push again, or `kx-jupyter rollback`.",
    )
