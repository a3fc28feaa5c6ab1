"""stop/start and kill -9 lose nothing: state, code, S3 versions, node logs; updates settle."""

import os
import time

import pytest
from plane_fixtures import ENV_ID, start_plane


def snapshot(plane):
    c = plane.clients()
    fs = c.finspace
    clusters = {}
    for name in ("dev-gp", "hdb-3"):
        got = fs.get_kx_cluster(environmentId=ENV_ID, clusterName=name)
        clusters[name] = {
            k: got.get(k)
            for k in (
                "status",
                "statusReason",
                "code",
                "initializationScript",
                "commandLineArguments",
                "lastModifiedTimestamp",
            )
        }
        clusters[name]["nodes"] = [
            n["nodeId"] for n in fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName=name)["nodes"]
        ]
    versions = c.s3.list_object_versions(Bucket="kx-local-code")["Versions"]
    bodies = {
        (v["Key"], v["VersionId"]): c.s3.get_object(
            Bucket="kx-local-code", Key=v["Key"], VersionId=v["VersionId"]
        )["Body"].read()
        for v in versions
    }
    node = clusters["dev-gp"]["nodes"][0]
    logs = [
        e["message"]
        for e in c.logs.get_log_events(
            logGroupName=f"/aws/vendedlogs/finspace/{ENV_ID}/dev-gp", logStreamName=node
        )["events"]
    ]
    envs = sorted(e["environmentId"] for e in fs.list_kx_environments()["environments"])
    return clusters, bodies, logs, envs


def test_stop_start_keeps_everything(plane):
    fs = plane.clients().finspace
    v1 = plane.upload({"init.q": "a:1\n"})
    v2 = plane.upload({"init.q": "a:2\n"})
    plane.upload({"init.q": "old\n"}, key="gone.zip")
    plane.clients().s3.delete_object(
        Bucket="kx-local-code", Key="gone.zip"
    )  # a delete marker must survive too
    marker = plane.clients().s3.list_object_versions(Bucket="kx-local-code", Prefix="gone.zip")[
        "DeleteMarkers"
    ][0]["VersionId"]
    fs.create_kx_environment(name="second", kmsKeyId="arn:aws:kms:us-east-1:123456789012:key/k")
    fs.update_kx_cluster_code_configuration(
        environmentId=ENV_ID,
        clusterName="dev-gp",
        code={"s3Bucket": "kx-local-code", "s3Key": "tests/code.zip", "s3ObjectVersion": v1},
        initializationScript="init.q",
    )
    plane.wait_status("dev-gp", "RUNNING")
    bad = plane.upload({"lib.q": "x:1\n"}, key="tests/bad.zip")
    fs.update_kx_cluster_code_configuration(
        environmentId=ENV_ID,
        clusterName="hdb-3",
        code={"s3Bucket": "kx-local-code", "s3Key": "tests/bad.zip", "s3ObjectVersion": bad},
        initializationScript="init.q",
        commandLineArguments=[{"key": "role", "value": "hdb"}],
    )
    assert plane.wait_status("hdb-3", "RUNNING")["statusReason"]
    before = snapshot(plane)
    assert v2 != v1 and ("tests/code.zip", v1) in before[1] and before[2]
    old_pid = plane.info.pid
    plane.restart()
    assert plane.info.pid != old_pid
    after = snapshot(plane)
    assert after[0] == before[0]
    assert after[1] == before[1]  # same keys, same version ids, same bytes
    assert after[2][: len(before[2])] == before[2]  # node log kept; the restart appends to it
    assert after[3] == before[3]
    markers = (
        plane.clients()
        .s3.list_object_versions(Bucket="kx-local-code", Prefix="gone.zip")
        .get("DeleteMarkers", [])
    )
    assert [m["VersionId"] for m in markers] == [marker]
    fs = plane.clients().finspace
    fs.update_kx_cluster_code_configuration(
        environmentId=ENV_ID,
        clusterName="dev-gp",  # still deployable
        code={"s3Bucket": "kx-local-code", "s3Key": "tests/code.zip", "s3ObjectVersion": v2},
        initializationScript="init.q",
    )
    assert plane.wait_status("dev-gp", "RUNNING")["code"]["s3ObjectVersion"] == v2


@pytest.fixture
def slow_plane(tmp_path):
    from kx_jupyter.local import daemon

    running = start_plane(tmp_path / "kx-home", node_start_seconds=0.6)
    yield running
    daemon.stop(running.state_dir)


