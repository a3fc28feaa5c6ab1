"""Clients of the local backend follow the plane when it is restarted on another port."""

from __future__ import annotations

import socket

from kx_jupyter.config import KxJupyter
from kx_jupyter.finspace.clients import Clients, connection
from kx_jupyter.local import daemon


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_clients_follow_a_plane_restarted_on_another_port(tmp_path):
    settings = KxJupyter(home=str(tmp_path), local_port=0, local_autostart=False, node_start_seconds=0.1)
    first = daemon.start(tmp_path / "plane", port=0, node_start_seconds=0.1)
    try:
        clients = Clients(connection(settings))
        fs = clients.finspace
        assert fs.get_kx_cluster(environmentId="kxlocaldev", clusterName="dev-gp")["status"] == "RUNNING"
        daemon.stop(tmp_path / "plane")
        second = daemon.start(tmp_path / "plane", port=free_port(), node_start_seconds=0.1)
        assert second.endpoint != first.endpoint
        # the same clients, built before the restart, reach the new port (S3 too)
        assert fs.get_kx_cluster(environmentId="kxlocaldev", clusterName="dev-gp")["status"] == "RUNNING"
        assert clients.s3.head_bucket(Bucket="kx-local-code")["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        daemon.stop(tmp_path / "plane")


def imports_of(module) -> list[str]:
    import ast
    from pathlib import Path

    tree = ast.parse(Path(module.__file__).read_text())
    return [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]


def test_no_upward_import_and_no_cycle_between_daemon_and_server():
    import kx_jupyter.finspace.clients as clients
    import kx_jupyter.local.server as server

    assert not any("local" in m for m in imports_of(clients))  # the API layer never imports the plane
    assert "daemon" not in imports_of(server)  # the daemon starts the server, never the other way round
