"""Reliability: the plane is killed (SIGKILL) in the middle of an update and started again.

The cluster must settle, the watch that was running (or a later re-attach, as after a closed
notebook) must report what really happened, and nothing recorded before is lost: the push
history, the bundles' S3 versions and the node logs.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from plane_fixtures import ENV_ID, plane_in

from kx_jupyter.cli import main as cli_main
from kx_jupyter.config import load_settings
from kx_jupyter.deploy import Engine

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NODE_SECONDS = 1.0  # hdb-3 rolls three nodes: ~3 s, long enough to kill the plane in the middle


@pytest.fixture
def rolling_plane(tmp_path, monkeypatch):
    with plane_in(tmp_path, monkeypatch, node_start_seconds=NODE_SECONDS) as running:
        yield running


def workspace(base, name: str, text: str):
    root = base / name
    root.mkdir()
    (root / "init.q").write_text(text)
    return root


def kill_and_restart(plane, same_port: bool, down_for: float = 1.0) -> None:
    """SIGKILL the plane, leave it dead for a moment, start it again on the same state."""
    from kx_jupyter.local import daemon

    port = int(plane.info.endpoint.rsplit(":", 1)[1])
    os.kill(plane.info.pid, signal.SIGKILL)
    while daemon.status(plane.state_dir) is not None:
        time.sleep(0.05)
    time.sleep(down_for)
    plane.info = daemon.start(plane.state_dir, port=port if same_port else 0, node_start_seconds=NODE_SECONDS)


def wait_for_one_node_done(plane, timeout: float = 30.0) -> None:
    """Until the plane says one node of hdb-3 restarted and another is restarting (the middle of a ROLLING update)."""
    fs, deadline = plane.clients().finspace, time.monotonic() + timeout
    while True:
        nodes = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3")["nodes"]
        launched = sorted(n["launchTime"].timestamp() for n in nodes if n["status"] == "RUNNING")
        if (
            any(n["status"] == "PROVISIONING" for n in nodes)
            and launched
            and launched[-1] > launched[0] + 0.5
        ):
            return
        assert time.monotonic() < deadline, nodes
        time.sleep(0.02)


def bundle_versions(engine) -> set:
    got = engine.clients.s3.list_object_versions(Bucket="kx-local-code", Prefix="kx-jupyter/")
    return {(v["Key"], v["VersionId"]) for v in got.get("Versions", [])}


def node_log(plane, cluster: str) -> list[str]:
    logs = plane.clients().logs
    group = f"/aws/vendedlogs/finspace/{ENV_ID}/{cluster}"
    lines = []
    for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
        events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
        lines += [e["message"] for e in events]
    return lines


def test_the_running_watch_rides_through_a_kill_and_reports_success(rolling_plane, tmp_path):
    # one attempt per call: botocore's own retries (random back-off) could otherwise span the outage unseen
    settings = load_settings(poll_initial=0.05, poll_max=0.3, max_attempts=1)
    engine = Engine(settings)
    first = engine.update(cluster="hdb-3", src=str(workspace(tmp_path, "v1", "x:1\n")))
    assert first.wait(60)["status"] == "succeeded"
    history_before = [e.to_dict() for e in engine.history()]
    versions_before = bundle_versions(engine)
    log_before = node_log(rolling_plane, "hdb-3")

    d = engine.update(cluster="hdb-3", src=str(workspace(tmp_path, "v2", "x:2\n")))
    d.follow_in_background()  # the watch runs on while the plane dies and comes back
    wait_for_one_node_done(rolling_plane)
    kill_and_restart(rolling_plane, same_port=True)
    result = d.wait(120)

    assert d.status == "succeeded", result
    fs = rolling_plane.clients().finspace
    after = fs.get_kx_cluster(environmentId=ENV_ID, clusterName="hdb-3")
    assert after["status"] == "RUNNING" and after["code"] == result["code"] and not after.get("statusReason")
    nodes = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3")["nodes"]
    assert [n["status"] for n in nodes] == ["RUNNING"] * 3
    assert rolling_plane.counters()["appliedUpdates"][result["clientToken"]] == 1

    history = [e.to_dict() for e in Engine(settings).history()]
    assert history[1:] == history_before  # the earlier push, untouched
    assert history[0]["outcome"] == "succeeded" and history[0]["client_token"] == result["clientToken"]
    assert versions_before < bundle_versions(engine)  # both bundles' versions still there
    assert set(log_before) <= set(node_log(rolling_plane, "hdb-3"))


def test_reattach_after_a_kill_reports_success(rolling_plane, tmp_path, capsys):
    settings = load_settings(poll_initial=0.05, poll_max=0.3)
    engine = Engine(settings)
    d = engine.update(cluster="hdb-3", src=str(workspace(tmp_path, "v1", "x:1\n")))
    d.follow_in_background()
    wait_for_one_node_done(rolling_plane)
    d.detach()  # the notebook was closed; the plane then dies and comes back on another port
    assert d.status == "still-updating"
    kill_and_restart(rolling_plane, same_port=False)

    code = cli_main(["status", "hdb-3", "--watch", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["status"] == "succeeded", result
    assert result["code"] == d.result["code"]
    fs = rolling_plane.clients().finspace
    assert fs.get_kx_cluster(environmentId=ENV_ID, clusterName="hdb-3")["code"] == d.result["code"]
    entry = Engine(load_settings()).history("hdb-3")[0]
    assert entry.outcome == "succeeded" and entry.client_token == d.result["clientToken"]


def test_reattach_after_a_kill_reports_a_failure_truthfully(rolling_plane, tmp_path):
    settings = load_settings(poll_initial=0.05, poll_max=0.3)
    engine = Engine(settings)
    good = engine.update(cluster="hdb-3", src=str(workspace(tmp_path, "good", "x:1\n")))
    assert good.wait(60)["status"] == "succeeded"
    bad = engine.update(
        cluster="hdb-3", src=str(workspace(tmp_path, "bad", "f:{x+1\n")), check=False, wait=False
    )
    assert bad.status == "submitted"
    kill_and_restart(rolling_plane, same_port=False)

    again = Engine(load_settings(poll_initial=0.05, poll_max=0.3)).attach("hdb-3")
    result = again.wait(120)
    assert again.status == "failed" and again.exit_code == 1, result
    assert result["reason"] and "still runs" in again.error.message
    fs = rolling_plane.clients().finspace
    after = fs.get_kx_cluster(environmentId=ENV_ID, clusterName="hdb-3")
    assert after["status"] == "RUNNING" and after["code"] == good.result["code"] and after.get("statusReason")
    outcomes = [(e.outcome, e.client_token) for e in Engine(settings).history("hdb-3")]
    assert outcomes == [("failed", bad.result["clientToken"]), ("succeeded", good.result["clientToken"])]
