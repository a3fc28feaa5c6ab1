"""`kx-jupyter update | clusters | status | history | rollback | diff` against the local plane, as a user runs them."""

import json
import subprocess
import sys

import pytest

from kx_jupyter.cli import main

pytestmark = pytest.mark.slow


def ws(tmp_path, text, name="ws"):
    root = tmp_path / name
    root.mkdir(exist_ok=True)
    (root / "init.q").write_text(text)
    return root


def test_update_shows_progress_then_nothing_to_do(cli, tmp_path):
    src = ws(tmp_path, "x:1\n")
    code, out, _ = cli("update", "--cluster", "hdb-3", "--src", src, "--arg", "mode=prod")
    assert code == 0
    phases = [line.split("]", 1)[1].split()[0] for line in out.splitlines() if line.startswith("[")]
    assert phases[:4] == ["bundle", "check", "stage", "update"] and phases[-1] == "done"
    assert "checked" not in phases and "log" not in phases  # a line per change, not per read
    assert "deployed s3://kx-local-code/kx-jupyter/" in out
    code, out, _ = cli("update", "--cluster", "hdb-3", "--src", src, "--arg", "mode=prod")
    assert code == 0 and "already runs this code" in out


def test_update_json_is_one_document_without_credentials(cli, plane, tmp_path):
    code, out, _ = cli("update", "--cluster", "dev-gp", "--src", ws(tmp_path, "x:1\n"), "--json")
    result = json.loads(out)
    assert code == 0 and result["status"] == "succeeded" and result["code"]["s3ObjectVersion"]
    assert plane.info.secret_key not in out and plane.info.access_key not in out
    from kx_jupyter.deploy import Engine

    assert Engine().history("dev-gp")[0].origin == "cli"  # where the push came from, for the lab's history


def test_exit_code_2_for_checker_errors_and_1_for_failure_on_the_cluster(cli, tmp_path):
    src = ws(tmp_path, "f:{x+1\n")
    code, out, err = cli("update", "--cluster", "dev-gp", "--src", src)
    assert code == 2 and "init.q:1" in err and "--no-check" in err
    code, out, err = cli("update", "--cluster", "dev-gp", "--src", src, "--no-check")
    assert code == 1 and "failed" in err and "node log since this push" in err
    headline = err.splitlines()[0]  # the failing node's first error line, verbatim, first
    assert "init.q:1:3: error Q002 '{' is never closed" in headline


def test_json_refusal_is_still_json(cli, tmp_path):
    code, out, err = cli("update", "--cluster", "dev-gp", "--src", ws(tmp_path, "f:{x+1\n"), "--json")
    result = json.loads(out)
    assert (
        code == 2
        and result["status"] == "refused"
        and "init.q:1" in result["reason"]
        and "--no-check" in result["hint"]
    )


def test_dry_run_prints_the_request(cli, tmp_path):
    code, out, _ = cli(
        "update", "--cluster", "dev-gp", "--src", ws(tmp_path, "x:1\n"), "--dry-run", "--strategy", "force"
    )
    request = json.loads(out[out.index("{") :])
    assert code == 0 and request["deploymentConfiguration"] == {"deploymentStrategy": "FORCE"}


def test_clusters_status_history_rollback_diff(cli, tmp_path):
    code, out, _ = cli("clusters")
    assert code == 0 and "clusters of kxlocaldev" in out and "hdb-3" in out and "RUNNING" in out
    first = ws(tmp_path, "x:1\n", "a")
    second = ws(tmp_path, "x:2\n", "b")
    assert cli("update", "--cluster", "dev-gp", "--src", first)[0] == 0
    assert cli("update", "--cluster", "dev-gp", "--src", second)[0] == 0
    code, out, _ = cli("status", "dev-gp")
    assert code == 0 and "dev-gp (GP): RUNNING" in out and "node " in out
    code, out, _ = cli("history", "--json")
    entries = json.loads(out)
    assert code == 0 and [e["outcome"] for e in entries] == ["succeeded", "succeeded"]
    code, out, _ = cli("diff", "dev-gp", "--src", first)
    assert code == 0 and "M init.q" in out and "-x:2" in out and "+x:1" in out
    code, out, _ = cli("rollback", "dev-gp")
    assert code == 0 and "deployed" in out
    code, out, _ = cli("diff", "dev-gp", "--src", first)
    assert "matches the code the cluster runs" in out
    code, out, _ = cli("history", "dev-gp")
    assert f"rollback of #{entries[-1]['id']}" in out.splitlines()[0]


def test_missing_cluster_is_exit_2_with_a_message(cli, tmp_path):
    code, _, err = cli("update", "--cluster", "nope", "--src", ws(tmp_path, "x:1\n"))
    assert code == 2 and "cluster nope does not exist" in err and "Traceback" not in err


def test_help_documents_exit_codes_and_json(capsys):
    with pytest.raises(SystemExit):
        main(["update", "--help"])
    out = capsys.readouterr().out
    assert "exit codes" in out and "--json" in out and "uploaded_bytes" in out
    for option in (
        "--env",
        "--cluster",
        "--src",
        "--init",
        "--arg",
        "--strategy",
        "--bucket",
        "--prefix",
        "--no-wait",
        "--timeout",
        "--dry-run",
        "--no-check",
        "--force",
    ):
        assert option in out