def test_update_in_progress_settles_after_kill_9(slow_plane):
    fs = slow_plane.clients().finspace
    version = slow_plane.upload({"init.q": "a:3\n"})
    code = {"s3Bucket": "kx-local-code", "s3Key": "tests/code.zip", "s3ObjectVersion": version}
    fs.update_kx_cluster_code_configuration(
        environmentId=ENV_ID,
        clusterName="hdb-3",
        code=code,
        initializationScript="init.q",
        clientToken="crash-1",
        commandLineArguments=[{"key": "role", "value": "hdb"}],
    )
    time.sleep(0.8)  # the first node is done, the second is starting
    assert fs.get_kx_cluster(environmentId=ENV_ID, clusterName="hdb-3")["status"] == "UPDATING"
    slow_plane.restart(kill=True)
    fs = slow_plane.clients().finspace
    assert fs.get_kx_cluster(environmentId=ENV_ID, clusterName="hdb-3")["status"] == "UPDATING"
    done = slow_plane.wait_status("hdb-3", "RUNNING")
    assert done["code"] == code and done.get("statusReason") is None
    nodes = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="hdb-3")["nodes"]
    assert [n["status"] for n in nodes] == ["RUNNING"] * 3
    assert slow_plane.counters()["appliedUpdates"] == {"crash-1": 1}
    # the retry a client makes after the crash is recognised, not deployed twice
    fs.update_kx_cluster_code_configuration(
        environmentId=ENV_ID,
        clusterName="hdb-3",
        code=code,
        initializationScript="init.q",
        clientToken="crash-1",
        commandLineArguments=[{"key": "role", "value": "hdb"}],
    )
    assert slow_plane.counters()["appliedUpdates"] == {"crash-1": 1}


