"""Shared fixtures: every test gets its own kx-jupyter home so nothing touches the user's."""

import pytest


@pytest.fixture
def kx_home(tmp_path, monkeypatch):
    home = tmp_path / "kx-home"
    home.mkdir()
    monkeypatch.setenv("KX_JUPYTER_HOME", str(home))
    return home
