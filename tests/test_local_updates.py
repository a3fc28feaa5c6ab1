"""UpdateKxClusterCodeConfiguration on the local plane: strategies, rules, idempotency, failures."""

import re
import time

import pytest
from botocore.exceptions import ClientError
from plane_fixtures import ENV_ID, start_plane

REASON_PATTERN = re.compile(r"^[a-zA-Z0-9\_\-\.\s]+$")
VISIBLE_NODE_SECONDS = 0.5  # long enough for polling to see every node's PROVISIONING phase


@pytest.fixture
def visible_plane(tmp_path):
    from kx_jupyter.local import daemon

    running = start_plane(tmp_path / "kx-home", node_start_seconds=VISIBLE_NODE_SECONDS)
    yield running
    daemon.stop(running.state_dir)


def code_ref(version, key="tests/code.zip"):
    return {"s3Bucket": "kx-local-code", "s3Key": key, "s3ObjectVersion": version}


def update(fs, cluster, code, strategy="ROLLING", init="init.q", **extra):
    return fs.update_kx_cluster_code_configuration(
        environmentId=ENV_ID,
        clusterName=cluster,
        code=code,
        initializationScript=init,
        deploymentConfiguration={"deploymentStrategy": strategy},
        **extra,
    )


def watch_nodes(fs, cluster, timeout=30.0):
    """Poll until the cluster is RUNNING again; every distinct node snapshot seen, in order."""
    snapshots, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = fs.get_kx_cluster(environmentId=ENV_ID, clusterName=cluster)["status"] == "RUNNING"
        nodes = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName=cluster)["nodes"]
        snap = tuple((n["nodeId"], n["status"], n.get("launchTime")) for n in nodes)
        if not snapshots or snapshots[-1] != snap:
            snapshots.append(snap)
        if done:
            break
        time.sleep(0.02)
    return snapshots


def node_log(plane, cluster, node_id):
    events = plane.clients().logs.get_log_events(
        logGroupName=f"/aws/vendedlogs/finspace/{ENV_ID}/{cluster}", logStreamName=node_id
    )["events"]
    return "\n".join(e["message"] for e in events)


def test_rolling_replaces_nodes_one_at_a_time(visible_plane):
    fs = visible_plane.clients().finspace
    before = fs.get_kx_cluster(environmentId=ENV_ID, clusterName="hdb-3")
    version = visible_plane.upload({"init.q": "x:42\n"})
    update(fs, "hdb-3", code_ref(version))
    assert fs.get_kx_cluster(environmentId=ENV_ID, clusterName="hdb-3")["status"] == "UPDATING"
    snapshots = watch_nodes(fs, "hdb-3")
    assert all(sum(status != "RUNNING" for _, status, _ in snap) <= 1 for snap in snapshots)
    order = []
    for snap in snapshots:
        for position, (_, status, _) in enumerate(snap):
            if status == "PROVISIONING" and position not in order:
                order.append(position)
    assert order == [0, 1, 2]
    after = fs.get_kx_cluster(environmentId=ENV_ID, clusterName="hdb-3")
    assert (
        after["code"] == code_ref(version)
        and after["lastModifiedTimestamp"] > before["lastModifiedTimestamp"]
    )
    first, last = snapshots[0], snapshots[-1]
    assert all(
        new[2] > old[2] for old, new in zip(first, last, strict=True) if old[2]
    )  # every node relaunched


def test_force_stops_all_then_starts_all(visible_plane):
    fs = visible_plane.clients().finspace
    version = visible_plane.upload({"init.q": "x:43\n"})
    update(fs, "hdb-3", code_ref(version), strategy="FORCE")
    snapshots = watch_nodes(fs, "hdb-3")
    statuses = [[status for _, status, _ in snap] for snap in snapshots]
    assert ["PROVISIONING"] * 3 in statuses
    assert statuses[-1] == ["RUNNING"] * 3
    assert not any(s.count("RUNNING") in (1, 2) for s in statuses[1:-1])  # never a mix mid-update


