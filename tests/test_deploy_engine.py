"""The engine against the real local control plane (boto3 over HTTP): the issue's 'done when' list."""

import json
import threading

import pytest

from kx_jupyter.config import load_settings
from kx_jupyter.deploy import Engine
from kx_jupyter.errors import KxError

pytestmark = pytest.mark.slow


def workspace(base, files):
    root = base / "ws"  # never tmp_path itself: the plane's home (with its credentials) lives there
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def bucket_keys(engine, versions=False):
    s3 = engine.clients.s3
    if versions:
        return [
            (v["Key"], v["VersionId"])
            for v in s3.list_object_versions(Bucket="kx-local-code", Prefix="kx-jupyter/").get("Versions", [])
        ]
    return [
        o["Key"] for o in s3.list_objects_v2(Bucket="kx-local-code", Prefix="kx-jupyter/").get("Contents", [])
    ]


@pytest.fixture
def engine(plane):
    return Engine(load_settings(poll_initial=0.05, poll_max=0.3))


@pytest.fixture
def slow_plane(tmp_path, monkeypatch):
    """A plane whose nodes take 2 s to start, so an update is still running when we act."""
    from plane_fixtures import plane_in

    with plane_in(tmp_path, monkeypatch, node_start_seconds=2.0) as running:
        yield running


@pytest.fixture
def slow_engine(slow_plane):
    return Engine(load_settings(poll_initial=0.05, poll_max=0.3))


@pytest.fixture
def plane_wait(slow_plane):
    return slow_plane.wait_status


def cluster_code(engine, name):
    return engine.status(name)["code"]


def test_push_deploys_to_every_node_and_streams_their_logs(engine, tmp_path):
    ws = workspace(tmp_path, {"init.q": "\\l lib/util.q\nx:f 1\n", "lib/util.q": "f:{x+1}\n"})
    seen_threads = set()
    events = []

    def on_event(event):
        seen_threads.add(threading.current_thread().name)
        events.append(event)

    d = engine.update(cluster="hdb-3", src=ws, on_event=on_event)
    result = d.wait()
    assert d.status == "succeeded" and d.exit_code == 0, result
    assert [e.phase for e in events][-1] == "done" and len(result["nodes"]) == 3
    assert {(n["status"], n["code"]) for n in result["nodes"]} == {("RUNNING", "new code")}
    logged = {
        node
        for e in events
        if e.phase == "log"
        for node, lines in e.log.items()
        if "node is RUNNING" in lines
    }
    assert logged == {n["nodeId"] for n in result["nodes"]}  # each node's log since this push came along
    assert seen_threads == {threading.current_thread().name}  # followed in the caller's thread, no other
    phases = [e.phase for e in events if e.phase not in ("checked", "log", "nodes")]
    assert phases == ["bundle", "check", "stage", "update", "done"]
    assert [e.elapsed for e in events] == sorted(
        e.elapsed for e in events
    )  # one clock, from the command's start
    assert cluster_code(engine, "hdb-3") == result["code"] and result["uploaded_bytes"] > 0
    entry = engine.history("hdb-3")[0]
    assert (entry.outcome, entry.key, entry.version, entry.bundle_sha256) == (
        "succeeded",
        result["code"]["s3Key"],
        result["code"]["s3ObjectVersion"],
        result["bundle"]["sha256"],
    )
    json.dumps(result)  # JSON-able


def test_a_first_push_expects_the_planes_node_start_time_then_its_own_history(
    slow_engine, tmp_path, monkeypatch
):
    import kx_jupyter.deploy.engine as engine_module

    expected = []

    class Recording(engine_module.PollPolicy):
        def __init__(self, initial, maximum, expected_seconds=0.0, *args):
            expected.append(expected_seconds)
            super().__init__(initial, maximum, expected_seconds, *args)

    monkeypatch.setattr(engine_module, "PollPolicy", Recording)
    ws = workspace(tmp_path, {"init.q": "x:1\n"})
    first = slow_engine.update(cluster="hdb-3", src=ws)
    assert first.wait()["status"] == "succeeded"
    assert expected == [
        pytest.approx(3 * 2.1)
    ]  # nothing pushed yet: three nodes of 2 s (and a tick), one after another
    took = slow_engine.history("hdb-3")[0].duration
    assert took == pytest.approx(expected[0], rel=0.5)  # and that is about what it took
    (ws / "init.q").write_text("x:2\n")
    assert slow_engine.update(cluster="hdb-3", src=ws).wait()["status"] == "succeeded"
    assert expected[1] == pytest.approx(took)  # then its own history


