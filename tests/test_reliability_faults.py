"""Reliability: 100 deployments through the engine while the plane fails 30% of its requests.

Faults are the plane's own, on FinSpace, S3 and CloudWatch Logs requests alike (throttling,
500s, dropped connections, slow answers, and "drop_after": the request is carried out but
the answer is lost). Every deployment must end
deployed or with a clear KxError, no clientToken may be applied twice, and the workspaces
must be byte-for-byte untouched. Four clusters take the pushes in parallel to keep the wall
time down; each cluster gets its pushes one after the other, as a user would.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time

import pytest
from plane_fixtures import ENV_ID

from kx_jupyter.config import load_settings
from kx_jupyter.deploy import Engine
from kx_jupyter.errors import KxError
from kx_jupyter.local.seed import VPC

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DEPLOYMENTS = 100
FAULTS = {
    "throttle": 0.08,
    "error": 0.08,
    "drop": 0.07,
    "slow": 0.04,
    "drop_after": 0.03,
    "slow_seconds": 0.3,
}
CLUSTERS = ("dev-gp", "rel-gp-1", "rel-gp-2", "rel-gp-3")


def create_gp_cluster(fs, name: str, code: dict) -> None:
    fs.create_kx_cluster(
        environmentId=ENV_ID,
        clusterName=name,
        clusterType="GP",
        releaseLabel="1.0",
        azMode="SINGLE",
        availabilityZoneId="use1-az1",
        vpcConfiguration=VPC,
        initializationScript="init.q",
        code=code,
        capacityConfiguration={"nodeType": "kx.s.large", "nodeCount": 1},
    )


def tree_digest(root) -> str:
    """Every path under ``root`` with its mode and content: any change shows."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest.update(f"{path.relative_to(root)}\0{st.st_mode:o}\0".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def make_workspaces(base, count: int) -> list:
    roots = []
    for i in range(count):
        root = base / f"ws{i:03d}"
        (root / "lib").mkdir(parents=True)
        (root / "init.q").write_text(f"\\l lib/util.q\nversion:{i}\n")
        (root / "lib" / "util.q").write_text(f"f:{{x+{i}}}\n")
        roots.append(root)
    return roots


def is_clear(error: KxError, secret: str) -> bool:
    text = str(error)
    return (
        bool(error.message) and "Traceback" not in text and " object at 0x" not in text and secret not in text
    )


