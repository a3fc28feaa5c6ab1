"""Figure 3: how soon the watch sees an update end, and what that costs in API calls.

Measured end to end on the local plane (real ROLLING updates of hdb-3, three nodes, whose length
is set by the plane's node start time), side by side with AWS's example poller (GetKxCluster every
10 s), for 2, 6, 30 and 60 s updates: the detection delay (the cluster's own RUNNING stamp to
the moment the engine says done) and the status calls (GetKxCluster + ListKxClusterNodes, from
the plane's request counters; the node-log reads that come with each listing are reported
beside them, the fixed poller has no equivalent). Each length is pushed once first, so the
measured pushes know the length from history, as every push after the first does. The 2 and 6 s
updates (nodes under 10 s each) are allowed one call per node more than the fixed poll: the
watch lists the nodes at each turn so every node's old -> restarting -> new is shown, which a
fixed poll never shows.

Real FinSpace updates take 10-15 minutes, too long to run here: those rows replay the watch's
pure ``step`` against a simulated ROLLING update on a fake clock (the same code path the engine
drives, without the calls), against AWS's published helper (GetKxCluster every 30 s).
"""

from __future__ import annotations

import threading
import time

from common import Figure, local_plane, median, request_counts, wait_running, write_tree

CLUSTER = "hdb-3"
NODES = 3
REAL_SECONDS = (2, 6, 30, 60)
STATUS_OPS = ("GetKxCluster", "ListKxClusterNodes")
LOG_OPS = ("FilterLogEvents",)
TARGET_DELAY_S = 1.0
REPLAY_MINUTES = (5, 10, 15)
HELPER_SECONDS = 30.0
FIXED_SECONDS = 10.0


class FixedPoller:
    """AWS's example: GetKxCluster every ``every`` s until RUNNING; counts its calls."""

    def __init__(self, fs, every: float):
        self.fs, self.every, self.calls, self.saw_running_at = fs, every, 0, None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop = threading.Event()

    def start(self) -> FixedPoller:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.calls += 1
            if self.fs.get_kx_cluster(environmentId="kxlocaldev", clusterName=CLUSTER)["status"] == "RUNNING":
                self.saw_running_at = time.time()
                return
            self._stop.wait(self.every)

    def join(self) -> None:
        self._thread.join()


def _push(info, fs, ws, i: int):
    """One push followed in this thread; (delay s, status calls, log reads, fixed poller)."""
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine

    (ws / "init.q").write_text(f"x:{i}\n")
    engine = Engine(load_settings())
    plan = engine.plan(cluster=CLUSTER, src=str(ws))
    said_done, poller = [], FixedPoller(fs, FIXED_SECONDS)

    def on_event(event):
        if event.phase == "update":
            poller.start()
        if event.phase == "done":
            said_done.append(time.time())

    before = request_counts(info)
    d = engine.push(plan, wait=True, on_event=on_event)
    d.wait()
    assert d.status == "succeeded", d.result
    poller.join()  # its last call, too, must be in the counts before they are read
    after = request_counts(info)
    running_at = fs.get_kx_cluster(environmentId="kxlocaldev", clusterName=CLUSTER)[
        "lastModifiedTimestamp"
    ].timestamp()
    grew = {op: after.get(op, 0) - before.get(op, 0) for op in STATUS_OPS + LOG_OPS}
    status = sum(grew[op] for op in STATUS_OPS) - poller.calls  # less the fixed poller's
    return said_done[0] - running_at, status, sum(grew[op] for op in LOG_OPS), poller, running_at


def _real(seconds: float, runs: int) -> Figure:
    from kx_jupyter.deploy.polling import PollPolicy
    from kx_jupyter.finspace.clients import Clients, Connection

    with local_plane(node_start_seconds=seconds / NODES) as (home, info):
        ws = write_tree(home.parent / "ws", {"init.q": "x:0\n"})
        fs = Clients(
            Connection(info.endpoint, info.endpoint, info.region, info.access_key, info.secret_key)
        ).finspace
        rows = []
        for i in range(runs + 1):  # the first push teaches the length; the rest are measured
            rows.append(_push(info, fs, ws, i + 1))
            wait_running(fs, CLUSTER)
    first, measured = rows[0], rows[1:]
    delay = median([r[0] for r in measured])
    calls = median([r[1] for r in measured])
    fixed_calls = median([r[3].calls for r in measured])
    fixed_delay = median([r[3].saw_running_at - r[4] for r in measured])
    # nodes faster than the policy's NODE_POLL_FROM get a listing at each turn (every node's
    # old -> restarting -> new is shown): at most one call per node more than the fixed poll
    extra = NODES if seconds / NODES < PollPolicy.NODE_POLL_FROM else 0
    passed = delay < TARGET_DELAY_S and all(r[1] <= r[3].calls + extra for r in measured)
    return Figure(
        f"detection delay, real {seconds:g} s update",
        delay * 1000,
        "ms",
        f"< {TARGET_DELAY_S * 1000:g}; calls <= 10 s poll"
        + (f" + {extra} (a listing per node turn)" if extra else ""),
        passed,
        f"{len(measured)} pushes after one: status calls {calls:g} vs the 10 s poll's {fixed_calls:g} "
        f"(seen {fixed_delay:.1f} s late), + {median([r[2] for r in measured]):g} node-log reads; "
        f"the first push (length from the plane's node start time): {first[0] * 1000:.0f} ms, "
        f"{first[1]} calls. Method: hdb-3 ROLLING on the plane, RUNNING stamp -> 'done' event, plane counters",
    )


