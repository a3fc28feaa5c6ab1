"""Run the tutorial notebooks under nbval, each against the embedded local plane.

`python -m pytest` collects ``notebooks/*.ipynb`` (``--nbval --nbval-current-env`` in
pyproject's addopts) and checks every cell's output against the stored one, after the
replacements in ``nbval_sanitize.cfg`` (times, ids, hashes, versions, durations, ports),
which this file applies to the notebooks without a command-line option.

The kernels never see the caller's kx-jupyter state: they get a private kx-jupyter home
(one per test process, shared by the notebooks it runs, so a notebook that relies on running alone or
first fails here), a free port for the plane (a developer's plane on the default 4580 is
left alone), no ``KX_JUPYTER_*`` or ``AWS_*`` variables from the shell, a fresh IPython
dir and the user name the stored outputs show. The plane the notebooks start is stopped when the run ends.

Every cell's output, as the kernel produced it (before any sanitizing), must hold neither of
the plane's keys: a tutorial run by a user must never show them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")
NODE_START_SECONDS = "0.5"  # the tutorials' clusters start quickly under test

_run_dir: Path | None = None


def _kernel_environ() -> dict[str, str]:
    global _run_dir
    if _run_dir is None:
        _run_dir = Path(tempfile.mkdtemp(prefix="kx-notebooks-"))
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("KX_JUPYTER_", "AWS_"))}
    environ.update(
        KX_JUPYTER_HOME=str(_run_dir / "kx-home"),
        KX_JUPYTER_LOCAL_PORT="0",
        KX_JUPYTER_NODE_START_SECONDS=NODE_START_SECONDS,
        IPYTHONDIR=str(_run_dir / "ipython"),
        PATH=os.pathsep.join(
            [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
        ),  # `kx-jupyter` in shell cells
        USER="quant",  # the history's "user" column, as stored in the notebooks
        LOGNAME="quant",
    )
    _start_plane(environ)
    return environ


def _start_plane(environ: dict[str, str]) -> None:
    """Start the notebooks' plane before any kernel, as JupyterLab's server extension does for a
    user: which notebook a test process runs first must not change what a cell prints (the
    first command to autostart a plane says so)."""
    from kx_jupyter.config import load_settings
    from kx_jupyter.local import daemon

    settings = load_settings(environ=environ)
    if daemon.status(daemon.state_dir_of(settings)) is None:
        daemon.start(
            daemon.state_dir_of(settings), settings.local_port, node_start_seconds=settings.node_start_seconds
        )


def _is_notebook_cell(item) -> bool:
    from nbval.plugin import IPyNbCell

    return isinstance(item, IPyNbCell)


def pytest_configure(config):
    if getattr(config.option, "nbval_sanitize_with", "unset") is None:
        config.option.nbval_sanitize_with = str(SANITIZE)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """The first cell's setup starts the notebook's kernel: give it the tutorial environment."""
    if not _is_notebook_cell(item):
        yield
        return
    saved, kernel_environ = dict(os.environ), _kernel_environ()
    os.environ.clear()
    os.environ.update(kernel_environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After a cell ran: its outputs hold no credential of the plane the notebooks use."""
    result = yield
    if _is_notebook_cell(item) and _run_dir is not None:
        _refuse_credentials(item)
    return result


def _refuse_credentials(item) -> None:
    try:
        credentials = json.loads((_run_dir / "kx-home" / "plane" / "credentials.json").read_text())
    except (OSError, ValueError):
        return  # no plane yet, so no key to give away
    shown = json.dumps(item.test_outputs or [])
    for name in ("secret_key", "access_key"):
        if credentials[name] in shown:
            raise AssertionError(f"{item.name} of {item.parent.name} shows the local plane's {name}")


def pytest_sessionfinish(session):
    """Stop the plane the notebooks started (and only that one), then forget their state."""
    if _run_dir is None:
        return
    from kx_jupyter.config import load_settings
    from kx_jupyter.local import daemon

    settings = load_settings(environ={"KX_JUPYTER_HOME": str(_run_dir / "kx-home")})
    daemon.stop(daemon.state_dir_of(settings))
    shutil.rmtree(_run_dir, ignore_errors=True)
