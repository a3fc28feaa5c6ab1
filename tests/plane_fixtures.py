"""Fixtures that run the real local control plane (a subprocess on a free port, temp state).

``plane`` gives a fresh plane per test with fast node timings (``FAST_NODE_SECONDS``):
``plane.info`` (PlaneInfo), ``plane.settings`` (KxJupyter, backend 'local', home = the temp
home whose ``plane/`` dir is the plane's state dir, so ``ensure_running(settings)`` finds it),
``plane.clients()`` (the engine's ``Clients``: finspace/s3/logs), ``plane.client(service, attempts=1)``
(one boto3 client with an exact attempt count, for fault tests), ``plane.upload(files, key)`` (zip +
put, returns the S3 version id), ``plane.wait_status(cluster, *statuses)``,
``plane.admin(method, path, body)``, ``plane.restart(kill=False)``, ``plane.set_faults(plan)``, ``plane.counters()``.
``KX_JUPYTER_HOME`` and ``KX_JUPYTER_LOCAL_AUTOSTART=false`` are set for the test so
``load_settings()`` lands on the same plane and never starts a second one.

Every plane is a process of its own, as ``daemon.start`` makes, but forked by ``plane_launcher``
from a process that has imported the plane already: a start costs ~0.1 s instead of a new
Python's imports. Teardown asks the plane to stop and does not wait; the session's end does.
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import plane_launcher
import pytest

FAST_NODE_SECONDS = 0.2
ENV_ID = "kxlocaldev"
CODE_BUCKET = "kx-local-code"
Q_STAND_IN = Path(__file__).parent / "fake_q" / "q_stand_in"


def make_zip(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


@dataclass
class RunningPlane:
    info: object
    settings: object
    state_dir: Path

    @property
    def connection(self):
        from kx_jupyter.finspace.clients import Connection

        i = self.info
        return Connection(
            i.endpoint, i.endpoint, i.region, i.access_key, i.secret_key, logs_endpoint_url=i.endpoint
        )

    def clients(self):
        """The engine's own ``Clients`` for this plane (its default retry policy)."""
        from kx_jupyter.finspace.clients import Clients

        return Clients(self.connection)

    def client(self, service: str, attempts: int = 1):
        """One boto3 client making exactly ``attempts`` attempts per call (1: no retries)."""
        from botocore.config import Config

        from kx_jupyter.finspace.clients import boto3_session

        cfg = Config(
            retries={"mode": "standard", "total_max_attempts": attempts}, s3={"addressing_style": "path"}
        )
        return boto3_session(self.connection).client(service, endpoint_url=self.info.endpoint, config=cfg)

    def upload(
        self, files: dict[str, str | bytes], key: str = "tests/code.zip", bucket: str = CODE_BUCKET
    ) -> str:
        return self.clients().s3.put_object(Bucket=bucket, Key=key, Body=make_zip(files))["VersionId"]

    def wait_status(self, cluster: str, *statuses: str, timeout: float = 30.0, env: str = ENV_ID) -> dict:
        fs = self.clients().finspace
        deadline = time.monotonic() + timeout
        while True:
            got = fs.get_kx_cluster(environmentId=env, clusterName=cluster)
            if got["status"] in statuses or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    def admin(self, method: str, path: str, body: dict | None = None):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        data = json.dumps(body).encode() if body is not None else b""
        request = AWSRequest(method=method, url=self.info.endpoint + path, data=data)
        SigV4Auth(
            Credentials(self.info.access_key, self.info.secret_key), "finspace", self.info.region
        ).add_auth(request)
        prepared = urllib.request.Request(
            request.url, data=data or None, method=method, headers=dict(request.headers)
        )
        with urllib.request.urlopen(prepared, timeout=10) as resp:
            return json.loads(resp.read())

    def restart(self, kill: bool = False) -> None:
        """Stop (or SIGKILL) the plane and start it again on the same state; ``info`` is refreshed."""
        import os
        import signal

        from kx_jupyter.local import daemon

        if kill:
            os.kill(self.info.pid, signal.SIGKILL)
            while daemon.status(self.state_dir) is not None or daemon.lock_holder(self.state_dir) is not None:
                time.sleep(0.05)  # until it stops answering and its exit released the state dir's lock
        else:
            daemon.stop(self.state_dir)
        self.info = plane_launcher.launch(
            self.state_dir,
            port=0,
            node_start_seconds=self.settings.node_start_seconds,
            q_binary=self.settings.q_binary,
        )

    def set_faults(self, plan: dict) -> dict:
        return self.admin("POST", "/_kxlocal/faults", plan)

    def counters(self) -> dict:
        return self.admin("GET", "/_kxlocal/counters")


def start_plane(
    home: Path, node_start_seconds: float = FAST_NODE_SECONDS, q_binary: str = ""
) -> RunningPlane:
    from kx_jupyter.config import KxJupyter

    state_dir = home / "plane"
    info = plane_launcher.launch(state_dir, port=0, node_start_seconds=node_start_seconds, q_binary=q_binary)
    settings = KxJupyter(
        home=str(home),
        backend="local",
        local_port=0,
        local_autostart=False,
        node_start_seconds=node_start_seconds,
        q_binary=q_binary,
    )
    return RunningPlane(info, settings, state_dir)


@contextmanager
def plane_in(tmp_path, monkeypatch, **options):
    """A plane in ``tmp_path/kx-home`` that ``load_settings()`` reaches (``start_plane`` options); stopped after."""
    home = tmp_path / "kx-home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("KX_JUPYTER_HOME", str(home))
    monkeypatch.setenv("KX_JUPYTER_LOCAL_AUTOSTART", "false")
    running = start_plane(home, **options)
    try:
        yield running
    finally:
        stop_plane(running.state_dir)


def stop_plane(state_dir: Path) -> None:
    """Ask the plane of ``state_dir`` (whichever process serves it now) to stop; the session's end waits."""
    from kx_jupyter.local import daemon

    info = daemon.status(state_dir)
    if info is not None:
        plane_launcher.stop(info)


@pytest.fixture
def plane(tmp_path, monkeypatch):
    """A fresh local plane (checker runtime, fast nodes) for one test; stopped afterwards."""
    with plane_in(tmp_path, monkeypatch) as running:
        yield running


@pytest.fixture
def q_plane(tmp_path, monkeypatch):
    """Like ``plane`` but nodes are real processes of the q stand-in (tests/fake_q/q_stand_in)."""
    with plane_in(tmp_path, monkeypatch, q_binary=str(Q_STAND_IN)) as running:
        yield running


def recorded_push(home, cluster: str, origin: str) -> int:
    """A finished push of ``cluster`` in the history under kx home ``home``, with ``origin`` as the
    magics record one made in a cell; its history id."""
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine

    history = Engine(load_settings(environ={"KX_JUPYTER_HOME": str(home)})).history_db
    entry = history.start(
        backend="local",
        environment="kxlocaldev",
        cluster=cluster,
        bundle_sha256="cd" * 32,
        bucket="kx-local-code",
        key="k.zip",
        version=None,
        init_script="init.q",
        arguments={},
        strategy="ROLLING",
        client_token="t",
        origin=origin,
    )
    history.finish(entry.id, "succeeded")
    return entry.id
