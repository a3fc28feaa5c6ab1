"""What a kernel publishes for the lab sidebar, and what the server accepts back (kx_jupyter.kernelsettings).

The round trip through a real kernel and server is in test_lab_handlers.py; here, the edges.
"""

from __future__ import annotations

import json

import pytest

from kx_jupyter import kernelsettings
from kx_jupyter.config import KxJupyter


@pytest.mark.parametrize("kernel_id", ["", "../escape", "a/b", ".hidden", "x" * 200])
def test_a_kernel_id_that_could_name_another_file_is_refused(tmp_path, kernel_id):
    assert kernelsettings.file_of(tmp_path, kernel_id) is None
    assert kernelsettings.read(tmp_path, kernel_id) is None


def test_only_the_published_names_with_text_values_are_read_back(tmp_path):
    path = kernelsettings.file_of(tmp_path, "5a1e-77")
    path.write_text(
        json.dumps({"cluster": "hdb-3", "workspace": 7, "profile": "secret-ish", "strategy": "FORCE"})
    )
    assert kernelsettings.read(tmp_path, "5a1e-77") == {"cluster": "hdb-3", "strategy": "FORCE"}
    path.write_text("{half a file")
    assert kernelsettings.read(tmp_path, "5a1e-77") is None, (
        "a file being replaced reads as nothing published"
    )
    assert kernelsettings.read(tmp_path, "no-such-kernel") is None


def test_a_relative_workspace_is_the_kernels_own_folder(tmp_path):
    published = kernelsettings.values(KxJupyter(workspace="q/src", cluster="dev-gp"), tmp_path)
    assert published["workspace"] == str(tmp_path / "q" / "src")
    assert set(published) == set(kernelsettings.PUBLISHED) and "profile" not in published


def test_outside_a_kernel_nothing_is_published(tmp_path):
    class Shell:
        configurables = [KxJupyter()]

    assert kernelsettings.publish(Shell()) is None


def test_a_relative_workspace_follows_the_kernels_cd(tmp_path, monkeypatch):
    from IPython.core.events import EventManager, available_events

    published = tmp_path / "kx-jupyter-kernel-k1.json"
    monkeypatch.setattr(kernelsettings, "_target", lambda: published)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")

    class Shell:
        configurables = [KxJupyter(workspace="ws")]
        events = EventManager(None, available_events)

    kernelsettings.publish(Shell())
    assert json.loads(published.read_text())["workspace"] == str(tmp_path / "a" / "ws")
    monkeypatch.chdir(tmp_path / "b")  # what %cd does
    Shell.events.trigger("post_run_cell", None)
    assert json.loads(published.read_text())["workspace"] == str(tmp_path / "b" / "ws")
    Shell.configurables[0].cluster = "hdb-3"
    assert json.loads(published.read_text())["cluster"] == "hdb-3"
