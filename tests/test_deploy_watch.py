"""The watch as a pure step: recorded-style observations of a simulated update and a fake clock.

``Service`` answers GetKxCluster, ListKxClusterNodes and FilterLogEvents the way the service
(and the local plane) does during a ROLLING update; ``follow`` drives ``step`` with it, the
clock jumping straight to each ``next_poll_at``. Poll-policy tests assert properties (calls,
detection delay, every node change seen), never poll instants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

from kx_jupyter.config import KxJupyter
from kx_jupyter.deploy.polling import Poll, PollPolicy, expected_seconds
from kx_jupyter.deploy.watch import (
    FAILED,
    FAILED_BACK,
    NEW,
    OLD,
    RESTARTING,
    STILL_UPDATING,
    Event,
    Observation,
    Progress,
    first_error,
    interrupted,
    log_tail,
    new_state,
    show_turns,
    step,
    stop,
)

T0 = 1_800_000_000.0  # the update call, by both clocks
NEW_CODE = {"s3Bucket": "b", "s3Key": "k/new.zip", "s3ObjectVersion": "v2"}
OLD_CODE = {"s3Bucket": "b", "s3Key": "k/old.zip", "s3ObjectVersion": "v1"}
DEFAULTS = KxJupyter()


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, timezone.utc)


@dataclass
class Service:
    """A ROLLING update of ``nodes`` nodes taking ``duration`` s; ``fail_on``: the node whose new code fails."""

    duration: float
    nodes: int = 3
    fail_on: int | None = None
    calls: dict = field(default_factory=lambda: {"get": 0, "list": 0, "logs": 0})

    @property
    def per_node(self) -> float:
        return self.duration / self.nodes

    def cluster(self, t: float) -> dict:
        self.calls["get"] += 1
        if t < self.duration:
            return {"status": "UPDATING", "code": OLD_CODE, "lastModifiedTimestamp": _ts(0)}
        if self.fail_on is not None:
            return {
                "status": "RUNNING",
                "code": OLD_CODE,
                "lastModifiedTimestamp": _ts(self.duration),
                "statusReason": f"Code update failed on node node-{self.fail_on}",
            }
        return {"status": "RUNNING", "code": NEW_CODE, "lastModifiedTimestamp": _ts(self.duration)}

    def node_list(self, t: float) -> list[dict]:
        self.calls["list"] += 1
        out = []
        for k in range(self.nodes):
            start, end = k * self.per_node, (k + 1) * self.per_node
            if t < start or (self.fail_on is not None and k > self.fail_on):
                out.append({"nodeId": f"node-{k}", "status": "RUNNING", "launchTime": _ts(-3600)})
            elif t < end or k == self.fail_on and t < self.duration:
                out.append({"nodeId": f"node-{k}", "status": "PROVISIONING"})
            else:
                out.append({"nodeId": f"node-{k}", "status": "RUNNING", "launchTime": _ts(end)})
        return out

    def logs(self, t: float) -> list[dict]:
        self.calls["logs"] += 1
        events = [
            {
                "logStreamName": "node-0",
                "timestamp": int((T0 - 30) * 1000),
                "eventId": "old",
                "message": "init.q:9:1: error from the previous push",
            }
        ]
        for k in range(self.nodes):
            at = k * self.per_node
            if at <= t:
                events.append(
                    {
                        "logStreamName": f"node-{k}",
                        "timestamp": int((T0 + at) * 1000),
                        "eventId": f"s{k}",
                        "message": "starting node with s3://b/k/new.zip",
                    }
                )
            if k == self.fail_on and at + 1 <= t:
                events.append(
                    {
                        "logStreamName": f"node-{k}",
                        "timestamp": int((T0 + at + 1) * 1000),
                        "eventId": f"e{k}",
                        "message": "/opt/kx/app/code/init.q:1:3: error Q002 '{' is never closed",
                    }
                )
                events.append(
                    {
                        "logStreamName": f"node-{k}",
                        "timestamp": int((T0 + at + 1.5) * 1000),
                        "eventId": f"f{k}",
                        "message": "node failed to start",
                    }
                )
        return [e for e in events if e["timestamp"] <= (T0 + t) * 1000]

    def read(self, poll, t: float) -> Observation:
        return Observation(
            cluster=self.cluster(t) if poll.cluster else None,
            nodes=self.node_list(t) if poll.nodes else None,
            logs=self.logs(t) if poll.nodes else None,
        )


def follow(service: Service, policy: PollPolicy, timeout: float = 4 * 3600.0, join_at: float | None = None):
    """Drive ``step`` on a fake clock; (verdict, events, seconds after the end it was seen, the state).
    ``join_at``: seconds after the call when a view with the node table joins (``show_turns``)."""
    state = new_state(policy, started=T0 - 2, submitted=T0, deadline=T0 + timeout, expected_code=NEW_CODE)
    now, events = state.next_poll_at, []
    for _ in range(10_000):
        if join_at is not None and now > T0 + join_at:
            show_turns(state, T0 + join_at)
            now, join_at = max(T0 + join_at, state.next_poll_at), None
            events.append(Event("joined", elapsed=now - state.started))  # marks the join in the list
        new, next_at, verdict = step(state, service.read(state.poll, now - T0), now)
        events += new
        assert next_at >= now  # the clock never runs backwards
        if verdict is not None:
            seen = [e for e in events if e.phase in ("done", "failed")]
            return verdict, events, (seen[0].elapsed - 2 - service.duration) if seen else None, state
        now = next_at
    raise AssertionError("the watch never ended")


def status_calls(service: Service) -> int:
    return service.calls["get"] + service.calls["list"]


def fixed_poll_calls(duration: float, every: float) -> int:
    """GetKxCluster at 0, every, 2 * every, ... until it sees RUNNING."""
    return int(-(-duration // every)) + 1


def known(
    duration: float, nodes: int = 3, off: float = 1.0, spread: float | None = None, turns: bool = True
) -> PollPolicy:
    """The policy after one earlier push of this cluster took ``duration * off`` s; ``turns``: the
    node table is shown (the cell's view, the CLI's text lines)."""
    expected, learned = expected_seconds(0, [duration * off], [], nodes)
    spread = spread if spread is not None else learned
    return PollPolicy(DEFAULTS.poll_initial, DEFAULTS.poll_max, expected, spread, nodes, turns=turns)


def blind(turns: bool = True) -> PollPolicy:
    """The policy with nothing known (a remote endpoint, no history, no setting)."""
    return PollPolicy(DEFAULTS.poll_initial, DEFAULTS.poll_max, turns=turns)


# -- the poll policy, as properties -------------------------------------------------------------


@pytest.mark.parametrize("seconds", [2, 6, 30, 60, 120])
@pytest.mark.parametrize("off", [1.0, 0.995, 1.005])
def test_a_known_length_is_seen_within_a_second_with_no_more_calls_than_a_fixed_10_s_poll(seconds, off):
    service = Service(seconds + 0.15)  # the plane adds a few ticks to the expected length
    verdict, events, delay, _ = follow(service, known(seconds + 0.15, off=off, turns=False))
    assert verdict.status == "succeeded"
    assert 0 <= delay < 1.0
    assert status_calls(service) <= fixed_poll_calls(service.duration, 10)
    assert service.calls["list"] == 1  # no node table: only the final listing (the result's nodes)
    assert [n["code"] for n in events[-1].nodes] == [NEW, NEW, NEW]


@pytest.mark.parametrize("minutes", [5, 7.5, 10, 12.5, 15])
@pytest.mark.parametrize("turns", [False, True])
def test_with_nothing_known_long_updates_cost_no_more_than_aws_helper_on_calls_or_delay(minutes, turns):
    worse_calls, delays, helper_delays = 0, [], []
    for k in range(30):  # lengths spread over one 30 s period
        service = Service(minutes * 60 + k)
        verdict, _, delay, _ = follow(service, blind(turns))
        assert verdict.status == "succeeded"
        worse_calls += status_calls(service) > fixed_poll_calls(service.duration, 30)
        delays.append(delay)
        helper_delays.append(30 * -(-service.duration // 30) - service.duration)
    assert worse_calls == 0 and sorted(delays)[15] <= sorted(helper_delays)[15]


@pytest.mark.parametrize("minutes", [5, 10, 15])
def test_after_one_push_long_updates_are_seen_within_5_s_with_no_more_calls_than_aws_helper(minutes):
    seconds = minutes * 60
    for off in (0.99, 1.0, 1.01):  # this update within 1 % of the one before
        service = Service(seconds)
        verdict, _, delay, _ = follow(service, known(seconds, off=off))
        assert verdict.status == "succeeded" and delay < 5
        assert status_calls(service) <= fixed_poll_calls(seconds, 30)


@pytest.mark.parametrize("turns", [False, True])
def test_short_updates_with_nothing_known_are_seen_at_the_first_read_or_on_the_helpers_grid(turns):
    quick = Service(1.5)
    assert follow(quick, blind(turns))[2] < 1
    short, policy = Service(20), blind(turns)
    _, _, delay, _ = follow(short, policy)
    assert delay < policy.grid_from and status_calls(short) <= 4  # the price of knowing nothing
    assert policy.grid_from == (90 if turns else 60)  # the listings skip the helper's first grid reads


def test_every_node_change_of_a_slow_rolling_update_is_seen_soon_after_it_happens():
    service = Service(60)  # 20 s per node
    _, events, _, _ = follow(service, known(60))
    changes = {}
    for e in events:
        for n in e.nodes:
            changes.setdefault((n["nodeId"], n["code"]), e.elapsed - 2)
    for k in range(3):
        assert (
            changes[(f"node-{k}", NEW)] - (k + 1) * 20 < 1.5
        )  # each node on the new code, seen within 1.5 s
    for k in (1, 2):
        assert changes[(f"node-{k}", RESTARTING)] - k * 20 < 1.5
    assert status_calls(service) <= fixed_poll_calls(60, 10)


def node_changes(events) -> dict:
    """{node: [code states in the order they were shown]} from the events of one watch."""
    seen: dict = {}
    for e in events:
        for n in e.nodes:
            states = seen.setdefault(n["nodeId"], [])
            if not states or states[-1] != n["code"]:
                states.append(n["code"])
    return seen


@pytest.mark.parametrize("seconds", [2, 6, 12, 30, 60])
@pytest.mark.parametrize("off", [1.0, 0.995, 1.005])
def test_with_the_node_table_every_node_turn_is_shown_the_first_one_included(seconds, off):
    # 3 nodes of 0.7, 2, 4, 10 and 20 s: the plane's quickstart push is the 6 s one; with 10 s
    # nodes the first node's restart used to be missed
    service = Service(seconds + 0.15)
    verdict, events, delay, _ = follow(service, known(seconds + 0.15, off=off))
    assert verdict.status == "succeeded" and 0 <= delay < 1.0
    for node, states in node_changes(events).items():
        assert states == [RESTARTING, NEW] if node == "node-0" else states == [OLD, RESTARTING, NEW], node
    # the price of showing each turn: one listing per node over a fixed 10 s poll's calls
    assert status_calls(service) <= fixed_poll_calls(service.duration, 10) + service.nodes


def test_the_first_listing_lands_inside_the_first_nodes_restart():
    for seconds in (2, 6, 30, 60, 600):
        policy = known(seconds)
        first = policy.first()
        assert first.nodes and 0 < first.at < policy.per_node, seconds
    assert not known(30, turns=False).first().nodes  # no node table: nothing to list


@pytest.mark.parametrize("seconds", [6, 30, 60, 600])
def test_a_view_that_joins_mid_update_gets_the_nodes_within_fine_then_every_turn(seconds):
    # no node table at the start (a background push); a view joins while the second node restarts
    service, policy = Service(seconds + 0.15), known(seconds + 0.15, turns=False)
    join = service.per_node * 1.4
    verdict, events, delay, _ = follow(service, policy, join_at=join)
    assert verdict.status == "succeeded" and 0 <= delay < 1.0
    joined = [e.phase for e in events].index("joined")
    before, after = events[:joined], events[joined + 1 :]
    assert not any(e.nodes for e in before)  # nobody saw the table: nothing was listed
    first = next(e for e in after if e.nodes)
    assert first.elapsed - 2 - join <= policy.fine + 1e-6  # the table fills within ``fine`` of the join
    assert {n["nodeId"]: n["code"] for n in first.nodes} == {
        "node-0": NEW,
        "node-1": RESTARTING,
        "node-2": OLD,
    }
    shown = node_changes(after)  # the last node's new code is the final listing's, as from the start
    assert shown["node-1"] == [RESTARTING, NEW] and shown["node-2"] == [OLD, RESTARTING, NEW]
    # the price: the turns it lists from the join, as with the table from the start
    assert status_calls(service) <= fixed_poll_calls(service.duration, 10) + service.nodes


def test_a_view_joining_a_watch_that_lists_turns_already_changes_nothing():
    policy = known(30)
    pending = policy.after(1.0, 3, 0.0)
    assert policy.show_turns(2.0, pending) is pending
    blind_policy = blind(turns=False)
    listing = blind_policy.show_turns(5.0, Poll(60.0))
    assert listing == Poll(5.0, cluster=False, nodes=True)  # the grid read is far: list at once
    assert blind_policy.grid_from == 90  # and that listing is paid for as a blind read's listing is
    due = known(30, turns=False)
    soon = Poll(due.window[0] + due.fine)
    assert due.show_turns(soon.at - due.fine / 2, soon) == Poll(soon.at, cluster=True, nodes=True)  # one read


def test_a_large_cluster_of_fast_nodes_gets_a_bounded_number_of_turn_listings():
    service = Service(100 * 2.0, nodes=100)  # 2 s per node
    verdict, _, delay, _ = follow(service, known(service.duration, nodes=100))
    assert verdict.status == "succeeded" and delay < 1.0
    assert service.calls["list"] <= PollPolicy.TURN_LISTINGS + 1  # the turns, then the final listing
    assert status_calls(service) <= fixed_poll_calls(service.duration, 10)


def test_calls_stay_bounded_when_the_expected_length_is_badly_wrong():
    for off in (0.5, 2.0):
        service = Service(300)
        verdict, _, delay, _ = follow(service, known(300, off=off, spread=300 * 0.02))
        assert verdict.status == "succeeded" and delay <= DEFAULTS.poll_max
        assert status_calls(service) <= 2 * fixed_poll_calls(300, 10)


# -- what the watch says ------------------------------------------------------------------------


def test_success_shows_each_node_on_the_new_code_and_records_when_it_ended():
    verdict, events, _, state = follow(Service(30), known(30))
    assert verdict.status == "succeeded" and verdict.finished_at == T0 + 30
    done = events[-1]
    assert done.phase == "done" and [n["code"] for n in done.nodes] == [NEW, NEW, NEW]
    heads = [e.message for e in events if e.phase == "nodes"]
    assert any("1/3 nodes on the new code" in m for m in heads) and any("2/3" in m for m in heads)
    assert all(e.elapsed >= 2 for e in events)  # counted from the command's start, 2 s before the call


def test_a_failure_headlines_the_failing_nodes_first_error_line_from_this_push():
    verdict, events, _, state = follow(Service(30, fail_on=1), known(30))
    failed = events[-1]
    assert verdict.status == "failed" and failed.phase == "failed"
    assert failed.message == "/opt/kx/app/code/init.q:1:3: error Q002 '{' is never closed"  # verbatim
    assert failed.reason == "Code update failed on node node-1"  # the service's statusReason, below it
    # the failing node was restarted by the service on the previous code: it says both
    assert {n["nodeId"]: n["code"] for n in failed.nodes} == {
        "node-0": OLD,
        "node-1": FAILED_BACK,
        "node-2": OLD,
    }
    assert [e for e in events if any(n["code"] == FAILED for n in e.nodes)]  # failed before it came back
    tail = log_tail(state)
    assert tail[0].startswith("node-0: starting node") and not [ln for ln in tail if "previous push" in ln]


def test_first_error_is_the_earliest_matching_line_verbatim():
    lines = {
        "a": [(5.0, 1, "loading"), (7.0, 3, "'type")],
        "b": [(6.0, 2, "Exception: boom"), (8.0, 4, "error again")],
    }
    assert first_error(lines) == ("b", "Exception: boom")
    same_instant = {"a": [(5.0, 1, "init.q:1:3: error Q002"), (5.0, 2, "a failed start")]}
    assert first_error(same_instant) == ("a", "init.q:1:3: error Q002")  # in the order they came, not by text
    assert first_error({"a": [(1.0, 1, "all good")]}) is None


def test_a_timeout_stops_watching_at_the_deadline_as_still_updating():
    service = Service(600)
    policy = known(600)
    state = new_state(policy, started=T0, submitted=T0, deadline=T0 + 2, expected_code=NEW_CODE)
    assert state.next_poll_at == T0 + 2  # the first read would be minutes away: the deadline comes first
    events, _, verdict = step(state, service.read(state.poll, 2), T0 + 2)
    assert verdict.status == STILL_UPDATING and "timed out" in verdict.reason
    assert events[-1].phase == STILL_UPDATING and "still updating, stopped watching" in events[-1].message


def test_stopping_is_still_updating_never_failed():
    state = new_state(known(60), started=T0, submitted=T0, deadline=T0 + 3600, expected_code=NEW_CODE)
    events, verdict = stop(state, T0 + 5, "interrupted")
    assert (
        verdict.status == STILL_UPDATING and events[0].phase == STILL_UPDATING and "Ctrl-C" in verdict.reason
    )


def test_an_unreadable_cluster_is_retried_not_judged():
    state = new_state(known(60), started=T0, submitted=T0, deadline=T0 + 3600, expected_code=NEW_CODE)
    events, next_at, verdict = step(state, Observation(error="throttled"), T0 + 30)
    assert verdict is None and next_at > T0 + 30 and "retrying" in events[0].message


def test_a_read_with_nothing_new_is_a_checked_event_not_a_change():
    service = Service(600)
    state = new_state(
        PollPolicy(0.25, 30), started=T0, submitted=T0, deadline=T0 + 3600, expected_code=NEW_CODE
    )
    first, _, _ = step(state, service.read(state.poll, 2), T0 + 2)
    again, _, _ = step(state, Observation(cluster=service.cluster(90)), T0 + 90)
    assert "nodes" in [e.phase for e in first] and [e.phase for e in again] == ["checked"]
    assert again[0].checked == 90


# -- the expected length --------------------------------------------------------------------------


def test_expected_seconds_prefers_setting_then_own_history_then_the_plane_then_other_clusters():
    peers = [(40.0, 2), (90.0, 3), (600.0, None)]
    assert expected_seconds(300, [10, 20], peers, 4)[0] == 300
    assert expected_seconds(0, [10, 20, 600], peers, 4)[0] == 20
    assert expected_seconds(0, [], peers, 4, "ROLLING")[0] == 4 * 25  # 20 and 30 s per node restarted in turn
    assert (
        expected_seconds(0, [], peers, 4, "FORCE")[0] == 90
    )  # all nodes at once: the node count does not matter
    assert expected_seconds(0, [], [(600.0, None)], 4, "ROLLING") == (
        0,
        0,
    )  # a length per node needs the node count
    assert expected_seconds(0, [], [], 4) == (0, 0)
    assert expected_seconds(0, [], peers, 3, "ROLLING", node_seconds=2.0)[0] == pytest.approx(6.3)
    assert expected_seconds(0, [30.0], peers, 3, "ROLLING", node_seconds=2.0)[0] == 30.0  # own history first
    assert expected_seconds(0, [100.0, 104.0, 98.0], [], 3)[1] == 4.0  # the spread: the largest deviation


def test_a_failed_node_still_restarting_at_the_end_is_failed():
    service = Service(30, fail_on=1)
    state = new_state(known(30), started=T0, submitted=T0, deadline=T0 + 3600, expected_code=NEW_CODE)
    step(state, Observation(nodes=service.node_list(12), logs=service.logs(12)), T0 + 12)  # the error is in
    assert step(state, Observation(cluster=service.cluster(31)), T0 + 31)[2] is None  # the final listing next
    events, _, verdict = step(
        state, Observation(nodes=service.node_list(25)), T0 + 31.1
    )  # node-1 PROVISIONING
    assert verdict.status == "failed"
    assert {n["nodeId"]: n["code"] for n in events[-1].nodes}["node-1"] == FAILED


# -- check and bundle progress ---------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_progress_says_files_and_bytes_about_once_a_second_timed_from_the_commands_start():
    clock, said = Clock(), []
    hook = Progress(said.append, "bundle", started=T0 - 3, clock=clock)
    for k in range(1, 4001):  # 4,000 files of 1 KB, one every 1 ms
        clock.now = T0 + k * 0.001
        hook(k, k * 1024, 4000, 4000 * 1024)
    assert [e.progress["files"] for e in said] == [
        1000,
        2000,
        3000,
    ]  # none at the end: the step's event says it
    first = said[0]
    assert first.phase == "progress" and first.elapsed == pytest.approx(4.0)  # 3 s before the step started
    assert first.message == "bundle: 1,000/4,000 files, 1000 KB of 3.9 MB"


def test_a_quick_step_or_a_small_workspace_says_no_progress():
    clock, said = Clock(), []
    quick = Progress(said.append, "check", started=T0, clock=clock)
    for k in range(1, 1001):
        clock.now = T0 + k * 0.0005
        quick(k, k, 1000, 1000)
    small = Progress(said.append, "check", started=T0, clock=clock)
    for k in range(1, 11):  # a slow first file of a small workspace (the checker's first import)
        clock.now += 2.0
        small(k, k, 10, 10)
    assert said == []


# -- Ctrl-C before the watch ---------------------------------------------------------------------


def test_ctrl_c_before_the_watch_says_how_far_the_push_got():
    assert "nothing was pushed" in interrupted("hdb-3", "plan").message
    assert interrupted("hdb-3", "upload").status == "not-pushed"
    uploaded = interrupted("hdb-3", "uploaded", uploaded="s3://b/k.zip")
    assert "uploaded (s3://b/k.zip) but the update was not requested" in uploaded.message
    call = interrupted("hdb-3", "call", token="t-1")
    assert call.status == "unknown" and "may or may not be updating" in call.message
    requested = interrupted("hdb-3", "requested", token="t-1")
    assert requested.status == STILL_UPDATING and "still updating, stopped watching" in requested.message
    assert {e.exit_code for e in (uploaded, call, requested)} == {130}


# -- who pays for the node turns ------------------------------------------------------------------


def test_a_deployment_lists_node_turns_only_for_a_listener_that_shows_the_node_table():
    from kx_jupyter.deploy.watch import Deployment, showing_nodes

    assert not Deployment("e", "c", {}).shows_nodes  # --json, a background push with no view
    assert not Deployment("e", "c", {}, on_event=lambda e: None).shows_nodes  # a release's row counts
    lines = showing_nodes(lambda e: None)
    assert Deployment("e", "c", {}, on_event=lines).shows_nodes  # the CLI's text lines, a cell's view
    late = Deployment("e", "c", {})
    late.listen(lines)
    assert late.shows_nodes
    rejoined = Deployment("e", "c", {}, on_event=lambda e: None)
    rejoined.show_nodes()  # a view added to the listener it had (%kx_status on a background push)
    assert rejoined.shows_nodes


@pytest.mark.slow
def test_json_output_lists_the_nodes_once_and_text_output_lists_each_turn(cli, plane, tmp_path):
    root = tmp_path / "ws"
    root.mkdir()

    def listings(*flags) -> int:
        (root / "init.q").write_text(f"x:{len(flags)}\n")
        before = plane.counters()["requests"].get("ListKxClusterNodes", 0)
        code, out, _ = cli("update", "--cluster", "hdb-3", "--src", root, *flags)
        assert code == 0, out
        return plane.counters()["requests"].get("ListKxClusterNodes", 0) - before

    assert listings("--json") == 1  # the final listing: the result's nodes (and a failure's log tail)
    assert listings() >= 2  # the turns (how many depends on how fast the nodes are seen), the final listing


# -- was the cluster touched: its own stamps, not this machine's clock ------------------------------


def test_a_fresh_clusters_recent_stamp_is_not_an_update_when_preflight_saw_the_same_stamp():
    from kx_jupyter.deploy.watch import judge, not_taken

    created = {"status": "RUNNING", "code": OLD_CODE, "lastModifiedTimestamp": _ts(-0.5)}  # RUNNING just now
    before = T0 - 0.5  # what preflight saw
    # by this machine's clock the stamp looks like the end of this update: failed, wrongly
    assert judge(created, NEW_CODE, False, T0, T0 + 5)[0] == "failed"
    assert judge(created, NEW_CODE, False, T0, T0 + 5, before) == ("wait", "")  # unchanged: not yet
    assert not_taken(created, NEW_CODE, before)  # an answer lost in the call: it never reached the cluster
    ended = {"status": "RUNNING", "code": NEW_CODE, "lastModifiedTimestamp": _ts(8)}
    assert judge(ended, NEW_CODE, False, T0, T0 + 9, before)[0] == "succeeded" and not not_taken(
        ended, NEW_CODE, before
    )
    rolled_back = {
        "status": "RUNNING",
        "code": OLD_CODE,
        "lastModifiedTimestamp": _ts(8),
        "statusReason": "x",
    }
    assert judge(rolled_back, NEW_CODE, False, T0, T0 + 9, before) == ("failed", "x")
    assert not not_taken(rolled_back, NEW_CODE, before) and not not_taken(created, NEW_CODE, None)


@pytest.mark.slow
def test_a_view_that_joins_a_background_push_on_the_plane_sees_the_nodes_turn(tmp_path, monkeypatch):
    import threading

    from plane_fixtures import plane_in

    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine
    from kx_jupyter.deploy.watch import showing_nodes

    root = tmp_path / "ws"
    root.mkdir()
    (root / "init.q").write_text("x:1\n")
    with plane_in(tmp_path, monkeypatch, node_start_seconds=2.0) as plane:  # hdb-3 rolls 3 nodes in ~6 s
        engine = Engine(load_settings())

        def listings() -> int:
            return plane.counters()["requests"].get("ListKxClusterNodes", 0)

        before = listings()
        plane.set_faults({"hold": ["hdb-3"]})  # UPDATING, every node untouched, until the view joined
        d = engine.update(cluster="hdb-3", src=root)  # like --background with no view: no node table
        d.follow_in_background()
        assert plane.wait_status("hdb-3", "UPDATING")["status"] == "UPDATING"
        assert listings() == before  # nobody sees the table: nothing listed

        seen, filled = [], threading.Event()

        @showing_nodes
        def view(event):  # a view with the node table joins (%kx_status)
            seen.append(event)
            if event.nodes:
                filled.set()

        d.listen(view)
        try:
            assert filled.wait(30), "the joined view never got the nodes"
        finally:
            plane.set_faults({})  # the update rolls now
        first = next(e for e in seen if e.nodes)
        assert [n["code"] for n in first.nodes] == [OLD, OLD, OLD]  # the current nodes, held
        result = d.wait()
    assert result["status"] == "succeeded", result
    turns = node_changes([e for e in seen if e.phase == "nodes"])  # the listings' events, not the final one
    assert any(RESTARTING in states or NEW in states for states in turns.values()), turns
    assert [n["code"] for n in seen[-1].nodes] == [NEW, NEW, NEW]