def test_no_restart_restarts_nothing(visible_plane):
    fs = visible_plane.clients().finspace
    before = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="dev-gp")["nodes"]
    version = visible_plane.upload({"init.q": "/ same init\n", "lib.q": "f:{x}\n"})
    update(fs, "dev-gp", code_ref(version), strategy="NO_RESTART")
    assert fs.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")["status"] == "UPDATING"
    snapshots = watch_nodes(fs, "dev-gp")
    assert all(snap == snapshots[0] for snap in snapshots)
    assert snapshots[0] == tuple((n["nodeId"], n["status"], n["launchTime"]) for n in before)
    assert fs.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")["code"] == code_ref(version)


def test_no_restart_only_on_gp_and_with_same_init_and_args(plane):
    fs = plane.clients().finspace
    version = plane.upload({"init.q": "a:1\n", "other.q": "b:2\n"})
    with pytest.raises(ClientError) as hdb:
        update(
            fs,
            "hdb-3",
            code_ref(version),
            strategy="NO_RESTART",
            commandLineArguments=[{"key": "role", "value": "hdb"}],
        )
    assert hdb.value.response["Error"]["Code"] == "ValidationException" and "only supported on GP" in str(
        hdb.value
    )
    with pytest.raises(ClientError) as init:
        update(fs, "dev-gp", code_ref(version), strategy="NO_RESTART", init="other.q")
    assert "cannot change initializationScript" in str(init.value)
    with pytest.raises(ClientError) as args:
        update(
            fs,
            "dev-gp",
            code_ref(version),
            strategy="NO_RESTART",
            commandLineArguments=[{"key": "xy", "value": "1"}],
        )
    assert "cannot change initializationScript or commandLineArguments" in str(args.value)
    assert fs.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")["status"] == "RUNNING"


def test_update_while_updating_is_a_conflict_with_reason(plane):
    fs = plane.clients().finspace
    version = plane.upload({"init.q": "a:1\n"})
    update(fs, "hdb-3", code_ref(version))
    with pytest.raises(ClientError) as err:
        update(fs, "hdb-3", code_ref(version))
    assert err.value.response["Error"]["Code"] == "ConflictException"
    assert err.value.response["reason"] == "Cluster is in UPDATING state"
    assert plane.wait_status("hdb-3", "RUNNING")["code"] == code_ref(version)


def test_code_object_must_exist(plane):
    fs = plane.clients().finspace
    plane.upload({"init.q": "a:1\n"})
    cases = {
        "code.s3Bucket": {"s3Bucket": "no-such-bucket", "s3Key": "tests/code.zip"},
        "code.s3Key": {"s3Bucket": "kx-local-code", "s3Key": "tests/missing.zip"},
        "code.s3ObjectVersion": {
            "s3Bucket": "kx-local-code",
            "s3Key": "tests/code.zip",
            "s3ObjectVersion": "nope",
        },
    }
    for field, code in cases.items():
        with pytest.raises(ClientError) as err:
            update(fs, "dev-gp", code)
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert err.value.response["Error"]["Message"].startswith(field + ":")
    assert fs.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")["status"] == "RUNNING"


def test_client_token_makes_retries_safe(plane):
    fs = plane.clients().finspace
    version = plane.upload({"init.q": "a:1\n"})
    update(fs, "dev-gp", code_ref(version), clientToken="deploy-1")
    update(
        fs, "dev-gp", code_ref(version), clientToken="deploy-1"
    )  # a retry while UPDATING: no conflict, no change
    plane.wait_status("dev-gp", "RUNNING")
    update(fs, "dev-gp", code_ref(version), clientToken="deploy-1")  # a retry after it finished
    assert fs.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")["status"] == "RUNNING"
    with pytest.raises(ClientError) as mismatch:
        update(fs, "dev-gp", code_ref(version), strategy="FORCE", clientToken="deploy-1")
    assert mismatch.value.response["Error"]["Code"] == "ConflictException"
    assert mismatch.value.response["reason"] == "IdempotentParameterMismatch"
    assert plane.counters()["appliedUpdates"] == {"deploy-1": 1}