def test_100_deployments_under_30_percent_faults(plane, tmp_path):
    steady = plane.client("finspace", attempts=20)  # the test's own reads ride through the faults
    seed_code = steady.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")["code"]
    for name in CLUSTERS[1:]:
        create_gp_cluster(steady, name, seed_code)
    for name in CLUSTERS:
        assert plane.wait_status(name, "RUNNING")["status"] == "RUNNING"
    workspaces = make_workspaces(tmp_path / "workspaces", DEPLOYMENTS)
    before = [tree_digest(ws) for ws in workspaces]

    plane.set_faults(FAULTS)
    settings = load_settings(poll_initial=0.05, poll_max=0.3, timeout=60)  # the engine's own retry policy
    outcomes: list[tuple[str, str, object, dict | None]] = []  # (cluster, status, error, result)
    lock = threading.Lock()

    def push_all(cluster: str, mine: list) -> None:
        engine = Engine(settings)
        for ws in mine:
            deadline = (
                time.monotonic() + 30
            )  # a refused push may still have reached the cluster: let it settle
            while steady.get_kx_cluster(environmentId=ENV_ID, clusterName=cluster)["status"] != "RUNNING":
                assert time.monotonic() < deadline, f"{cluster} never settled"
                time.sleep(0.05)
            try:
                d = engine.update(cluster=cluster, src=str(ws))
            except KxError as exc:
                with lock:
                    outcomes.append((cluster, "refused", exc, None))
                continue
            result = d.wait(timeout=120)
            with lock:
                outcomes.append((cluster, d.status, d.error, result))

    started = time.monotonic()
    threads = [
        threading.Thread(target=push_all, args=(c, workspaces[i :: len(CLUSTERS)]))
        for i, c in enumerate(CLUSTERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    plane.set_faults({})
    print(f"\n{DEPLOYMENTS} deployments under 30% faults took {wall:.0f} s")
    for _, status, error, _ in outcomes:
        if error is not None:
            print(status, str(error).splitlines()[0])

    assert len(outcomes) == DEPLOYMENTS
    secret = plane.info.secret_key
    statuses = [status for _, status, _, _ in outcomes]
    assert set(statuses) <= {"succeeded", "refused", "failed"}, (
        statuses
    )  # never 'detached' or still 'watching'
    for cluster, status, error, _ in outcomes:
        if status != "succeeded":
            assert isinstance(error, KxError) and is_clear(error, secret), (cluster, status, error)
    succeeded = [r for _, s, _, r in outcomes if s == "succeeded"]
    assert len(succeeded) >= DEPLOYMENTS * 0.9, f"only {len(succeeded)} deployed: {statuses}"

    counters = plane.counters()
    applied = counters["appliedUpdates"]
    assert all(n == 1 for n in applied.values()), {t: n for t, n in applied.items() if n != 1}
    for result in succeeded:
        assert applied.get(result["clientToken"]) == 1
    # the faults really happened: update calls and uploads were retried, so there were more calls than results
    assert counters["requests"]["UpdateKxClusterCodeConfiguration"] > len(applied)
    assert counters["requests"]["PutObject"] > len({r["code"]["s3Key"] for r in succeeded})

    assert [tree_digest(ws) for ws in workspaces] == before
    history = Engine(settings).history(limit=500)
    assert sum(e.outcome == "succeeded" for e in history) == len(succeeded)


UPDATE = "UpdateKxClusterCodeConfiguration"


def one_file_workspace(tmp_path, text="a:1\n"):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "init.q").write_text(text)
    return ws


def test_a_lost_answer_is_not_reported_as_nothing_deployed(plane, tmp_path):
    """The plane applies the update, the answer is lost, and every retry fails: the cluster took it."""
    plane.set_faults({"sequence": ["drop_after"] + ["error"] * 8, "operations": [UPDATE]})
    engine = Engine(load_settings(poll_initial=0.05, poll_max=0.3, max_attempts=3))
    d = engine.update(cluster="dev-gp", src=str(one_file_workspace(tmp_path)))
    result = d.wait(60)
    plane.set_faults({})
    assert d.status == "succeeded" and d.exit_code == 0, result
    assert any(
        "answer to the update call was lost" in w and "took the update" in w for w in result["warnings"]
    )
    assert any("answer to the update call was lost" in e.message for e in d.events if e.phase == "update")
    entry = engine.history(limit=1)[0]
    assert (entry.outcome, entry.key) == ("succeeded", result["code"]["s3Key"])
    assert plane.wait_status("dev-gp", "RUNNING")["code"]["s3Key"] == entry.key
    assert plane.counters()["appliedUpdates"] == {result["clientToken"]: 1}


def test_a_dropped_call_the_cluster_never_took_is_a_refusal(plane, tmp_path):
    before = plane.wait_status("dev-gp", "RUNNING")["code"]
    plane.set_faults({"sequence": ["drop"], "operations": [UPDATE]})  # dropped before the plane acted on it
    engine = Engine(load_settings(poll_initial=0.05, poll_max=0.3, max_attempts=1))
    with pytest.raises(KxError) as err:
        engine.update(cluster="dev-gp", src=str(one_file_workspace(tmp_path)))
    assert err.value.exit_code == 2 and "nothing was deployed" in err.value.message
    assert "was lost" in err.value.message and "local start" not in err.value.hint  # the plane is running
    assert engine.history(limit=1)[0].outcome == "refused"
    assert plane.counters()["appliedUpdates"] == {}
    assert plane.wait_status("dev-gp", "RUNNING")["code"] == before


def test_when_even_the_cluster_cannot_be_asked_the_outcome_is_unknown(plane, tmp_path):
    # preflight's GetKxCluster passes, the update is applied but its answer lost, the check fails
    plane.set_faults({"sequence": ["ok", "drop_after", "error"], "operations": ["GetKxCluster", UPDATE]})
    engine = Engine(load_settings(poll_initial=0.05, poll_max=0.3, max_attempts=1))
    with pytest.raises(KxError) as err:
        engine.update(cluster="dev-gp", src=str(one_file_workspace(tmp_path)))
    plane.set_faults({})
    error = err.value
    assert error.exit_code == 1 and "UNKNOWN" in error.message and "nothing was deployed" not in error.message
    assert "kx-jupyter status dev-gp --watch" in error.hint and "%kx_status dev-gp" in error.hint
    assert engine.history(limit=1)[0].outcome == "unknown"
    again = engine.attach("dev-gp")  # what the hint says to do finds the true outcome and records it
    assert again.wait(60)["status"] == "succeeded"
    assert engine.history(limit=1)[0].outcome == "succeeded"


def test_the_command_exits_1_with_an_unknown_outcome_not_2(plane, tmp_path, monkeypatch, capsys):
    from kx_jupyter.cli import main

    monkeypatch.setenv("KX_JUPYTER_MAX_ATTEMPTS", "1")
    plane.set_faults({"sequence": ["ok", "drop_after", "error"], "operations": ["GetKxCluster", UPDATE]})
    code = main(["update", "--cluster", "dev-gp", "--src", str(one_file_workspace(tmp_path)), "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and json.loads(out)["status"] == "unknown" and "kx-jupyter status dev-gp --watch" in err
