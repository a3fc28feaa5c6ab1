"""The local plane stays flat at any age (issue 12 §5): S3 cost per put and plane memory per push.

- put_object of 1 MiB into a key that already has 1,000 versions vs one with 1 version (median
  of timed puts each, interleaved in the same plane). Target: within 1.5x.
- plane RSS (``/proc/<pid>/status`` VmRSS) after 500 small pushes (a fresh ~88 KB bundle each:
  S3 put, FORCE update of dev-gp, wait RUNNING) minus its RSS after 10 warm-up pushes.
  Target: within idle + 10 MiB.
- plane RSS after three 196 MB pushes (incompressible bundle, same path) minus idle, and the
  plane's peak RSS (VmHWM) over them minus idle. Target: RSS within idle + 64 MiB; peak is
  reported (a whole body held in memory would show as >= 196 MB).
"""

from __future__ import annotations

import io
import os
import tempfile
import time
import zipfile
from pathlib import Path

from common import Figure, local_plane, median, wait_running

MIB = 1024 * 1024
VERSIONS = 1000
SMALL_PUSHES = 500
WARM_UP = 10
BIG_PUSHES = 3
BIG_BYTES = 196 * 1000 * 1000


def _clients(info):
    from kx_jupyter.finspace.clients import Clients, Connection

    return Clients(
        Connection(
            info.endpoint,
            info.endpoint,
            info.region,
            info.access_key,
            info.secret_key,
            logs_endpoint_url=info.endpoint,
        )
    )


def _rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _timed_put(s3, key: str, body: bytes) -> float:
    start = time.perf_counter()
    s3.put_object(Bucket="kx-local-code", Key=key, Body=body)
    return (time.perf_counter() - start) * 1000


def put_versions(runs: int) -> list[Figure]:
    body = os.urandom(MIB)
    with local_plane(0.01) as (_home, info):
        s3 = _clients(info).s3
        for _ in range(VERSIONS):
            s3.put_object(Bucket="kx-local-code", Key="bench/many-versions.bin", Body=body)
        timed = max(10, runs * 4)
        at_many, at_one = [], []
        for i in range(timed):  # interleaved, so the machine's load weighs on both alike
            s3.put_object(Bucket="kx-local-code", Key=f"bench/one-version-{i}.bin", Body=body)
            at_one.append(_timed_put(s3, f"bench/one-version-{i}.bin", body))
            at_many.append(_timed_put(s3, "bench/many-versions.bin", body))
    ratio = median(at_many) / median(at_one)
    return [
        Figure("plane: put_object 1 MiB, key with 1 version", median(at_one), "ms"),
        Figure(
            f"plane: put_object 1 MiB, key with {VERSIONS} versions",
            median(at_many),
            "ms",
            "<= 1.5x the 1-version put",
            ratio <= 1.5,
            f"{ratio:.2f}x; median of {timed} puts each, interleaved, in one plane",
        ),
    ]


def _small_bundle(n: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("init.q", f"/ push {n}\n\\l lib/data.q\nx:{n}\n")
        zf.writestr("lib/data.q", f"/ {n}\n" + "f:{x+1}\n" * 9000)  # ~88 KB
    return buf.getvalue()


def _push(clients, key: str, body) -> None:
    version = clients.s3.put_object(Bucket="kx-local-code", Key=key, Body=body)["VersionId"]
    clients.finspace.update_kx_cluster_code_configuration(
        environmentId="kxlocaldev",
        clusterName="dev-gp",
        initializationScript="init.q",
        code={"s3Bucket": "kx-local-code", "s3Key": key, "s3ObjectVersion": version},
        deploymentConfiguration={"deploymentStrategy": "FORCE"},
    )
    got = wait_running(clients.finspace, "dev-gp", timeout=600)
    if got["code"]["s3ObjectVersion"] != version:
        raise RuntimeError(f"push of {key} did not apply: {got.get('statusReason')}")


def small_pushes() -> list[Figure]:
    with local_plane(0.01) as (_home, info):
        clients = _clients(info)
        for n in range(-WARM_UP, 0):  # first uses import the checker and fill the caches: not growth
            _push(clients, f"bench/small-{n}.zip", _small_bundle(n))
        idle = _rss_mib(info.pid)
        for n in range(1, SMALL_PUSHES + 1):
            _push(clients, f"bench/small-{n}.zip", _small_bundle(n))
        grown = _rss_mib(info.pid) - idle
    return [
        Figure(
            f"plane: RSS growth after {SMALL_PUSHES} small pushes",
            grown,
            "MiB",
            "<= 10 MiB",
            grown <= 10,
            f"idle {idle:.0f} MiB after {WARM_UP} warm-up pushes; ~88 KB bundle, FORCE update, wait RUNNING each",
        )
    ]


def _big_bundle(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("init.q", "x:1\n")
        with zf.open("data/blob.bin", "w", force_zip64=True) as out:
            for _ in range(BIG_BYTES // (4 * MIB)):
                out.write(os.urandom(4 * MIB))


def big_pushes() -> list[Figure]:
    with local_plane(0.01) as (_home, info), tempfile.TemporaryDirectory() as tmp:
        clients = _clients(info)
        for n in range(-WARM_UP, 0):
            _push(clients, f"bench/big-{n}.zip", _small_bundle(n))
        idle = _rss_mib(info.pid)
        for n in range(1, BIG_PUSHES + 1):
            path = Path(tmp) / f"big-{n}.zip"
            _big_bundle(path)
            with open(path, "rb") as body:
                _push(clients, f"bench/big-{n}.zip", body)
            path.unlink()
        grown, peak = _rss_mib(info.pid) - idle, _rss_mib(info.pid, "VmHWM") - idle
    return [
        Figure(
            f"plane: RSS growth after {BIG_PUSHES} 196 MB pushes",
            grown,
            "MiB",
            "<= 64 MiB",
            grown <= 64,
            f"idle {idle:.0f} MiB; incompressible 196 MB bundle, FORCE update, wait RUNNING each",
        ),
        Figure(
            "plane: peak RSS over them, above idle",
            peak,
            "MiB",
            "",
            None,
            "VmHWM; a body held whole in memory would show as 196 MiB or more",
        ),
    ]


def run(runs: int = 5) -> list[Figure]:
    return put_versions(runs) + small_pushes() + big_pushes()


if __name__ == "__main__":
    for figure in run(1):
        print(figure)
