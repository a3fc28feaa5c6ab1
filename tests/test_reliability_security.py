"""Reliability: the plane's door is shut to strangers, and no output gives its keys away.

* Requests that are unsigned, signed with the wrong key, stale, or altered after signing are
  refused with 403 by every service (FinSpace, S3, Logs, the admin routes) and change nothing.
* The plane listens on 127.0.0.1 only: its listening sockets are inspected, and a connection to
  this machine's own non-loopback addresses (never any other host) must be refused.
* The command's output never shows the plane's access key or secret key (``kx-jupyter local
  env`` prints them on purpose, so it is the one exception), and neither do the files
  kx-jupyter writes (history, plane log, node logs). The executed tutorial notebooks are held
  to the same rule cell by cell while nbval runs them (notebooks/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import http.client
import json
import os
import socket
import struct
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from plane_fixtures import CODE_BUCKET, ENV_ID

from kx_jupyter.cli import main as cli_main

pytestmark = pytest.mark.slow

UPDATE_PATH = f"/kx/environments/{ENV_ID}/clusters/dev-gp/configuration/code"


def send(plane, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, bytes]:
    url = urlsplit(plane.info.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def signed_headers(
    plane,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    service: str = "finspace",
    access_key: str | None = None,
    secret_key: str | None = None,
    when: dt.datetime | None = None,
    extra: dict | None = None,
    region: str | None = None,
) -> dict:
    """SigV4 headers made by botocore's signer, with any part swapped for a wrong one."""
    from unittest import mock

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    info = plane.info
    request = AWSRequest(method=method, url=info.endpoint + path, data=body, headers=dict(extra or {}))
    signer = SigV4Auth(
        Credentials(access_key or info.access_key, secret_key or info.secret_key),
        service,
        region or info.region,
    )
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
            signer.add_auth(request)
    return dict(request.headers)


def update_body(key: str = "seed/code.zip") -> bytes:
    token = "sec-" + key.replace("/", "-").replace(".", "-")
    return json.dumps(
        {
            "clientToken": token,
            "code": {"s3Bucket": CODE_BUCKET, "s3Key": key},
            "initializationScript": "init.q",
            "deploymentConfiguration": {"deploymentStrategy": "ROLLING"},
        }
    ).encode()


def state(plane) -> tuple:
    c = plane.clients()
    cluster = c.finspace.get_kx_cluster(environmentId=ENV_ID, clusterName="dev-gp")
    versions = c.s3.list_object_versions(Bucket=CODE_BUCKET).get("Versions", [])
    counters = plane.counters()
    return (
        cluster["code"],
        cluster["lastModifiedTimestamp"],
        sorted(v["VersionId"] for v in versions),
        counters["appliedUpdates"],
        plane.admin("GET", "/_kxlocal/faults"),
    )


# -- refused requests -------------------------------------------------------------------------


def _refused_requests(plane):
    body = update_body()
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=20)
    s3_body = b"x:1\n"
    s3_path = f"/{CODE_BUCKET}/intruder/code.zip"
    s3_extra = {"x-amz-content-sha256": hashlib.sha256(s3_body).hexdigest()}
    logs_body = b"{}"
    logs_extra = {
        "X-Amz-Target": "Logs_20140328.DescribeLogGroups",
        "Content-Type": "application/x-amz-json-1.1",
    }
    fault_body = json.dumps({"drop": 1.0}).encode()
    return {
        "unsigned update": ("PUT", UPDATE_PATH, body, {}),
        "update signed with a wrong secret": (
            "PUT",
            UPDATE_PATH,
            body,
            signed_headers(plane, "PUT", UPDATE_PATH, body, secret_key="wrong" * 8),
        ),
        "update signed with another access key": (
            "PUT",
            UPDATE_PATH,
            body,
            signed_headers(plane, "PUT", UPDATE_PATH, body, access_key="AKIAOTHEROTHER000000"),
        ),
        "update altered after signing": (
            "PUT",
            UPDATE_PATH,
            update_body("intruder/code.zip"),
            signed_headers(plane, "PUT", UPDATE_PATH, body),
        ),
        "update signed 20 minutes ago": (
            "PUT",
            UPDATE_PATH,
            body,
            signed_headers(plane, "PUT", UPDATE_PATH, body, when=long_ago),
        ),
        "update signed for another region": (
            "PUT",
            UPDATE_PATH,
            body,
            signed_headers(plane, "PUT", UPDATE_PATH, body, region="eu-west-1"),
        ),
        "update signed as another service": (
            "PUT",
            UPDATE_PATH,
            body,
            signed_headers(plane, "PUT", UPDATE_PATH, body, service="s3"),
        ),
        "malformed Authorization header": (
            "PUT",
            UPDATE_PATH,
            body,
            {"Authorization": "AWS4-HMAC-SHA256 Credential=x"},
        ),
        "unsigned S3 upload": ("PUT", s3_path, s3_body, {}),
        "S3 upload signed with a wrong secret": (
            "PUT",
            s3_path,
            s3_body,
            signed_headers(
                plane, "PUT", s3_path, s3_body, service="s3", secret_key="wrong" * 8, extra=s3_extra
            ),
        ),
        "unsigned Logs call": ("POST", "/", logs_body, logs_extra),
        "unsigned fault plan": ("POST", "/_kxlocal/faults", fault_body, {}),
        "fault plan signed with a wrong secret": (
            "POST",
            "/_kxlocal/faults",
            fault_body,
            signed_headers(plane, "POST", "/_kxlocal/faults", fault_body, secret_key="wrong" * 8),
        ),
    }


