"""Figure 3: how soon the watch sees an update end, and what that costs in API calls.

Measured end to end on the local plane (real ROLLING updates of hdb-3, three nodes, whose length
is set by the plane's node start time), side by side with AWS's example poller (GetKxCluster every
10 s), for 2, 6, 30 and 60 s updates: the detection delay (the cluster's own RUNNING stamp to
the moment the engine says done) and the status calls (GetKxCluster + ListKxClusterNodes, from
the plane's request counters; the node-log reads that come with each listing are reported
beside them, the fixed poller has no equivalent). Each length is pushed once first, so the
measured pushes know the length from history, as every push after the first does.

Two rows per length. The headline row follows the push as ``--json``, a background push with no
view or a release's target does: nobody sees the node table, so the nodes are listed once, at the
end (the result's nodes), and the target is calls <= the fixed 10 s poll's. The row "with the
node table" follows it as the cell's view and the CLI's text lines do: each node's turn is listed
(old -> restarting -> new, the first node's restart included), and the row states what that
costs over the fixed poll, with how many of the nodes were seen restarting. The row "a view joins"
follows a push with no view until, 40 % into the update, a view with the node table joins (``%kx_status``
on a background push): how soon its table fills, what the turns listed from then on cost, and how many
nodes it saw restarting.

Real FinSpace updates take 10-15 minutes, too long to run here: those rows replay the watch's
pure ``step`` against a simulated ROLLING update on a fake clock (the same code path the engine
drives, without the calls), against AWS's published helper (GetKxCluster every 30 s), without
the node table (the headline) and with it (in the note).
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
JOIN_SHARE = 0.4  # a view joins this far into the update: while the second of three nodes restarts


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


def _push(info, fs, ws, i: int, table: bool, join: float | None = None) -> dict:
    """One push followed in this thread; ``table``: its listener shows the node table (a cell's view);
    ``join``: seconds after the update call when a view with the node table joins (``%kx_status`` on a
    background push with no view)."""
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine
    from kx_jupyter.deploy.watch import showing_nodes

    (ws / "init.q").write_text(f"x:{i}\n")
    engine = Engine(load_settings())
    plan = engine.plan(cluster=CLUSTER, src=str(ws))
    said_done, poller, restarting = [], FixedPoller(fs, FIXED_SECONDS), set()

    def on_event(event):
        if event.phase == "update":
            poller.start()
        restarting.update(n["nodeId"] for n in event.nodes if n.get("code") == "restarting")
        if event.phase == "done":
            said_done.append(time.time())

    joined, filled, restarting_seen = [], [], set()

    def view(event):  # the joined view: when its table filled, which nodes it saw restarting
        if event.nodes and not filled:
            filled.append(time.time() - joined[0])
        restarting_seen.update(n["nodeId"] for n in event.nodes if n.get("code") == "restarting")

    def join_now(d):
        joined.append(time.time())
        d.listen(showing_nodes(view))

    before = request_counts(info)
    d = engine.push(plan, wait=True, on_event=showing_nodes(on_event) if table else on_event)
    joiner = threading.Timer(join, join_now, (d,)) if join is not None else None
    if joiner is not None:
        joiner.start()
    d.wait()
    assert d.status == "succeeded", d.result
    poller.join()  # its last call, too, must be in the counts before they are read
    after = request_counts(info)
    running_at = fs.get_kx_cluster(environmentId="kxlocaldev", clusterName=CLUSTER)[
        "lastModifiedTimestamp"
    ].timestamp()
    grew = {op: after.get(op, 0) - before.get(op, 0) for op in STATUS_OPS + LOG_OPS}
    row = {
        "delay": said_done[0] - running_at,
        "calls": sum(grew[op] for op in STATUS_OPS) - poller.calls,  # less the fixed poller's
        "log_reads": sum(grew[op] for op in LOG_OPS),
        "fixed_calls": poller.calls,
        "fixed_delay": poller.saw_running_at - running_at,
        "restarting": len(restarting),
    }
    if join is not None:
        row["filled"] = filled[0] if filled else None  # s from the join to the joined view's node table
        row["restarting_seen"] = len(restarting_seen)  # nodes the joined view saw restarting
    return row


def _real(seconds: float, runs: int) -> list[Figure]:
    with local_plane(node_start_seconds=seconds / NODES) as (home, info):
        from kx_jupyter.finspace.clients import Clients, Connection

        ws = write_tree(home.parent / "ws", {"init.q": "x:0\n"})
        fs = Clients(
            Connection(info.endpoint, info.endpoint, info.region, info.access_key, info.secret_key)
        ).finspace
        pushes = {}
        for i, table in enumerate([False] * (runs + 1) + [True] * runs):  # the first teaches the length
            pushes.setdefault(table, []).append(_push(info, fs, ws, i + 1, table))
            wait_running(fs, CLUSTER)
        join_at = JOIN_SHARE * seconds  # the second node restarting
        late = _push(info, fs, ws, 2 * runs + 2, False, join=join_at)
        wait_running(fs, CLUSTER)
    first, plain, table = pushes[False][0], pushes[False][1:], pushes[True]

    def figures(rows):
        return {k: median([r[k] for r in rows]) for k in rows[0]}

    got, shown = figures(plain), figures(table)
    fixed = f"the 10 s poll's {got['fixed_calls']:g} (seen {got['fixed_delay']:.1f} s late)"
    headline = Figure(
        f"detection delay, real {seconds:g} s update",
        got["delay"] * 1000,
        "ms",
        f"< {TARGET_DELAY_S * 1000:g}; calls <= 10 s poll",
        got["delay"] < TARGET_DELAY_S and all(r["calls"] <= r["fixed_calls"] for r in plain),
        f"no node table (--json, no view): {len(plain)} pushes after one: status calls {got['calls']:g} vs {fixed}, "
        f"+ {got['log_reads']:g} node-log reads; the first push (length from the plane's node start time): "
        f"{first['delay'] * 1000:.0f} ms, {first['calls']} calls. Method: hdb-3 ROLLING on the plane, RUNNING "
        "stamp -> 'done' event, plane counters",
    )
    with_table = Figure(
        f"  with the node table, {seconds:g} s update",
        shown["delay"] * 1000,
        "ms",
        "",
        None,
        f"the cell's view, the CLI's text: {len(table)} pushes: status calls {shown['calls']:g} vs the 10 s poll's "
        f"{shown['fixed_calls']:g} (the cost of showing every turn: {shown['calls'] - shown['fixed_calls']:+g}), "
        f"+ {shown['log_reads']:g} node-log reads; nodes seen restarting: {min(r['restarting'] for r in table)}-"
        f"{max(r['restarting'] for r in table)} of {NODES}. Method: as above, the listener shows the node table",
    )
    late_view = Figure(
        f"  a view joins at {JOIN_SHARE:.0%}, {seconds:g} s update",
        late["filled"] * 1000 if late["filled"] is not None else float("nan"),
        "ms",
        "",
        None,
        f"a push with no view, then a view with the node table joins {join_at:.1f} s after the call: ms until "
        f"its table filled; status calls {late['calls']:g} vs the 10 s poll's {late['fixed_calls']:g} "
        f"({late['calls'] - late['fixed_calls']:+g}); it saw {late['restarting_seen']} of the 2 nodes that restart "
        f"from the join on restarting; done {late['delay'] * 1000:.0f} ms after RUNNING. Method: one push, "
        "Deployment.listen from a timer thread",
    )
    return [headline, with_table, late_view]


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


def replay(
    duration: float, expected: float = 0.0, spread: float = 0.0, turns: bool = False
) -> tuple[int, float]:
    """(status calls, detection delay s) of the engine's watch with the default settings; ``turns``:
    the node table is shown."""
    from kx_jupyter.config import KxJupyter
    from kx_jupyter.deploy.polling import PollPolicy
    from kx_jupyter.deploy.watch import new_state, step

    defaults = KxJupyter()
    read, calls, code = _service(duration)
    policy = PollPolicy(defaults.poll_initial, defaults.poll_max, expected, spread, NODES, turns=turns)
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
        helped = [helper(d, HELPER_SECONDS) for d in lengths]
        blind = {turns: [replay(d, turns=turns) for d in lengths] for turns in (False, True)}
        known = {turns: [] for turns in (False, True)}
        for d in lengths[::5]:
            for off in (0.99, 1.0, 1.01):  # this update within 1 % of the one before
                expected, spread = expected_seconds(0, [d * off], [], NODES)
                for turns in (False, True):
                    known[turns].append(replay(d, expected, spread, turns))
        helper_delay = median([h[1] for h in helped])
        worse = {t: sum(b[0] > h[0] for b, h in zip(blind[t], helped, strict=True)) for t in blind}
        delays = {t: median([b[1] for b in blind[t]]) for t in blind}
        figures.append(
            Figure(
                f"calls, {minutes} min update, nothing known (replayed)",
                median([b[0] for b in blind[False]]),
                "calls",
                "<= 30 s helper's, delay too",
                all(worse[t] == 0 and delays[t] <= helper_delay for t in blind),
                f"helper {median([h[0] for h in helped]):g} calls; delay median {delays[False]:.1f} s vs the helper's "
                f"{helper_delay:.1f} s; {worse[False]} of {len(lengths)} lengths cost more; with the node table "
                f"{median([b[0] for b in blind[True]]):g} calls, delay {delays[True]:.1f} s, {worse[True]} cost more. "
                "Method: pure step, fake clock, lengths over one 30 s period",
            )
        )
        most = helper(minutes * 60, HELPER_SECONDS)[0]
        delay = {t: max(k[1] for k in known[t]) for t in known}
        figures.append(
            Figure(
                f"detection delay, {minutes} min update, after one push (replayed)",
                delay[False],
                "s",
                "< 5; calls <= helper's",
                all(delay[t] < 5 and all(k[0] <= most for k in known[t]) for t in known),
                f"worst of {len(known[False])}; calls median {median([k[0] for k in known[False]]):g} vs the helper's "
                f"{most}; with the node table {median([k[0] for k in known[True]]):g} calls, worst delay "
                f"{delay[True]:.1f} s. Method: pure step, fake clock, length within 1 % of the push before",
            )
        )
    short = {d: (replay(d), replay(d, turns=True)) for d in (1.5, 10, 30, 60)}
    figures.append(
        Figure(
            "short updates, nothing known (replayed)",
            short[10][0][1],
            "s late",
            "",
            None,
            "the cost of knowing nothing: "
            + ", ".join(
                f"{d:g} s update seen {c[1]:.1f} s late with {c[0]} calls ({t[0]} with the node table)"
                for d, (c, t) in short.items()
            )
            + ". Method: pure step, fake clock; one push teaches the length (rows above)",
        )
    )
    return figures


def run(runs: int) -> list[Figure]:
    figures = []
    for seconds in REAL_SECONDS:
        figures += _real(seconds, max(2, min(runs, 5 if seconds < 10 else 2)))
    figures.append(_timeout_figure())
    return figures + _replayed()


def run_replayed(runs: int) -> list[Figure]:
    """Only the replayed rows (seconds, not minutes): ``run.py --only watch-replay``."""
    return _replayed()