def _timeout_figure() -> Figure:
    """How long `--timeout 2` watches: from the watch's start to its still-updating end."""
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine

    with local_plane(node_start_seconds=20.0) as (home, info):
        ws = write_tree(home.parent / "ws", {"init.q": "x:1\n"})
        engine = Engine(load_settings(timeout=2.0))
        d = engine.update(cluster=CLUSTER, src=str(ws))
        started = time.time()
        d.wait()
        took = time.time() - started
    return Figure(
        "--timeout 2 stops watching after",
        took,
        "s",
        "< 2.5",
        d.status == "still-updating" and took < 2.5,
        "Method: a 60 s update followed with timeout=2; wait() start to its still-updating end, wall clock",
    )


# -- replayed: the pure step on a fake clock ----------------------------------------------------

T0 = 1_800_000_000.0


def _service(duration: float):
    """read(poll, t) -> Observation of a ROLLING update of NODES nodes ending at ``duration``."""
    from datetime import datetime, timezone

    from kx_jupyter.deploy.watch import Observation

    code = {"s3Bucket": "b", "s3Key": "new.zip"}
    calls = [0]

    def stamp(t):
        return datetime.fromtimestamp(T0 + t, timezone.utc)

    def read(poll, t):
        per = duration / NODES
        cluster = nodes = None
        if poll.cluster:
            calls[0] += 1
            cluster = {
                "status": "UPDATING" if t < duration else "RUNNING",
                "code": code,
                "lastModifiedTimestamp": stamp(min(t, duration)),
            }
        if poll.nodes:
            calls[0] += 1
            nodes = [
                {
                    "nodeId": f"n{k}",
                    "status": "PROVISIONING" if k * per <= t < (k + 1) * per else "RUNNING",
                    "launchTime": stamp((k + 1) * per if t >= (k + 1) * per else -3600),
                }
                for k in range(NODES)
            ]
        return Observation(cluster=cluster, nodes=nodes)

    return read, calls, code


def replay(duration: float, expected: float = 0.0, spread: float = 0.0) -> tuple[int, float]:
    """(status calls, detection delay s) of the engine's watch with the default settings."""
    from kx_jupyter.config import KxJupyter
    from kx_jupyter.deploy.polling import PollPolicy
    from kx_jupyter.deploy.watch import new_state, step

    defaults = KxJupyter()
    read, calls, code = _service(duration)
    policy = PollPolicy(defaults.poll_initial, defaults.poll_max, expected, spread, NODES)
    state = new_state(policy, started=T0, submitted=T0, deadline=T0 + 4 * 3600, expected_code=code)
    now = state.next_poll_at
    while True:
        events, next_at, verdict = step(state, read(state.poll, now - T0), now)
        if verdict is not None:
            return calls[0], now - T0 - duration
        now = next_at


def helper(duration: float, every: float) -> tuple[int, float]:
    """(calls, delay s) of a GetKxCluster poll every ``every`` s from 0."""
    polls = -(-duration // every)
    return int(polls) + 1, polls * every - duration


def _replayed() -> list[Figure]:
    from kx_jupyter.deploy.polling import expected_seconds

    figures = []
    for minutes in REPLAY_MINUTES:
        lengths = [minutes * 60 + k for k in range(30)]  # one helper period of lengths
        blind = [replay(d) for d in lengths]
        helped = [helper(d, HELPER_SECONDS) for d in lengths]
        known = []
        for d in lengths[::5]:
            for off in (0.99, 1.0, 1.01):  # this update within 1 % of the one before
                expected, spread = expected_seconds(0, [d * off], [], NODES)
                known.append(replay(d, expected, spread))
        worse = sum(b[0] > h[0] for b, h in zip(blind, helped, strict=True))
        blind_delay, helper_delay = median([b[1] for b in blind]), median([h[1] for h in helped])
        figures.append(
            Figure(
                f"calls, {minutes} min update, nothing known (replayed)",
                median([b[0] for b in blind]),
                "calls",
                "<= 30 s helper's, delay too",
                worse == 0 and blind_delay <= helper_delay,
                f"helper {median([h[0] for h in helped]):g} calls; delay median {blind_delay:.1f} s vs the helper's "
                f"{helper_delay:.1f} s; {worse} of {len(lengths)} lengths cost more. Method: pure step, fake clock, "
                "lengths over one 30 s period",
            )
        )
        delay = max(k[1] for k in known)
        figures.append(
            Figure(
                f"detection delay, {minutes} min update, after one push (replayed)",
                delay,
                "s",
                "< 5; calls <= helper's",
                delay < 5 and all(k[0] <= helper(minutes * 60, HELPER_SECONDS)[0] for k in known),
                f"worst of {len(known)}; calls median {median([k[0] for k in known]):g} vs the helper's "
                f"{helper(minutes * 60, HELPER_SECONDS)[0]}. Method: pure step, fake clock, length within 1 % of the "
                "push before",
            )
        )
    short = {d: replay(d) for d in (1.5, 10, 30, 60)}
    figures.append(
        Figure(
            "short updates, nothing known (replayed)",
            short[10][1],
            "s late",
            "",
            None,
            "the cost of knowing nothing: "
            + ", ".join(f"{d:g} s update seen {c[1]:.1f} s late with {c[0]} calls" for d, c in short.items())
            + ". Method: pure step, fake clock; one push teaches the length (rows above)",
        )
    )
    return figures


def run(runs: int) -> list[Figure]:
    figures = []
    for seconds in REAL_SECONDS:
        figures.append(_real(seconds, max(2, min(runs, 5 if seconds < 10 else 2))))
    figures.append(_timeout_figure())
    return figures + _replayed()


def run_replayed(runs: int) -> list[Figure]:
    """Only the replayed rows (seconds, not minutes): ``run.py --only watch-replay``."""
    return _replayed()
