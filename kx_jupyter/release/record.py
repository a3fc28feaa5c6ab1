"""What each cluster ran before a release touched it, kept under ``<home>/releases/<release id>.json``.

A rollback normally goes back to a history entry, but a cluster's first code (the code it was
created with, or pushed by another tool) is in no history: the release reads the cluster's code
configuration before it pushes and writes it here, so a rollback (``--rollback`` later, from
another process, too) can put exactly that back. The first reading per cluster wins: ``--resume``
never overwrites what the cluster ran before the release with what the release itself pushed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

RELEASES_DIR = "releases"  # under settings.home
KEPT = ("code", "initializationScript", "commandLineArguments")


def _path(home: Path, release_id: str) -> Path:
    return Path(home) / RELEASES_DIR / f"{release_id}.json"


def read(home: Path, release_id: str) -> dict:
    """``{"environment/cluster": configuration}`` recorded for ``release_id`` ({} when none)."""
    try:
        return json.loads(_path(home, release_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def before(home: Path, release_id: str, environment: str, cluster: str) -> dict | None:
    return read(home, release_id).get(f"{environment}/{cluster}")


def remember(home: Path, release_id: str, environment: str, cluster: str, described: dict) -> None:
    """Keep ``described``'s code configuration (GetKxCluster's answer) unless this cluster has one already."""
    recorded = read(home, release_id)
    key = f"{environment}/{cluster}"
    if key in recorded or not described.get("code"):
        return
    recorded[key] = {k: described[k] for k in KEPT if described.get(k) is not None}
    path = _path(home, release_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(recorded, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(partial, path)