def test_same_code_again_uploads_nothing_and_changes_nothing(engine, tmp_path):
    ws = workspace(tmp_path, {"init.q": "x:1\n"})
    first = engine.update(cluster="dev-gp", src=ws)
    assert first.wait()["status"] == "succeeded"
    again = engine.update(cluster="dev-gp", src=ws)
    assert again.status == "unchanged" and again.exit_code == 0 and again.result["uploaded_bytes"] == 0
    assert "already runs this code" in again.events[-1].message
    forced = engine.update(cluster="dev-gp", src=ws, force=True)
    assert forced.wait()["status"] == "succeeded"
    assert forced.result["uploaded_bytes"] == 0 and forced.result["code"] == first.result["code"]
    assert len(bucket_keys(engine, versions=True)) == 1  # one object, one version
    assert [e.outcome for e in engine.history("dev-gp")] == ["succeeded", "succeeded"]


def test_broken_code_is_stopped_before_upload_with_the_checker_message(engine, tmp_path):
    ws = workspace(tmp_path, {"init.q": "f:{x+1\n"})
    with pytest.raises(KxError) as err:
        engine.update(cluster="dev-gp", src=ws)
    assert "init.q:1" in str(err.value) and "--no-check" in err.value.hint and err.value.exit_code == 2
    assert bucket_keys(engine) == [] and engine.history() == []


def test_code_failing_on_nodes_reports_reason_and_log_tail_and_keeps_old_code(engine, tmp_path):
    good = engine.update(cluster="hdb-3", src=workspace(tmp_path / "good", {"init.q": "x:1\n"}))
    assert good.wait()["status"] == "succeeded"
    bad = engine.update(cluster="hdb-3", src=workspace(tmp_path / "bad", {"init.q": "f:{x+1\n"}), check=False)
    result = bad.wait()
    assert bad.status == "failed" and bad.exit_code == 1
    assert result["reason"] and "still runs" in bad.error.message
    assert any("never closed" in line for line in result["log_tail"])
    assert cluster_code(engine, "hdb-3") == good.result["code"]
    entry = engine.history("hdb-3")[0]
    assert entry.outcome == "failed" and entry.reason == result["reason"] and "never closed" in entry.log_tail


def test_code_failing_in_a_real_q_process(q_plane, tmp_path):
    engine = Engine(load_settings(poll_initial=0.05, poll_max=0.3))
    d = engine.update(cluster="dev-gp", src=workspace(tmp_path, {"init.q": "x:1\nexit 3\n"}), check=False)
    assert d.wait()["status"] == "failed" and d.result["reason"]
    assert engine.status("dev-gp")["code"]["s3Key"] == "seed/code.zip"


def test_rollback_redeploys_the_exact_earlier_object_and_settings(engine, tmp_path):
    a = engine.update(
        cluster="dev-gp", src=workspace(tmp_path / "a", {"init.q": "x:1\n"}), args={"mode": "a"}
    )
    assert a.wait()["status"] == "succeeded"
    b = engine.update(cluster="dev-gp", src=workspace(tmp_path / "b", {"init.q": "x:2\n"}), strategy="FORCE")
    assert b.wait()["status"] == "succeeded"
    back = engine.rollback("dev-gp")
    assert back.wait()["status"] == "succeeded"
    status = engine.status("dev-gp")
    assert status["code"] == a.result["code"]
    assert {x["key"]: x["value"] for x in status["commandLineArguments"]} == {"mode": "a"}
    entry = engine.history("dev-gp")[0]
    assert (entry.kind, entry.rollback_of, entry.strategy, entry.version) == (
        "rollback",
        a.result["history_id"],
        "ROLLING",
        a.result["code"]["s3ObjectVersion"],
    )
    assert back.result["uploaded_bytes"] == 0


def test_rollback_with_nothing_to_go_back_to_is_refused(engine):
    with pytest.raises(KxError, match="no successful deployment of dev-gp in the history"):
        engine.rollback("dev-gp")


def test_diff_compares_workspace_with_running_code(engine, tmp_path):
    ws = workspace(tmp_path, {"init.q": "x:1\n", "old.q": "o:1\n", "same.q": "s:1\n"})
    assert engine.update(cluster="dev-gp", src=ws).wait()["status"] == "succeeded"
    (ws / "init.q").write_text("x:2\n")
    (ws / "old.q").unlink()
    (ws / "new.q").write_text("n:1\n")
    diffs = {d.path: d for d in engine.diff("dev-gp", src=ws)}
    assert {p: d.status for p, d in diffs.items()} == {
        "init.q": "modified",
        "old.q": "removed",
        "new.q": "added",
        "same.q": "unchanged",
    }
    assert "-x:1" in diffs["init.q"].diff and "+x:2" in diffs["init.q"].diff


