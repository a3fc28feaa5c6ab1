"""What every benchmark shares: the Figure it reports, medians, and a throw-away local plane.

Benchmarks never touch the user's kx-jupyter home: each plane lives in a temporary home that
is deleted afterwards, and ``KX_JUPYTER_HOME`` points there only while it runs.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Figure:
    """One line of the table. ``passed`` is None for figures reported without a target."""

    name: str
    value: float
    unit: str
    target: str = ""
    passed: bool | None = None
    note: str = ""

    def to_dict(self) -> dict:
        data = asdict(self)
        if data["value"] != data["value"]:  # NaN (not measured) is not JSON
            data["value"] = None
        return data

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "MISS", None: ""}[self.passed]


def median(values) -> float:
    return statistics.median(values)


def percentile(values, pct: float) -> float:
    """Nearest-rank percentile: the smallest sample that ``pct`` % of the samples do not exceed."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


@contextmanager
def temp_home():
    """A fresh kx-jupyter home, set as KX_JUPYTER_HOME (autostart off) while the block runs."""
    base = Path(tempfile.mkdtemp(prefix="kx-bench-"))
    home = base / "kx-home"
    home.mkdir()
    saved = {k: os.environ.get(k) for k in ("KX_JUPYTER_HOME", "KX_JUPYTER_LOCAL_AUTOSTART")}
    os.environ["KX_JUPYTER_HOME"] = str(home)
    os.environ["KX_JUPYTER_LOCAL_AUTOSTART"] = "false"
    try:
        yield home
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def local_plane(node_start_seconds: float):
    """(home, PlaneInfo) of a plane started for this block in a temporary home, stopped after."""
    from kx_jupyter.local import daemon

    with temp_home() as home:
        info = daemon.start(home / "plane", port=0, node_start_seconds=node_start_seconds)
        try:
            yield home, info
        finally:
            daemon.stop(home / "plane")


def wait_running(fs, cluster: str, env: str = "kxlocaldev", timeout: float = 120.0) -> dict:
    """Block until the cluster is RUNNING (between timed runs, never inside one)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        got = fs.get_kx_cluster(environmentId=env, clusterName=cluster)
        if got["status"] == "RUNNING" or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def write_tree(root: Path, files: dict[str, bytes | str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def q_module(n: int, size: int) -> str:
    """Valid q text of about ``size`` bytes (a namespace of small functions and a table)."""
    head = f"/ module {n}\n\\d .m{n}\ntab:([] time:`timespan$(); sym:`symbol$(); px:`float$())\n"
    body, i = [head], 0
    while sum(map(len, body)) < size:
        body.append(f"f{i}:{{[x;y] (x*{i}+y) % 1+{n}}}\n")
        i += 1
    body.append("\\d .\n")
    return "".join(body)


def plane_admin(info, method: str, path: str, body: dict | None = None) -> dict:
    """A signed call to the plane's admin routes (``/_kxlocal/counters``, ``/_kxlocal/faults``)."""
    import json
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    data = json.dumps(body).encode() if body is not None else b""
    request = AWSRequest(method=method, url=info.endpoint + path, data=data)
    SigV4Auth(Credentials(info.access_key, info.secret_key), "finspace", info.region).add_auth(request)
    prepared = urllib.request.Request(
        request.url, data=data or None, method=method, headers=dict(request.headers)
    )
    with urllib.request.urlopen(prepared, timeout=10) as resp:
        return json.loads(resp.read())


def request_counts(info) -> dict[str, int]:
    return plane_admin(info, "GET", "/_kxlocal/counters")["requests"]
