"""Releases: one code base pushed to several clusters, stage by stage, on the engine's pushes.

``manifest.load(path)`` reads ``kxrelease.toml``; ``run.run(engine, manifest, ...)`` runs it and
returns a ``Release`` (rows per target, ``to_dict()``, ``exit_code``); ``run.rollback_last`` rolls
the newest release back. ``lock`` keeps one release per cluster at a time.
"""

from .manifest import MANIFEST_NAME, Manifest, ManifestError, Target, load  # noqa: F401
from .run import Release, Row, roll_back, rollback_last, run  # noqa: F401
