"""One row per cluster, as a person scanning the list wants it: ``kx-jupyter clusters``'s table.

The columns are those of ``%kx_clusters``: name, type, status, nodes running of the cluster's
size, the code it runs as ``name@version`` and when it last changed (UTC). Each cluster's
nodes and code take one status call; they are made in parallel.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..errors import KxError
from ..times import utc

HEADERS = ["name", "type", "status", "nodes", "code version", "last modified (UTC)"]


def code_version(code) -> str:
    """The bundle a cluster runs as 'name@version' (content-addressed names shortened to 12 hex digits, like git)."""
    if not code or not code.get("s3Key"):
        return "—"
    name = code["s3Key"].rsplit("/", 1)[-1]
    stem = name[:-4] if name.endswith(".zip") else name
    if len(stem) == 64 and all(c in "0123456789abcdef" for c in stem):
        name = stem[:12]
    version = code.get("s3ObjectVersion")
    return f"{name}@{version[:8]}" if version else name


def _status_or_none(engine, cluster: str, env: str):
    try:
        return engine.status(cluster, env)
    except KxError:  # gone between the list and the status call: the row shows what the list said
        return None


def cluster_rows(engine, env: str | None = None) -> tuple[str, list[list[str]]]:
    """(environment id, one row of ``HEADERS`` per cluster)."""
    env = engine.environment(env)
    clusters = engine.clusters(env)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(clusters)))) as pool:
        details = list(pool.map(lambda c: _status_or_none(engine, c["clusterName"], env), clusters))
    rows = []
    for summary, detail in zip(clusters, details):
        detail = detail or {}
        nodes = detail.get("nodes") or []
        count = (detail.get("capacityConfiguration") or {}).get("nodeCount")
        running = sum(1 for n in nodes if n.get("status") == "RUNNING")
        rows.append([summary["clusterName"], summary.get("clusterType", ""), summary.get("status", ""),
                     f"{running}/{count or len(nodes)}" if (count or nodes) else "—",
                     code_version(detail.get("code")), utc(summary.get("lastModifiedTimestamp"))])
    return env, rows


def as_text(headers: list[str], rows: list[list[str]]) -> str:
    """Aligned columns under a header and a rule, as ``%kx_clusters`` prints them."""
    cells = [headers] + rows
    widths = [max(len(str(r[i])) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