def test_dry_run_shows_the_exact_request_and_changes_nothing(engine, tmp_path):
    ws = workspace(tmp_path, {"init.q": "x:1\n"})
    d = engine.update(cluster="dev-gp", src=ws, args={"threads": "4"}, dry_run=True)
    request = d.result["request"]
    assert d.status == "dry-run" and d.exit_code == 0
    assert request["environmentId"] == "kxlocaldev" and request["clusterName"] == "dev-gp"
    assert request["code"]["s3Key"].endswith(d.result["bundle"]["sha256"] + ".zip")
    assert request["commandLineArguments"] == [{"key": "threads", "value": "4"}]
    assert request["deploymentConfiguration"] == {"deploymentStrategy": "ROLLING"} and request["clientToken"]
    assert bucket_keys(engine) == [] and engine.history() == []


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"args": {"awsthing": "1"}}, "commandLineArguments[0].key"),
        ({"args": {"k": "has-dash"}}, "commandLineArguments[0].value"),
        ({"init": "bad name!.q"}, "initializationScript"),
    ],
)
def test_invalid_requests_are_refused_before_upload(engine, tmp_path, kwargs, field):
    files = {"init.q": "x:1\n", "bad name!.q": "x:1\n"}
    with pytest.raises(KxError, match=field.replace("[", r"\[").replace("]", r"\]")):
        engine.update(cluster="dev-gp", src=workspace(tmp_path, files), check=False, **kwargs)
    assert bucket_keys(engine) == []


def test_no_restart_only_on_gp(engine, tmp_path):
    with pytest.raises(KxError, match="NO_RESTART works only on GP clusters; hdb-3 is HDB"):
        engine.update(cluster="hdb-3", src=workspace(tmp_path, {"init.q": "x:1\n"}), strategy="NO_RESTART")


def test_no_restart_sends_code_only_and_the_cluster_keeps_its_init_script(engine, tmp_path):
    ws = workspace(tmp_path, {"init.q": "x:1\n", "lib.q": "f:{x}\n"})
    dry = engine.update(cluster="dev-gp", src=ws, strategy="NO_RESTART", dry_run=True)
    assert {"initializationScript", "commandLineArguments"}.isdisjoint(
        dry.result["request"]
    )  # as AWS's example sends it
    assert engine.update(cluster="dev-gp", src=ws, strategy="NO_RESTART").wait(60)["status"] == "succeeded"
    status = engine.status("dev-gp")
    assert (
        status["initializationScript"] == "init.q"
        and status["code"]["s3Key"] == dry.result["request"]["code"]["s3Key"]
    )


def test_missing_cluster_and_bucket(engine, tmp_path):
    ws = workspace(tmp_path, {"init.q": "x:1\n"})
    with pytest.raises(KxError, match="cluster nope does not exist .*dev-gp, hdb-3"):
        engine.update(cluster="nope", src=ws)
    other = Engine(engine.settings.with_overrides(code_bucket="no-such-bucket"))
    with pytest.raises(KxError, match="bucket does not exist"):
        other.update(cluster="dev-gp", src=ws)


def test_busy_cluster_and_second_push_are_refused(slow_engine, tmp_path):
    engine = slow_engine
    first = engine.plan("hdb-3", src=workspace(tmp_path / "a", {"init.q": "x:1\n"}))
    second = engine.plan("hdb-3", src=workspace(tmp_path / "b", {"init.q": "x:2\n"}))
    d = engine.push(first, wait=False)
    assert d.status == "submitted"
    with pytest.raises(KxError, match="already being updated") as err:
        engine.push(second, wait=False)  # planned before the first push: the service says conflict
    assert err.value.exit_code == 2
    with pytest.raises(KxError, match=r"hdb-3 is UPDATING since .*must be RUNNING"):
        engine.update(cluster="hdb-3", src=workspace(tmp_path / "c", {"init.q": "x:3\n"}))
    assert engine.attach("hdb-3").wait()["status"] == "succeeded"
    assert [e.outcome for e in engine.history("hdb-3")] == ["refused", "succeeded"]


def test_detach_never_cancels_and_attach_picks_up(slow_engine, tmp_path):
    engine = slow_engine
    d = engine.update(cluster="hdb-3", src=workspace(tmp_path, {"init.q": "x:1\n"}))
    d.follow_in_background()
    d.detach()
    assert d.status == "still-updating" and d.exit_code == 3 and d.events[-1].phase == "still-updating"
    assert not [t for t in threading.enumerate() if t.name.startswith("kx-watch")]
    assert engine.history("hdb-3")[0].outcome == "still-updating"
    again = engine.attach("hdb-3")
    assert again.wait()["status"] == "succeeded"
    assert engine.history("hdb-3")[0].outcome == "succeeded"
    assert engine.status("hdb-3")["code"] == d.result["code"]