def test_no_wait_then_status_watch_reattaches(cli, tmp_path):
    code, out, _ = cli("update", "--cluster", "hdb-3", "--src", ws(tmp_path, "x:1\n"), "--no-wait")
    assert code == 0 and "update submitted" in out and "status hdb-3 --watch" in out
    code, out, _ = cli("status", "hdb-3", "--watch", "--json")
    assert code == 0 and json.loads(out)["status"] == "succeeded"
    code, out, _ = cli("history", "hdb-3", "--json")
    assert json.loads(out)[0]["outcome"] == "succeeded"


@pytest.fixture
def slow_cli(tmp_path, monkeypatch, capsys):
    """The command on a plane whose nodes take 2 s: an update outlasts what the test does first."""
    from plane_fixtures import plane_in

    with plane_in(tmp_path, monkeypatch, node_start_seconds=2.0) as running:

        def run(*argv):
            code = main([str(a) for a in argv])
            out, err = capsys.readouterr()
            return code, out, err

        run.plane = running
        yield run


def test_ctrl_c_stops_watching_not_the_update(slow_cli, tmp_path, monkeypatch):
    from kx_jupyter.deploy.watch import Reader

    read = Reader.read

    def ctrl_c_during_the_first_read(reader, poll):  # no read completes: the watch cannot have seen the end
        monkeypatch.setattr(Reader, "read", read)
        raise KeyboardInterrupt

    monkeypatch.setattr(Reader, "read", ctrl_c_during_the_first_read)
    code, _, err = slow_cli("update", "--cluster", "hdb-3", "--src", ws(tmp_path, "x:1\n"))
    assert (
        code == 130 and "still updating, stopped watching" in err and "kx-jupyter status hdb-3 --watch" in err
    )
    assert json.loads(slow_cli("history", "hdb-3", "--json")[1])[0]["outcome"] == "still-updating"
    code, out, _ = slow_cli("status", "hdb-3", "--watch", "--json")  # whether it already ended or not
    assert code == 0 and json.loads(out)["status"] == "succeeded"
    assert json.loads(slow_cli("history", "hdb-3", "--json")[1])[0]["outcome"] == "succeeded"


def test_a_timeout_is_still_updating_with_its_own_exit_code(slow_cli, tmp_path):
    code, out, err = slow_cli(
        "update", "--cluster", "hdb-3", "--src", ws(tmp_path, "x:1\n"), "--timeout", "0.5", "--json"
    )
    result = json.loads(out)
    assert code == 3 and result["status"] == "still-updating" and "timed out" in result["reason"]
    assert "failed" not in out + err
    slow_cli.plane.wait_status("hdb-3", "RUNNING")
    code, out, _ = slow_cli("status", "hdb-3")  # the next look at the cluster settles the push
    assert "succeeded" in out.splitlines()[-1]
    assert json.loads(slow_cli("history", "hdb-3", "--json")[1])[0]["outcome"] == "succeeded"


@pytest.mark.parametrize("value", ["-5", "0", "abc", "nan"])
def test_a_timeout_that_is_not_a_positive_number_is_refused_in_one_line(capsys, value):
    with pytest.raises(SystemExit) as stopped:
        main(["update", "--cluster", "dev-gp", "--timeout", value])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--timeout" in err and "positive number of seconds" in err


def test_a_cli_push_imports_neither_the_plane_nor_the_notebook_stack(plane, tmp_path):
    """moto and werkzeug belong to the plane's own process, IPython and ipywidgets to notebooks:
    a CI job's `kx-jupyter update` pays for none of them."""
    src = ws(tmp_path, "x:1\n")
    run = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "import sys; from kx_jupyter.cli import main; sys.exit(main())",
            "update",
            "--cluster",
            "dev-gp",
            "--src",
            str(src),
            "--no-wait",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and json.loads(run.stdout)["status"] == "submitted", run.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in run.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "boto3" in imported  # the check below looks at a real push's imports
    assert imported.isdisjoint({"moto", "werkzeug", "IPython", "ipywidgets", "ipykernel", "jupyter_server"})


def test_a_push_records_its_note_and_the_workspaces_git_commit(cli, tmp_path):
    import subprocess

    src = ws(tmp_path, "x:1\n", name="repo")
    git = ["git", "-C", str(src), "-c", "user.name=q", "-c", "user.email=q@example.com"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "first"], check=True)
    head = subprocess.run(
        git + ["rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert cli("update", "--cluster", "dev-gp", "--src", src, "--note", "open limits")[0] == 0
    (src / "init.q").write_text("x:2\n")  # uncommitted
    assert cli("update", "--cluster", "dev-gp", "--src", ws(tmp_path, "y:1\n", name="plain"))[0] == 0
    assert cli("update", "--cluster", "dev-gp", "--src", src)[0] == 0
    _code, out, _ = cli("history", "dev-gp")
    dirty, plain, clean = out.split("\n#")[:3]
    assert f"git {head[:10]}+" in dirty and "note:" not in dirty
    assert " git " not in plain
    assert f"git {head[:10]}" in clean and f"{head[:10]}+" not in clean and "note: open limits" in clean
