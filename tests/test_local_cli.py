"""`kx-jupyter local start|status|stop|reset|env` as a user runs them."""

import json
import os
import shlex
import subprocess
import sys

import pytest

from kx_jupyter.cli import main
from kx_jupyter.finspace.model import DATA_PATH


@pytest.fixture
def state_dir(kx_home):
    path = kx_home / "plane"
    yield path
    main(["local", "stop", "--state-dir", str(path)])


def run(capsys, *argv):
    code = main(["local", *argv])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_start_is_idempotent_and_status_stop_report(capsys, state_dir):
    code, out = run(capsys, "start", "--port", "0", "--state-dir", str(state_dir))
    assert code == 0 and "local plane running at http://127.0.0.1:" in out
    endpoint = out.split("running at ")[1].split()[0]
    code, again = run(capsys, "start", "--port", "0", "--state-dir", str(state_dir))
    assert code == 0 and f"already running at {endpoint}" in again
    code, status = run(capsys, "status", "--state-dir", str(state_dir))
    assert code == 0 and endpoint in status
    secret = json.loads((state_dir / "credentials.json").read_text())["secret_key"]
    assert secret not in out + again + status
    assert run(capsys, "stop", "--state-dir", str(state_dir)) == (0, "local plane stopped\n")
    code, status = run(capsys, "status", "--state-dir", str(state_dir))
    assert code == 1 and "not running" in status


def test_env_exports_let_a_plain_aws_client_in(capsys, state_dir):
    run(capsys, "start", "--port", "0", "--state-dir", str(state_dir))
    code, out = run(capsys, "env", "--state-dir", str(state_dir))
    assert code == 0
    script = (
        out
        + "python -c \"import boto3; print(boto3.client('finspace')"
        + ".get_kx_cluster(environmentId='kxlocaldev', clusterName='dev-gp')['status'])\""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "RUNNING", result.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    assert set(exports) == {
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DATA_PATH",
    }
    assert shlex.split(exports["AWS_DATA_PATH"])[0].startswith(str(DATA_PATH))


def test_reset_needs_confirmation_then_deletes_state(capsys, state_dir):
    run(capsys, "start", "--port", "0", "--state-dir", str(state_dir))
    code, out = run(capsys, "reset", "--state-dir", str(state_dir))
    assert code == 2 and "--yes" in out and state_dir.exists()
    code, out = run(capsys, "reset", "--yes", "--state-dir", str(state_dir))
    assert code == 0 and not state_dir.exists()


def test_default_state_dir_comes_from_kx_jupyter_home(capsys, kx_home, monkeypatch):
    monkeypatch.setenv("KX_JUPYTER_LOCAL_PORT", "0")
    try:
        code, out = run(capsys, "start")
        assert code == 0 and (kx_home / "plane" / "plane.json").exists()
    finally:
        run(capsys, "stop")
