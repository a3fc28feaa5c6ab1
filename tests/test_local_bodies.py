"""Request bodies: refused before they are read when unsigned or too large; large signed ones go to disk."""

from __future__ import annotations

import hashlib
import http.client
import os
from urllib.parse import urlsplit

from plane_fixtures import CODE_BUCKET

GB = 1024**3


def headers_only(plane, method: str, path: str, headers: dict) -> tuple[int, bytes]:
    """Send a request's headers and none of its declared body; the plane must answer anyway."""
    url = urlsplit(plane.info.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)  # a hang guard, not a speed target
    try:
        conn.putrequest(method, path)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def plane_rss_mib(plane) -> float:
    for line in open(f"/proc/{plane.info.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_an_unsigned_huge_put_is_refused_without_reading_its_body(plane):
    before = plane_rss_mib(plane)
    status, body = headers_only(
        plane, "PUT", f"/{CODE_BUCKET}/huge.zip", {"Content-Length": str(int(1.5 * GB))}
    )
    assert status == 403 and b"not signed" in body
    assert plane_rss_mib(plane) - before < 64  # nothing of the body was buffered


def test_a_body_over_the_service_limit_is_refused_by_its_length(plane):
    status, body = headers_only(plane, "PUT", f"/{CODE_BUCKET}/huge.zip", {"Content-Length": str(6 * GB)})
    assert status == 400 and b"EntityTooLarge" in body
    status, body = headers_only(plane, "POST", "/kx/environments", {"Content-Length": str(2 * 1024**2)})
    assert status == 413 and b"ValidationException" in body


def test_a_large_signed_put_round_trips_and_survives_restart(plane):
    data = os.urandom(20 * 1024 * 1024)  # over the in-memory limit: spooled to disk while it is hashed
    s3 = plane.clients().s3
    put = s3.put_object(Bucket=CODE_BUCKET, Key="big/data.bin", Body=data, Metadata={"k": "v"})
    assert put["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    head = s3.head_object(Bucket=CODE_BUCKET, Key="big/data.bin", VersionId=put["VersionId"])
    assert head["ContentLength"] == len(data) and head["Metadata"] == {"k": "v"}
    assert not list((plane.state_dir / "uploads").glob("*"))  # nothing left behind
    plane.restart()
    got = plane.clients().s3.get_object(Bucket=CODE_BUCKET, Key="big/data.bin", VersionId=put["VersionId"])
    assert got["Body"].read() == data


def test_a_body_that_is_not_the_signed_one_is_refused(plane):
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signed_body, sent_body = b"a" * (9 * 1024 * 1024), b"b" * (9 * 1024 * 1024)
    url = f"{plane.info.endpoint}/{CODE_BUCKET}/swapped.bin"
    request = AWSRequest(method="PUT", url=url, data=signed_body)
    S3SigV4Auth(Credentials(plane.info.access_key, plane.info.secret_key), "s3", plane.info.region).add_auth(
        request
    )
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("PUT", parts.path, body=sent_body, headers=dict(request.headers))
        resp = conn.getresponse()
        status, body = resp.status, resp.read()
    finally:
        conn.close()
    assert status == 403 and b"XAmzContentSHA256Mismatch" in body
    assert "swapped.bin" not in str(
        plane.clients().s3.list_objects_v2(Bucket=CODE_BUCKET).get("Contents", [])
    )
