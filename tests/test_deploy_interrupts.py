"""Before the watch starts: Ctrl-C during check, bundle, upload or the update call says how far the
push got (exit 130, history to match), and a large workspace's check and bundle say their progress.
Against the local plane, as a user runs `kx-jupyter update`."""

import json

import pytest

from kx_jupyter.cli import main
from kx_jupyter.deploy import bundle as bundles
from kx_jupyter.deploy import engine as engine_module

pytestmark = pytest.mark.slow


def ws(tmp_path, text="x:1\n"):
    root = tmp_path / "ws"
    root.mkdir(exist_ok=True)
    (root / "init.q").write_text(text)
    return root


def ctrl_c(*args, **kwargs):
    raise KeyboardInterrupt


def history(cli) -> list:
    """`kx-jupyter history --json`: it settles unfinished pushes first."""
    return json.loads(cli("history", "hdb-3", "--json")[1])


def recorded() -> list:
    """The history as recorded, nothing settled."""
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine

    return Engine(load_settings()).history("hdb-3")


def test_ctrl_c_while_bundling_pushes_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(bundles, "build", ctrl_c)
    code, _, err = cli("update", "--cluster", "hdb-3", "--src", ws(tmp_path))
    assert code == 130 and "while checking and bundling: nothing was pushed, hdb-3 is unchanged" in err
    assert history(cli) == []


def test_ctrl_c_during_the_upload_pushes_nothing_and_json_says_so(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module.staging, "upload", ctrl_c)
    code, out, err = cli("update", "--cluster", "hdb-3", "--src", ws(tmp_path), "--json")
    assert code == 130 and json.loads(out)["status"] == "not-pushed" and "during the upload" in err
    assert history(cli) == []


def test_ctrl_c_after_the_upload_says_the_update_was_not_requested(cli, tmp_path, monkeypatch):
    start = engine_module.History.start
    monkeypatch.setattr(engine_module.History, "start", ctrl_c)
    code, _, err = cli("update", "--cluster", "hdb-3", "--src", ws(tmp_path))
    assert code == 130 and "was uploaded (s3://" in err and "the update was not requested" in err
    monkeypatch.setattr(engine_module.History, "start", start)
    assert history(cli) == []
    code, out, _ = cli("update", "--cluster", "hdb-3", "--src", ws(tmp_path))
    assert code == 0 and "already in s3://" in out  # the upload is reused


def test_ctrl_c_during_the_update_call_is_unknown_in_history(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module.Engine, "_submit", ctrl_c)
    code, _, err = cli("update", "--cluster", "hdb-3", "--src", ws(tmp_path))
    assert code == 130 and "during the update call" in err and "may or may not be updating" in err
    assert "kx-jupyter status hdb-3 --watch" in err
    assert recorded()[0].outcome == "unknown"


def test_an_update_call_interrupted_on_a_fresh_cluster_is_settled_as_not_taken(
    cli, plane, tmp_path, monkeypatch
):
    code, _, err = cli("local", "create-cluster", "fresh-gp")  # its stamps are all recent
    assert code == 0, err
    submit = engine_module.Engine._submit
    monkeypatch.setattr(engine_module.Engine, "_submit", ctrl_c)
    code, _, _ = cli("update", "--cluster", "fresh-gp", "--src", ws(tmp_path))
    assert code == 130
    monkeypatch.setattr(engine_module.Engine, "_submit", submit)

    def newest() -> dict:
        return json.loads(cli("history", "fresh-gp", "--json")[1])[0]

    settled = newest()  # the history's look settles it by the cluster's own stamps
    assert settled["outcome"] == "refused" and "did not take the update" in settled["reason"]
    assert "during the update call" in settled["reason"]
    code, _, err = cli("update", "--cluster", "fresh-gp", "--src", ws(tmp_path), "--no-wait")
    assert code == 0, err
    plane.wait_status("fresh-gp", "RUNNING")
    assert newest()["outcome"] == "succeeded"  # a push that reached it is settled as before


def test_ctrl_c_after_the_update_was_requested_is_still_updating_until_settled(
    cli, plane, tmp_path, monkeypatch
):
    monkeypatch.setattr(engine_module.Engine, "_watch", ctrl_c)
    code, out, err = cli("update", "--cluster", "hdb-3", "--src", ws(tmp_path), "--json")
    assert code == 130 and json.loads(out)["status"] == "still-updating"
    assert "was requested" in err and "still updating, stopped watching" in err
    assert recorded()[0].outcome == "still-updating"
    plane.wait_status("hdb-3", "RUNNING")
    assert history(cli)[0]["outcome"] == "succeeded"  # the history itself settled it


