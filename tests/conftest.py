"""Shared fixtures: every test gets its own kx-jupyter home so nothing touches the user's."""

import signal
import threading

import pytest


@pytest.fixture
def kx_home(tmp_path, monkeypatch):
    home = tmp_path / "kx-home"
    home.mkdir()
    monkeypatch.setenv("KX_JUPYTER_HOME", str(home))
    return home


from plane_fixtures import *  # noqa: E402,F401,F403  (the `plane` and `q_plane` fixtures)


@pytest.fixture
def cli(plane, monkeypatch, capsys):
    """`kx-jupyter ARGS` in this process against a fresh plane, quick polls: (exit code, stdout, stderr)."""
    from kx_jupyter.cli import main
    from kx_jupyter.logs import show

    monkeypatch.setenv("KX_JUPYTER_POLL_INITIAL", "0.05")
    monkeypatch.setenv("KX_JUPYTER_POLL_MAX", "0.3")

    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    show("WARNING")  # a -v run leaves no kx-jupyter log handler behind for the next test


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """Each test starts with Ctrl-C raising KeyboardInterrupt in the main thread.

    A library an earlier test used in the same process can leave SIGINT ignored or handled its
    own way (seen under pytest-xdist, where a process runs many files); the Ctrl-C tests, and
    the servers tests start, which inherit an ignored SIGINT, would then never be interrupted.
    """
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield


def pytest_sessionfinish(session):
    """The planes the tests started have stopped, and their launcher with them."""
    import plane_launcher

    plane_launcher.close()
