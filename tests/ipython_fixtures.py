"""An IPython shell with kx_jupyter loaded, whose display outputs the tests can read.

``slow_plane`` is the local plane with nodes slow enough that an update is still rolling
when the next cell runs.

``ip`` is IPython's singleton ``InteractiveShell`` (``display()`` always publishes through
it) with the extension loaded, its own kx-jupyter home and workspace set through
``ip.config``, and a recording display publisher. Teardown unloads the extension (which
stops any watch) and restores the shell.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell


@dataclass
class Published:
    data: dict
    display_id: str | None
    update: bool

    @property
    def html(self) -> str:
        return self.data.get("text/html", "")


class RecordingPublisher(DisplayPublisher):
    """Keeps every display and display update (with its display id) instead of printing."""

    def __init__(self, shell):
        super().__init__(shell=shell)
        self.outputs: list[Published] = []

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        self.outputs.append(Published(dict(data), (transient or {}).get("display_id"), update))

    def clear_output(self, wait=False):
        self.outputs.clear()


class Shell:
    """The shell plus helpers to run cells the way a notebook does."""

    def __init__(self, shell: InteractiveShell, publisher: RecordingPublisher):
        self.shell = shell
        self.published = publisher.outputs

    def run(self, source: str):
        """Run one cell; returns IPython's ExecutionResult (``.result``, ``.error_in_exec``)."""
        return self.shell.run_cell(source, store_history=True)

    @property
    def config(self):
        return self.shell.config

    def threads(self):
        import threading

        return [t for t in threading.enumerate() if t.name.startswith(("kx-watch", "kx-view"))]


@pytest.fixture
def ip(tmp_path, monkeypatch):
    kx_home = tmp_path / "kx-home"  # the same home the ``plane`` fixture uses, when both are asked for
    kx_home.mkdir(exist_ok=True)
    monkeypatch.setenv("KX_JUPYTER_HOME", str(kx_home))
    shell = InteractiveShell.instance()
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    original_pub = shell.display_pub
    publisher = RecordingPublisher(shell)
    shell.display_pub = publisher
    shell.config.KxJupyter.home = str(kx_home)
    shell.config.KxJupyter.workspace = str(workspace)
    shell.run_line_magic("load_ext", "kx_jupyter")
    try:
        yield Shell(shell, publisher)
    finally:
        shell.run_line_magic("unload_ext", "kx_jupyter")
        shell.display_pub = original_pub
        for section in ("KxJupyter", "KxMagics"):
            if section in shell.config:
                del shell.config[section]


SLOW_NODE_SECONDS = 1.0  # hdb-3 rolls 3 nodes: seconds, so "still running" holds even on a busy machine


@pytest.fixture
def slow_plane(tmp_path, monkeypatch):
    """Like ``plane`` (tests/plane_fixtures.py), with nodes slow enough to act while an update rolls."""
    from plane_fixtures import plane_in

    with plane_in(tmp_path, monkeypatch, node_start_seconds=SLOW_NODE_SECONDS) as running:
        yield running
