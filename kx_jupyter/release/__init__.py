"""Releases: one code base pushed to several clusters, stage by stage, on the engine's pushes.

``manifest.load(path)`` reads ``kxrelease.toml``; ``runner.run(engine, manifest, ...)`` runs it and
returns a ``Release`` (rows per target, ``to_dict()``, ``exit_code``); ``runner.rollback_last`` rolls
the newest release back. ``lock`` keeps one release per cluster at a time. Names are imported on
first use: ``kx-jupyter`` registers ``release`` (``command``) without loading the engine.
"""

from importlib import import_module

_NAMES = {
    "MANIFEST_NAME": "manifest",
    "Manifest": "manifest",
    "ManifestError": "manifest",
    "Target": "manifest",
    "load": "manifest",
    "Release": "runner",
    "Row": "runner",
    "roll_back": "runner",
    "rollback_last": "runner",
    "run": "runner",
}


def __getattr__(name):
    if name in _NAMES:
        return getattr(import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(name)
