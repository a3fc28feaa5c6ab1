"""A kernel's ``%config KxJupyter.*``, published for the lab extension's sidebar.

The sidebar asks the Jupyter server, which runs with its own settings and cannot see a kernel's
``%config``. So a kernel with the extension loaded writes the few settings that decide *where*
a push goes into a small JSON file next to its connection file (the server's runtime directory),
named by its kernel id, and rewrites it whenever one of them changes, or after a cell that moved
the kernel's folder (``%cd``) when the workspace is relative; the server reads the file
of the active notebook's kernel. Nothing secret is in it (names and paths), and it is removed
when the kernel exits. Outside a kernel (plain IPython, tests) nothing is written.
"""

from __future__ import annotations

import atexit
import json
import re
from contextlib import suppress
from pathlib import Path

from .files import write_atomic

PUBLISHED = ("workspace", "cluster", "environment", "backend", "strategy", "init_script")
_KERNEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def file_of(directory: str | Path, kernel_id: str) -> Path | None:
    """Where the settings of kernel ``kernel_id`` are published (None for an id that is no id)."""
    if not _KERNEL_ID.match(kernel_id or ""):
        return None
    return Path(directory) / f"kx-jupyter-kernel-{kernel_id}.json"


def values(settings, cwd: Path) -> dict:
    """The published settings; a relative workspace is the kernel's, so it is resolved here."""
    data = {name: getattr(settings, name) for name in PUBLISHED}
    data["workspace"] = str((cwd / Path(data["workspace"]).expanduser()).resolve())
    return data


def publish(shell) -> Path | None:
    """Publish the shell's ``KxJupyter`` (the one ``%config`` changes) now and on every change;
    returns the file (None when there is nothing to publish to)."""
    from .config import KxJupyter

    settings = next((c for c in reversed(shell.configurables) if isinstance(c, KxJupyter)), None)
    target = _target()
    if settings is None or target is None:
        return None

    written = [None]

    def write(_change=None) -> None:
        text = json.dumps(values(settings, Path.cwd()))
        if text != written[0]:
            write_atomic(target, text, mode=0o600, durable=False)
            written[0] = text

    def after_cell(_result=None) -> None:  # a %cd moves a relative workspace with the kernel
        with suppress(OSError):  # best effort, as below
            write()

    try:
        write()
    except OSError:
        return None  # best effort: the sidebar then shows the server's settings and says so
    settings.observe(write, names=list(PUBLISHED))
    shell.events.register("post_run_cell", after_cell)
    atexit.register(lambda: target.unlink(missing_ok=True))
    return target


def read(directory: str | Path, kernel_id: str) -> dict | None:
    """The settings kernel ``kernel_id`` published, or None (none published, or unreadable)."""
    path = file_of(directory, kernel_id)
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return {name: data[name] for name in PUBLISHED if isinstance(data.get(name), str)}


def _target() -> Path | None:
    """This kernel's file, beside its connection file (``kernel-<id>.json``); None outside a kernel."""
    try:
        from ipykernel.connect import get_connection_file

        connection = Path(get_connection_file())
    except Exception:  # noqa: BLE001 - not an ipykernel kernel, or no connection file: nothing to publish
        return None
    match = re.match(r"^kernel-(.+)\.json$", connection.name)
    return file_of(connection.parent, match.group(1)) if match else None
