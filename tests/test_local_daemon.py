"""The daemon contract the engine relies on: ensure_running, status, stop, foreground runs."""

import os
import signal
import socket
import subprocess
import sys

import pytest

from kx_jupyter.config import KxJupyter
from kx_jupyter.errors import KxError
from kx_jupyter.local import daemon


def test_ensure_running_finds_the_fixture_plane(plane):
    info = daemon.ensure_running(plane.settings)
    assert (info.endpoint, info.pid) == (plane.info.endpoint, plane.info.pid)


def test_ensure_running_autostarts_once(tmp_path):
    settings = KxJupyter(home=str(tmp_path), local_port=0, node_start_seconds=0.1)
    try:
        first = daemon.ensure_running(settings)
        assert daemon.ensure_running(settings).pid == first.pid
        assert first.state_dir == tmp_path / "plane"
    finally:
        assert daemon.stop(tmp_path / "plane")
    assert daemon.status(tmp_path / "plane") is None


def test_no_autostart_gives_an_actionable_error(tmp_path):
    with pytest.raises(KxError) as err:
        daemon.ensure_running(KxJupyter(home=str(tmp_path), local_autostart=False))
    assert "kx-jupyter local start" in str(err.value)


def test_port_in_use_is_reported(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(KxError) as err:
            daemon.start(tmp_path / "plane", port=busy.getsockname()[1])
    assert "--port 0" in str(err.value)


def test_foreground_start_serves_until_sigterm(tmp_path):
    env = {**os.environ, "KX_JUPYTER_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from kx_jupyter.cli import main; sys.exit(main())",
            "local",
            "start",
            "--foreground",
            "--port",
            "0",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert "local plane running at http://127.0.0.1:" in line
        info = daemon.status(tmp_path / "plane")
        assert info is not None and info.pid == proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    assert daemon.status(tmp_path / "plane") is None and not (tmp_path / "plane" / "plane.json").exists()


def test_a_wrong_q_binary_is_reported(tmp_path):
    with pytest.raises(KxError) as err:
        daemon.start(tmp_path / "plane", port=0, q_binary=str(tmp_path / "no-q-here"))
    assert "is not an executable file" in str(err.value)