def failing_update_checks(plane, cluster, version, expected_in_log):
    fs = plane.clients().finspace
    before = fs.get_kx_cluster(environmentId=ENV_ID, clusterName=cluster)
    update(fs, cluster, code_ref(version), clientToken="bad-1")
    after = plane.wait_status(cluster, "RUNNING")
    assert after["status"] == "RUNNING"
    assert after["code"] == before["code"] and after["initializationScript"] == before["initializationScript"]
    assert REASON_PATTERN.match(after["statusReason"]) and len(after["statusReason"]) <= 250
    assert after["statusReason"].startswith("Code update failed on node kxnode-")
    failed_node = after["statusReason"].split()[5].rstrip(".")
    assert expected_in_log in node_log(plane, cluster, failed_node)
    nodes = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName=cluster)["nodes"]
    assert all(n["status"] == "RUNNING" for n in nodes)
    assert plane.counters()["appliedUpdates"].get("bad-1") is None
    good = plane.upload({"init.q": "ok:1\n"}, key="tests/good.zip")
    update(fs, cluster, code_ref(good, key="tests/good.zip"))
    fixed = plane.wait_status(cluster, "RUNNING")
    assert fixed.get("statusReason") is None and fixed["code"]["s3Key"] == "tests/good.zip"


def test_failed_update_missing_init_script_keeps_previous_code(plane):
    version = plane.upload({"lib.q": "f:{x}\n"})
    failing_update_checks(plane, "hdb-3", version, "initialization script init.q is not in the code bundle")


def test_failed_update_checker_errors_fail_the_node(plane):
    version = plane.upload({"init.q": "f:{[x] x+1\n"})
    failing_update_checks(plane, "dev-gp", version, "is never closed")


def test_failed_update_q_exits_nonzero(q_plane):
    version = q_plane.upload({"init.q": "/ told to fail\nexit 3\n"})
    failing_update_checks(q_plane, "hdb-3", version, "q exited with code 3")


def test_q_nodes_get_init_script_and_arguments(q_plane):
    fs = q_plane.clients().finspace
    version = q_plane.upload({"init.q": "a:1\n"})
    update(fs, "dev-gp", code_ref(version), commandLineArguments=[{"key": "env", "value": "dev"}])
    q_plane.wait_status("dev-gp", "RUNNING")
    node = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="dev-gp")["nodes"][0]["nodeId"]
    log = node_log(q_plane, "dev-gp", node)
    assert "q stand-in: loaded init.q with {'p':" in log and "'env': 'dev'" in log


def test_client_token_expires_after_ten_minutes(plane):
    import sqlite3

    fs = plane.clients().finspace
    version = plane.upload({"init.q": "a:1\n"})
    update(fs, "dev-gp", code_ref(version), clientToken="old-1")
    plane.wait_status("dev-gp", "RUNNING")
    with sqlite3.connect(plane.state_dir / "state.db") as db:  # age the token as ten minutes would
        db.execute("UPDATE tokens SET created = created - 601")
    update(fs, "dev-gp", code_ref(version), strategy="FORCE", clientToken="old-1")  # a new request now
    plane.wait_status("dev-gp", "RUNNING")
    assert plane.counters()["appliedUpdates"] == {"old-1": 2}


def test_failed_no_restart_update_touches_no_node(plane):
    fs = plane.clients().finspace
    before_nodes = fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="dev-gp")["nodes"]
    before = fs.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")
    version = plane.upload({"init.q": "f:{[x]\n"})
    update(fs, "dev-gp", code_ref(version), strategy="NO_RESTART")
    after = plane.wait_status("dev-gp", "RUNNING")
    assert after["code"] == before["code"]
    assert after["statusReason"].startswith("Code update failed while checking the new code")
    assert fs.list_kx_cluster_nodes(environmentId=ENV_ID, clusterName="dev-gp")["nodes"] == before_nodes
    assert "is never closed" in node_log(plane, "dev-gp", before_nodes[0]["nodeId"])