def node_processes(root):
    """Session ids of processes running in code dirs under ``root``: one session per node's q process."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/cwd").startswith(str(root)):
                with open(f"/proc/{pid}/stat") as f:
                    found.add(int(f.read().rsplit(")", 1)[1].split()[3]))  # field 6: session id
        except (OSError, IndexError, ValueError):
            pass
    return found


def test_kill_9_leaves_no_orphan_q_processes(q_plane):
    before = node_processes(q_plane.state_dir / "nodes")
    assert len(before) == 4  # dev-gp + hdb-3's three nodes, each a q (stand-in) process
    q_plane.restart(kill=True)
    q_plane.wait_status("dev-gp", "RUNNING")
    after = node_processes(q_plane.state_dir / "nodes")
    assert len(after) == 4 and not (after & before)


def test_multipart_uploads_and_odd_keys_survive_restart(plane):
    import io

    s3 = plane.clients().s3
    s3.create_bucket(Bucket="team-bundles")
    big = b"x" * (9 * 1024 * 1024)  # above boto3's multipart threshold
    s3.upload_fileobj(io.BytesIO(big), "team-bundles", "big/code.zip")
    odd = "dir/a b+c=ü(1)!*'.zip"
    version = s3.put_object(Bucket="kx-local-code", Key=odd, Body=b"odd")["VersionId"]
    plane.restart()
    s3 = plane.clients().s3
    assert s3.get_object(Bucket="team-bundles", Key="big/code.zip")["Body"].read() == big
    assert s3.get_object(Bucket="kx-local-code", Key=odd, VersionId=version)["Body"].read() == b"odd"


def test_a_crashed_q_process_is_restarted(q_plane):
    fs = q_plane.clients().finspace
    node = _crash_the_node(q_plane)
    statuses = []
    for _ in range(600):
        now = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="dev-gp")["nodes"][0]
        statuses.append(now["status"])
        if now["status"] == "RUNNING" and "PROVISIONING" in statuses:
            break
        time.sleep(0.02)
    assert "PROVISIONING" in statuses and now["status"] == "RUNNING" and now["nodeId"] == node["nodeId"]
    assert now["launchTime"] > node["launchTime"]
    events = q_plane.clients().logs.get_log_events(
        logGroupName=f"/aws/vendedlogs/finspace/{ENV_ID}/dev-gp", logStreamName=node["nodeId"]
    )["events"]
    assert any("q exited with code -9: the node is restarted" in e["message"] for e in events)


@pytest.fixture
def refusing_q_plane(tmp_path, monkeypatch):
    """A q stand-in plane whose nodes refuse to start while ``plane.refuse`` (a file) exists."""
    from plane_fixtures import Q_STAND_IN, plane_in

    marker = tmp_path / "refuse-to-start"
    monkeypatch.setenv("Q_STAND_IN_REFUSE", str(marker))
    with plane_in(tmp_path, monkeypatch, q_binary=str(Q_STAND_IN)) as running:
        running.refuse = marker
        yield running


def _crash_the_node(plane, cluster="dev-gp") -> dict:
    import signal

    node = plane.clients().finspace.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName=cluster)["nodes"][
        0
    ]
    root = plane.state_dir / "nodes" / node["nodeId"]
    _wait_for(lambda: node_processes(root))  # a plane that just started may still be starting its nodes' q
    (session,) = node_processes(root)
    os.killpg(session, signal.SIGKILL)
    return node


def _node_log(plane, node_id: str, cluster="dev-gp") -> list[str]:
    events = plane.clients().logs.get_log_events(
        logGroupName=f"/aws/vendedlogs/finspace/{ENV_ID}/{cluster}", logStreamName=node_id
    )["events"]
    return [e["message"] for e in events]


def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_node_that_cannot_start_again_is_retried_until_it_starts(refusing_q_plane):
    plane = refusing_q_plane
    fs = plane.clients().finspace
    plane.refuse.write_text("")
    node = _crash_the_node(plane)
    _wait_for(lambda: sum("is started again in" in m for m in _node_log(plane, node["nodeId"])) >= 2)
    log = _node_log(plane, node["nodeId"])
    assert any("refusing to start" in m for m in log) and any("in 2s (failure 1)" in m for m in log)
    assert any("in 4s (failure 2)" in m for m in log)  # a growing delay, every failure in the node's log
    now = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="dev-gp")["nodes"][0]
    assert (
        now["status"] == "PROVISIONING"
        and fs.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")["status"] == "RUNNING"
    )
    plane.refuse.unlink()  # whatever stopped it is gone: the next try starts it
    _wait_for(
        lambda: (
            fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="dev-gp")["nodes"][0]["status"]
            == "RUNNING"
        )
    )


def test_a_code_update_takes_over_from_a_replacement_that_keeps_failing(refusing_q_plane):
    plane = refusing_q_plane
    fs = plane.clients().finspace
    version = plane.upload({"init.q": "fixed:1\n"}, key="tests/fix.zip")
    plane.refuse.write_text("")
    node = _crash_the_node(plane)
    _wait_for(lambda: any("is started again in" in m for m in _node_log(plane, node["nodeId"])))
    plane.refuse.unlink()  # the next try is seconds away: the update comes first
    fs.update_kx_cluster_code_configuration(  # not refused as "a node is being replaced"
        environmentId=ENV_ID,
        clusterName="dev-gp",
        clientToken="fix-1",
        code={"s3Bucket": "kx-local-code", "s3Key": "tests/fix.zip", "s3ObjectVersion": version},
        initializationScript="init.q",
        deploymentConfiguration={"deploymentStrategy": "ROLLING"},
    )
    cluster = plane.wait_status("dev-gp", "RUNNING")
    assert cluster["code"]["s3Key"] == "tests/fix.zip" and not cluster.get("statusReason")
    assert (
        fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="dev-gp")["nodes"][0]["status"]
        == "RUNNING"
    )
    assert plane.counters()["appliedUpdates"] == {"fix-1": 1}


def test_after_a_restart_a_node_whose_code_is_gone_is_provisioning_until_an_update_fixes_it(plane):
    fs = lambda: plane.clients().finspace  # noqa: E731  (a restarted plane listens on another port)

    def push(key, text, token):
        version = plane.upload({"init.q": text}, key=key)
        fs().update_kx_cluster_code_configuration(
            environmentId=ENV_ID,
            clusterName="dev-gp",
            clientToken=token,
            initializationScript="init.q",
            code={"s3Bucket": "kx-local-code", "s3Key": key, "s3ObjectVersion": version},
            deploymentConfiguration={"deploymentStrategy": "ROLLING"},
        )
        assert plane.wait_status("dev-gp", "RUNNING")["code"]["s3Key"] == key
        return version

    gone = push("tests/gone.zip", "a:1\n", "gone-1")
    plane.clients().s3.delete_object(
        Bucket="kx-local-code", Key="tests/gone.zip", VersionId=gone
    )  # its code is gone
    plane.restart()
    node = lambda: fs().list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="dev-gp")["nodes"][0]  # noqa: E731
    _wait_for(lambda: any("is started again in" in m for m in _node_log(plane, node()["nodeId"])))
    assert node()["status"] == "PROVISIONING", "not RUNNING without a process"
    assert any("can no longer be read" in m for m in _node_log(plane, node()["nodeId"]))
    push("tests/fixed.zip", "a:2\n", "fixed-1")  # not refused: the update takes over from the retries
    assert node()["status"] == "RUNNING"