def test_bad_signatures_are_refused_and_change_nothing(plane):
    before = state(plane)
    refused = _refused_requests(plane)
    answers = {name: send(plane, *request) for name, request in refused.items()}
    assert {name: status for name, (status, _) in answers.items()} == {name: 403 for name in refused}
    for name, (_, body) in answers.items():
        assert plane.info.secret_key.encode() not in body, name
    assert state(plane) == before
    # the same request, signed properly, is accepted: the refusals above were about the signatures
    good = update_body()
    status, _ = send(plane, "PUT", UPDATE_PATH, good, signed_headers(plane, "PUT", UPDATE_PATH, good))
    assert status == 200


# -- loopback only --------------------------------------------------------------------------


def listening_addresses(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every listening TCP socket the process holds, from /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        with open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            for line in f:
                fields = line.split()
                local, st, inode = fields[1], fields[3], fields[9]
                if st != "0A" or inode not in inodes:  # 0A: LISTEN
                    continue
                hex_addr, hex_port = local.split(":")
                raw = bytes.fromhex(hex_addr)
                packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.append((socket.inet_ntop(family, packed), int(hex_port, 16)))
    return found


def own_non_loopback_ipv4() -> list[str]:
    """This machine's own interface addresses (asked of the kernel; no packet is sent)."""
    addresses = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:
                raw = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))  # SIOCGIFADDR
            except OSError:
                continue
            address = socket.inet_ntoa(raw[20:24])
            if not address.startswith("127."):
                addresses.append(address)
    return addresses


def test_the_plane_listens_on_loopback_only(plane):
    port = int(plane.info.endpoint.rsplit(":", 1)[1])
    sockets = listening_addresses(plane.info.pid)
    assert sockets and all(address == "127.0.0.1" for address, _ in sockets), sockets
    assert ("127.0.0.1", port) in sockets
    for address in own_non_loopback_ipv4():  # only this machine's own addresses, never another host
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((address, port)) != 0, f"the plane answers on {address}:{port}"


# -- no credentials in outputs ----------------------------------------------------------------

CLI_RUNS = [
    ["local", "status"],
    ["local", "start", "--port", "0"],
    ["clusters"],
    ["clusters", "--json"],
    ["status", "dev-gp"],
    ["status", "dev-gp", "--json"],
    ["update", "--cluster", "dev-gp", "--src", "{good}"],
    ["update", "--cluster", "dev-gp", "--src", "{good}", "--json"],
    ["update", "--cluster", "dev-gp", "--src", "{good2}", "--dry-run", "--json"],
    ["update", "--cluster", "dev-gp", "--src", "{failing}", "--no-check"],
    ["update", "--cluster", "dev-gp", "--src", "{failing}", "--no-check", "--json", "--force"],
    ["history"],
    ["history", "--json"],
    ["rollback", "dev-gp", "--to", "1", "--dry-run", "--json"],
    ["diff", "dev-gp", "--src", "{good2}"],
    ["diff", "dev-gp", "--src", "{good2}", "--json"],
    ["check", "{good}"],
    ["update", "--cluster", "nosuch", "--src", "{good}"],
]


def test_cli_output_and_written_files_hold_no_credentials(plane, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KX_JUPYTER_POLL_INITIAL", "0.05")
    monkeypatch.setenv("KX_JUPYTER_POLL_MAX", "0.3")
    spaces = {}
    for name, text in (("good", "x:1\n"), ("good2", "x:2\n"), ("failing", "f:{x+1\n")):
        root = tmp_path / "ws" / name
        root.mkdir(parents=True)
        (root / "init.q").write_text(text)
        spaces[name] = str(root)
    keys = (plane.info.secret_key, plane.info.access_key)
    codes = []
    for argv in CLI_RUNS:
        try:
            codes.append(cli_main([a.format(**spaces) for a in argv]))
        except SystemExit as exc:
            codes.append(exc.code)
        out, err = capsys.readouterr()
        assert out or err, argv
        for key in keys:
            assert key not in out and key not in err, (argv, out, err)
    # the runs did real work: only the two failing pushes and the unknown cluster end non-zero
    assert codes.count(0) == len(CLI_RUNS) - 3, codes
    # ... and `local env` prints them on purpose (shell exports for other AWS clients)
    cli_main(["local", "env"])
    assert plane.info.secret_key in capsys.readouterr().out
    for path in Path(plane.settings.home).rglob("*"):
        if path.is_file() and path.name != "credentials.json":
            data = path.read_bytes()
            assert plane.info.secret_key.encode() not in data, path
