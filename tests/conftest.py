"""Shared fixtures: every test gets its own kx-jupyter home so nothing touches the user's."""

import pytest


@pytest.fixture
def kx_home(tmp_path, monkeypatch):
    home = tmp_path / "kx-home"
    home.mkdir()
    monkeypatch.setenv("KX_JUPYTER_HOME", str(home))
    return home

from plane_fixtures import *  # noqa: E402,F401,F403  (the `plane` and `q_plane` fixtures)


def pytest_sessionfinish(session):
    """The planes the tests started have stopped, and their launcher with them."""
    import plane_launcher

    plane_launcher.close()