def test_retries_reuse_one_client_token_and_deploy_once(engine, plane, tmp_path):
    plane.set_faults(
        {"sequence": ["drop", "throttle", "error", "ok"], "operations": ["UpdateKxClusterCodeConfiguration"]}
    )
    sent = []
    engine.clients.finspace.meta.events.register(
        "before-send.finspace.UpdateKxClusterCodeConfiguration",
        lambda request, **_: sent.append(json.loads(request.body)["clientToken"]),
    )
    d = engine.update(cluster="dev-gp", src=workspace(tmp_path, {"init.q": "x:1\n"}))
    assert d.wait()["status"] == "succeeded"
    token = d.result["clientToken"]
    assert sent == [token] * 4
    assert plane.counters()["appliedUpdates"] == {token: 1}


def test_watch_survives_throttled_polls(engine, plane, tmp_path):
    plane.set_faults({"throttle": 0.5, "operations": ["GetKxCluster", "ListKxClusterNodes"]})
    d = engine.update(cluster="hdb-3", src=workspace(tmp_path, {"init.q": "x:1\n"}))
    assert d.wait()["status"] == "succeeded"


def test_exhausted_throttling_is_a_clear_refusal(engine, plane, tmp_path):
    plane.set_faults({"throttle": 1.0, "operations": ["UpdateKxClusterCodeConfiguration"]})
    engine = Engine(engine.settings.with_overrides(max_attempts=2))  # standard retries back off for seconds
    with pytest.raises(
        KxError, match=r"throttled while updating cluster dev-gp \(after \d+ attempts\)"
    ) as err:
        engine.update(cluster="dev-gp", src=workspace(tmp_path, {"init.q": "x:1\n"}))
    assert "max_attempts" in err.value.hint
    assert engine.history("dev-gp")[0].outcome == "refused"


def test_results_and_history_hold_no_credentials(engine, tmp_path):
    d = engine.update(cluster="dev-gp", src=workspace(tmp_path, {"init.q": "x:1\n"}))
    text = json.dumps(d.wait()) + json.dumps([e.to_dict() for e in engine.history()]) + repr(d)
    conn = engine.clients.conn
    assert conn.secret_key not in text and conn.access_key not in text


def test_unversioned_bucket_warns_and_owner_and_encryption_are_sent(engine, tmp_path):
    engine.clients.s3.create_bucket(Bucket="plain-code")
    settings = engine.settings.with_overrides(
        code_bucket="plain-code", expected_bucket_owner="123456789012", sse="AES256"
    )
    d = Engine(settings).update(cluster="dev-gp", src=workspace(tmp_path, {"init.q": "x:1\n"}))
    assert d.wait()["status"] == "succeeded"
    assert (
        any("not versioned" in w for w in d.result["warnings"]) and "s3ObjectVersion" not in d.result["code"]
    )
    head = engine.clients.s3.head_object(
        Bucket="plain-code", Key=d.result["code"]["s3Key"], ChecksumMode="ENABLED"
    )
    assert head["ServerSideEncryption"] == "AES256" and head.get("ChecksumSHA256")


def test_a_watch_timeout_is_still_updating_and_the_next_look_settles_it(slow_engine, tmp_path):
    impatient = Engine(slow_engine.settings.with_overrides(timeout=0.5))
    d = impatient.update(cluster="hdb-3", src=workspace(tmp_path, {"init.q": "x:1\n"}))
    assert d.wait()["status"] == "still-updating" and d.exit_code == 3
    assert "timed out" in d.result["reason"] and not d.error
    assert slow_engine.history("hdb-3")[0].outcome == "still-updating"
    slow_engine.attach("hdb-3").wait()  # (or merely wait) until the update is over ...
    assert slow_engine.status("hdb-3")["code"] == d.result["code"]
    assert slow_engine.history("hdb-3")[0].outcome == "succeeded"


def test_a_no_wait_push_is_settled_by_the_next_status(slow_engine, plane_wait, tmp_path):
    d = slow_engine.update(cluster="hdb-3", src=workspace(tmp_path, {"init.q": "x:1\n"}), wait=False)
    assert d.status == "submitted" and slow_engine.history("hdb-3")[0].outcome == "updating"
    plane_wait("hdb-3", "RUNNING")
    assert slow_engine.status("hdb-3")["last_push"]["outcome"] == "succeeded"
    entry = slow_engine.history("hdb-3")[0]
    assert entry.outcome == "succeeded" and entry.duration > 0