def test_history_offline_says_unknown_and_settles_once_the_plane_answers(cli, plane, tmp_path):
    from kx_jupyter.local import daemon

    code, _, _ = cli("update", "--cluster", "hdb-3", "--src", ws(tmp_path), "--no-wait")
    assert code == 0
    daemon.stop(plane.state_dir)
    code, out, err = cli("history", "hdb-3")
    assert code == 0 and "updating" in out and "unknown (endpoint not reachable)" in out and not err
    assert history(cli)[0]["outcome"] == "updating"  # nothing is recorded from an unanswered look


def test_a_large_workspace_says_its_bundle_and_check_progress(plane, tmp_path, monkeypatch):
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine, watch

    root = ws(tmp_path, "\n".join(f"\\l lib/f{k}.q" for k in range(3000)) + "\n")
    (root / "lib").mkdir()
    for k in range(3000):
        (root / "lib" / f"f{k}.q").write_text(f"f{k}:{{x+{k}}}\n")
    monkeypatch.setattr(watch, "PROGRESS_EVERY", 0.0)  # a line per file: the test asserts events, not timing
    said = []
    d = Engine(load_settings()).update(cluster="hdb-3", src=str(root), on_event=said.append, wait=False)
    progress = [e.progress for e in said if e.phase == "progress"]
    bundled = [p["files"] for p in progress if p["step"] == "bundle"]
    checked = [p["files"] for p in progress if p["step"] == "check"]
    # 3,001 files each; the last one is said by the step's own event
    assert bundled == list(range(1, 3001)) and checked == list(range(1, 3001))
    assert all(p["total_files"] == 3001 and p["total_bytes"] >= p["bytes"] > 0 for p in progress)
    planned = next(i for i, e in enumerate(said) if e.phase == "check") + 1
    phases = [e.phase for e in said[:planned]]
    assert phases == ["progress"] * 3000 + ["bundle"] + ["progress"] * 3000 + ["check"]  # as they happened
    elapsed = [e.elapsed for e in said[:planned]]
    assert elapsed == sorted(elapsed) and elapsed[0] > 0  # one clock, from the command's start
    assert d.events[:planned] == said[:planned]  # the deployment has them too, in that order


def test_history_with_a_remote_endpoint_that_does_not_answer_says_unknown(tmp_path, monkeypatch, capsys):
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy.history import History

    monkeypatch.setenv("KX_JUPYTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KX_JUPYTER_BACKEND", "aws")
    monkeypatch.setenv("KX_JUPYTER_REGION", "us-east-1")
    monkeypatch.setenv("KX_JUPYTER_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    history_db = History(load_settings().home_path / "history.sqlite")
    entry = history_db.start(
        **dict.fromkeys(("bundle_sha256", "bucket", "key", "version", "init_script", "client_token"), "x"),
        backend="aws",
        environment="env1",
        cluster="hdb-3",
        arguments={},
        strategy="ROLLING",
    )
    history_db.finish(entry.id, "still-updating", "the watch timed out")
    assert main(["history", "hdb-3"]) == 0
    out = capsys.readouterr().out
    assert "still-updating" in out and "unknown (endpoint not reachable); the watch timed out" in out


def test_a_large_bundle_says_how_many_bytes_the_upload_has_sent(plane, tmp_path, monkeypatch):
    import os

    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine, watch

    root = ws(tmp_path)
    (root / "data.bin").write_bytes(os.urandom(20 * 2**20))  # incompressible: a 20 MB bundle
    monkeypatch.setattr(watch, "PROGRESS_EVERY", 0.0)  # every read: the test asserts events, not timing
    said = []
    d = Engine(load_settings()).update(cluster="hdb-3", src=str(root), on_event=said.append, wait=False)
    size = d.result["bundle"]["bytes"]
    sent = [e for e in said if e.phase == "progress" and e.progress["step"] == "stage"]
    figures = [e.progress["bytes"] for e in sent]
    assert len(figures) > 10 and figures == sorted(figures) and 0 < figures[0] and figures[-1] < size
    assert {e.progress["total_bytes"] for e in sent} == {size}  # sending only: signing reads are not said
    assert sent[0].message.startswith("stage: ") and sent[0].message.endswith(" of 20.0 MB uploaded")
    phases = [e.phase for e in said]
    stage = phases.index("stage")
    assert phases.index("check") < said.index(sent[0]) and said.index(sent[-1]) < stage  # during the upload
    elapsed = [e.elapsed for e in said[: stage + 1]]
    assert elapsed == sorted(elapsed)  # one clock, from the command's start
    assert d.result["uploaded_bytes"] == size


def test_a_small_bundle_says_nothing_of_its_upload(plane, tmp_path, monkeypatch):
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine, watch

    monkeypatch.setattr(watch, "PROGRESS_EVERY", 0.0)
    said = []
    Engine(load_settings()).update(cluster="hdb-3", src=str(ws(tmp_path)), on_event=said.append, wait=False)
    assert [e for e in said if e.phase == "progress"] == [] and "stage" in [e.phase for e in said]
