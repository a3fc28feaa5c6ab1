"""The engine's decisions on stderr: `kx-jupyter --verbose` (-vv: every read), `KxJupyter.log_level`.

By default a command prints only its own output; with -v it also says why it polled when it
did, what it settled, and which attempts botocore retried, never with a credential in them.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def _workspace(tmp_path, text: str):
    root = tmp_path / "ws"
    root.mkdir(exist_ok=True)
    (root / "init.q").write_text(text)
    return root


def _poll_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("kx-jupyter INFO") and " poll " in line]


def test_verbose_shows_poll_decisions_and_the_default_shows_none(cli, plane, tmp_path):
    code, out, err = cli("update", "--cluster", "dev-gp", "--src", _workspace(tmp_path, "x:1\n"))
    assert code == 0 and "deployed" in out and "kx-jupyter INFO" not in err and _poll_lines(err) == []

    code, out, err = cli("-v", "update", "--cluster", "dev-gp", "--src", _workspace(tmp_path, "x:2\n"))
    assert code == 0 and "deployed" in out
    polls = _poll_lines(err)
    assert polls and all("dev-gp:" in line and "due" in line for line in polls)  # what, for whom, when
    assert any("watch dev-gp: ROLLING update expected to take" in line for line in err.splitlines())
    assert any("watch dev-gp: succeeded" in line for line in err.splitlines())
    assert "DEBUG" not in err
    assert plane.info.secret_key not in err and plane.info.access_key not in err


def test_vv_adds_every_read_and_the_option_works_after_the_command(cli, plane, tmp_path):
    code, _, err = cli("update", "-vv", "--cluster", "dev-gp", "--src", _workspace(tmp_path, "x:3\n"))
    reads = [line for line in err.splitlines() if line.startswith("kx-jupyter DEBUG") and "cluster " in line]
    assert code == 0 and _poll_lines(err) and reads
    assert plane.info.secret_key not in err and plane.info.access_key not in err


def test_retried_attempts_are_logged_by_operation(cli, plane, tmp_path):
    plane.set_faults({"sequence": ["throttle"], "operations": ["GetKxCluster"]})
    code, _, err = cli("-v", "status", "dev-gp")
    retried = [line for line in err.splitlines() if "GetKxCluster: attempt 1 failed (HTTP 429" in line]
    assert code == 0 and len(retried) == 1, err


def test_the_log_level_setting_shows_the_same_lines_and_a_bad_value_is_one_line(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("KX_JUPYTER_LOG_LEVEL", "info")
    code, _, err = cli("update", "--cluster", "dev-gp", "--src", _workspace(tmp_path, "x:4\n"))
    assert code == 0 and _poll_lines(err)
    monkeypatch.setenv("KX_JUPYTER_LOG_LEVEL", "loud")
    code, out, err = cli("clusters")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "KX_JUPYTER_LOG_LEVEL=loud" in err and "log_level" in err


def test_a_lost_answer_and_the_settling_of_an_unwatched_push_are_explained(cli, plane, monkeypatch, tmp_path):
    monkeypatch.setenv("KX_JUPYTER_MAX_ATTEMPTS", "1")  # no botocore retry: the engine itself must find out
    plane.set_faults({"sequence": ["drop_after"], "operations": ["UpdateKxClusterCodeConfiguration"]})
    code, _, err = cli(
        "-v", "update", "--no-wait", "--cluster", "dev-gp", "--src", _workspace(tmp_path, "x:5\n")
    )
    lines = err.splitlines()
    assert code == 0, err
    assert any("update dev-gp: the answer was lost" in line for line in lines)
    assert any("update dev-gp: the cluster took it" in line for line in lines)
    plane.wait_status("dev-gp", "RUNNING")  # nobody watched it end
    code, _, err = cli("-v", "status", "dev-gp")
    assert code == 0 and any(
        "settle dev-gp: push #" in line and "recorded as succeeded" in line for line in err.splitlines()
    )
