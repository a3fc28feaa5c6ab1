"""The Jupyter Server extension makes the local plane part of the server's life.

A real ``jupyter server`` is started; a kernel it launches must reach the plane the server
started (in the background: the server does not wait for it), and stopping the server stops
that plane (but never one it only attached to).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kx_jupyter.local import daemon

VENV_BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp: Path, home: Path, *extra: str):
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        root = tmp / "root"
        root.mkdir(exist_ok=True)
        env = dict(
            os.environ,
            KX_JUPYTER_HOME=str(home),
            KX_JUPYTER_LOCAL_PORT="0",
            JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        )
        env.pop("KX_JUPYTER_LOCAL_AUTOSTART", None)
        self.log = open(tmp / f"server-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            [
                str(VENV_BIN / "jupyter"),
                "server",
                "--no-browser",
                "--allow-root",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={root}",
                *extra,
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,  # never the runner's stdin
        )
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                self.api("GET", "/api/status")
                return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("jupyter server did not start; see " + self.log.name)

    def api(self, method: str, path: str, body: dict | None = None):
        req = urllib.request.Request(
            self.url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else None

    def run_in_kernel(self, code: str) -> str:
        """Execute ``code`` in a kernel the server launches and return what it printed."""
        from tornado.websocket import websocket_connect

        kernel = self.api("POST", "/api/kernels", {"name": "python3"})

        async def execute():
            ws = await websocket_connect(
                f"ws://127.0.0.1:{self.port}/api/kernels/{kernel['id']}/channels?token={self.token}"
            )
            msg_id = uuid.uuid4().hex
            ws.write_message(
                json.dumps(
                    {
                        "header": {
                            "msg_id": msg_id,
                            "msg_type": "execute_request",
                            "username": "t",
                            "session": uuid.uuid4().hex,
                            "version": "5.3",
                        },
                        "parent_header": {},
                        "metadata": {},
                        "channel": "shell",
                        "content": {
                            "code": code,
                            "silent": False,
                            "store_history": False,
                            "user_expressions": {},
                            "allow_stdin": False,
                        },
                    }
                )
            )
            out = []
            while True:
                msg = json.loads(await ws.read_message())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    out.append(msg["content"]["text"])
                elif msg["msg_type"] == "error":
                    out.append("ERROR " + msg["content"]["ename"] + ": " + msg["content"]["evalue"])
                elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    ws.close()
                    return "".join(out)

        try:  # in a thread of its own: the session's playwright may own this thread's event loop
            with ThreadPoolExecutor(1) as pool:
                return pool.submit(asyncio.run, asyncio.wait_for(execute(), 120)).result()
        finally:
            self.api("DELETE", f"/api/kernels/{kernel['id']}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(90)  # a loaded machine: the server stops its kernels and plane first
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _plane_once_up(home: Path, timeout: float = 90.0):
    """The plane the server starts in the background, once it answers (None if it never does)."""
    deadline = time.monotonic() + timeout
    while (plane := daemon.status(home / "plane")) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return plane


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "kx-home"
    home.mkdir()
    yield home
    daemon.stop(home / "plane")


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_kernel_reaches_the_plane_the_server_started_and_it_stops_with_the_server(
    tmp_path, home, stop_signal
):
    server = Server(tmp_path, home)
    try:
        plane = _plane_once_up(home)
        assert plane is not None, "starting the server should start the local plane"
        printed = server.run_in_kernel(
            "from kx_jupyter.config import load_settings\n"
            "from kx_jupyter.finspace.clients import Clients, connection\n"
            "c = connection(load_settings())\n"
            "print(c.endpoint_url)\n"
            "print(sorted(x['clusterName'] for x in "
            "Clients(c).finspace.list_kx_clusters(environmentId='kxlocaldev')['kxClusterSummaries']))\n"
        )
        assert printed.splitlines() == [plane.endpoint, "['dev-gp', 'hdb-3']"]
    finally:
        server.stop(stop_signal)
    assert daemon.status(home / "plane") is None, "a plane the server started stops with the server"


@pytest.mark.slow
def test_a_plane_the_server_only_attached_to_keeps_running(tmp_path, home):
    started = daemon.start(home / "plane", port=0, node_start_seconds=0.1)
    server = Server(tmp_path, home)
    try:
        assert (
            server.run_in_kernel("import os; print(os.environ['KX_JUPYTER_LOCAL_PORT'])").strip()
            == started.endpoint.rsplit(":", 1)[1]
        )
    finally:
        server.stop()
    assert daemon.status(home / "plane") is not None


@pytest.mark.slow
def test_managing_the_plane_can_be_turned_off(tmp_path, home):
    server = Server(tmp_path, home, "--KxJupyterServer.manage_local_plane=False")
    try:
        assert daemon.status(home / "plane") is None
    finally:
        server.stop()


def test_installed_config_enables_the_extension():
    fragment = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d" / "kx_jupyter.json"
    assert json.loads(fragment.read_text()) == {"ServerApp": {"jpserver_extensions": {"kx_jupyter": True}}}


@pytest.mark.slow
def test_a_server_stopped_while_its_plane_starts_still_stops_that_plane(tmp_path, home):
    server = Server(tmp_path, home)
    server.stop()  # at once: the background start may still be going
    assert daemon.status(home / "plane") is None
