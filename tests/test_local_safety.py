"""The plane's state is safe: one plane per state dir, owner-only files, and damage said in one line."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys

import pytest
from plane_fixtures import start_plane
from test_deploy_units import start_push

from kx_jupyter.cli import main
from kx_jupyter.config import KxJupyter
from kx_jupyter.errors import KxError
from kx_jupyter.local import daemon


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_plane_that_does_not_answer_is_reported_and_never_doubled(tmp_path, capsys):
    running = start_plane(tmp_path / "home")
    state_dir = running.state_dir
    os.kill(running.info.pid, signal.SIGSTOP)
    try:
        code, out = run(capsys, "local", "status", "--state-dir", str(state_dir))
        assert code == 1 and f"running but not answering (pid {running.info.pid}" in out
        with pytest.raises(
            KxError
        ) as refused:  # the next command must not start a second plane on the same state
            daemon.start(state_dir, port=0)
        assert f"pid {running.info.pid}" in str(refused.value) and "not answering" in str(refused.value)
        settings = KxJupyter(home=str(tmp_path / "home"), local_port=0)
        with pytest.raises(KxError):
            daemon.ensure_running(settings)
        second = subprocess.run(
            [sys.executable, "-m", "kx_jupyter.local.server", "--state-dir", str(state_dir)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1 and "already serves" in second.stderr
        assert len(second.stderr.strip().splitlines()) <= 2 and "Traceback" not in second.stderr
    finally:
        os.kill(running.info.pid, signal.SIGCONT)
    assert daemon.status(state_dir).pid == running.info.pid
    assert daemon.stop(state_dir)
    assert daemon.unresponsive_pid(state_dir) is None and daemon.status(state_dir) is None


def test_reset_deletes_only_a_plane_state_dir(tmp_path, capsys):
    unrelated = tmp_path / "photos"
    unrelated.mkdir()
    (unrelated / "holiday.jpg").write_bytes(b"not a plane")
    code, out = run(capsys, "local", "reset", "--yes", "--state-dir", str(unrelated))
    assert code == 2 and "not a local plane's state directory" in out and (unrelated / "holiday.jpg").exists()
    running = start_plane(tmp_path / "home")
    code, out = run(capsys, "local", "reset", "--yes", "--state-dir", str(running.state_dir))
    assert code == 0 and not running.state_dir.exists()


def test_state_and_history_are_owner_only_even_if_they_were_not(tmp_path):
    home = tmp_path / "home"
    state_dir = home / "plane"
    state_dir.mkdir(parents=True, mode=0o755)
    os.chmod(home, 0o755)
    os.chmod(state_dir, 0o755)
    history = home / "history.sqlite"
    sqlite3.connect(history).close()
    os.chmod(history, 0o644)
    running = start_plane(home)
    try:
        running.upload({"init.q": "x:1\n"})
        assert mode(state_dir) == 0o700
        assert mode(state_dir / "state.db") == 0o600 and mode(state_dir / "credentials.json") == 0o600
        blobs = list((state_dir / "s3").iterdir())
        assert blobs and all(mode(b) == 0o600 for b in blobs)
        from kx_jupyter.deploy.history import History

        History(history).entries()
        assert mode(history) == 0o600
    finally:
        daemon.stop(state_dir)


def test_a_damaged_state_database_is_one_line_with_a_way_out(tmp_path, capsys):
    running = start_plane(tmp_path / "home")
    daemon.stop(running.state_dir)
    (running.state_dir / "state.db").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (running.state_dir / f"state.db{suffix}").unlink(missing_ok=True)
    code, out = run(capsys, "local", "start", "--port", "0", "--state-dir", str(running.state_dir))
    assert code == 2 and "state database" in out and "damaged" in out and "move it aside" in out
    assert "Traceback" not in out and daemon.status(running.state_dir) is None


def test_an_empty_credentials_file_is_one_line_with_a_way_out(tmp_path, capsys):
    running = start_plane(tmp_path / "home")
    daemon.stop(running.state_dir)
    (running.state_dir / "credentials.json").write_text("")
    code, out = run(capsys, "local", "start", "--port", "0", "--state-dir", str(running.state_dir))
    assert code == 2 and "credentials file" in out and "is empty" in out and "delete it" in out
    assert "Traceback" not in out


def test_the_first_autostart_says_so_once(tmp_path, capsys):
    settings = KxJupyter(home=str(tmp_path / "home"), local_port=0, node_start_seconds=0.1)
    try:
        first = daemon.ensure_running(settings)
        said = capsys.readouterr().err
        assert (
            said.count("\n") == 1 and f"started the local plane in the background at {first.endpoint}" in said
        )
        daemon.ensure_running(settings)
        assert capsys.readouterr().err == ""
    finally:
        daemon.stop(tmp_path / "home" / "plane")


def test_a_partly_damaged_history_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    from kx_jupyter.deploy.history import History

    home = tmp_path / "home"
    monkeypatch.setenv("KX_JUPYTER_HOME", str(home))
    history = History(home / "history.sqlite")
    for n in range(200):
        start_push(
            history,
            environment="kxlocaldev",
            cluster="dev-gp",
            bundle_sha256="x" * 64,
            key=f"k{n}" * 20,
            client_token=f"t{n}",
        )
    data = bytearray((home / "history.sqlite").read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)  # every page but the first (header and schema) damaged
    (home / "history.sqlite").write_bytes(bytes(data))
    code, out = run(capsys, "history", "--cluster", "dev-gp")
    assert code == 2 and "deployment history" in out and "damaged" in out and "move it aside" in out
    assert "Traceback" not in out


def test_the_history_carries_an_unversioned_file_forward(tmp_path):
    from kx_jupyter.deploy.history import History

    path = tmp_path / "history.sqlite"
    with sqlite3.connect(path) as conn:  # a file written before schema versions (and before the nodes column)
        conn.execute(
            "CREATE TABLE pushes (id INTEGER PRIMARY KEY AUTOINCREMENT, started_at REAL NOT NULL, "
            "finished_at REAL, user TEXT NOT NULL, host TEXT NOT NULL, backend TEXT NOT NULL, "
            "environment TEXT NOT NULL, cluster TEXT NOT NULL, bundle_sha256 TEXT, bucket TEXT NOT NULL, "
            "key TEXT NOT NULL, version TEXT, init_script TEXT, arguments TEXT NOT NULL, strategy TEXT NOT NULL, "
            "client_token TEXT NOT NULL, kind TEXT NOT NULL, rollback_of INTEGER, outcome TEXT NOT NULL, "
            "reason TEXT NOT NULL DEFAULT '', duration REAL, log_tail TEXT NOT NULL DEFAULT '')"
        )
        conn.execute(
            "INSERT INTO pushes (started_at, user, host, backend, environment, cluster, bucket, key, "
            "arguments, strategy, client_token, kind, outcome) VALUES "
            "(1, 'u', 'h', 'local', 'e', 'c', 'b', 'k', '{}', 'FORCE', 't', 'push', 'succeeded')"
        )
    entries = History(path).entries()
    assert [(e.cluster, e.strategy, e.nodes, e.note, e.release_id) for e in entries] == [
        ("c", "FORCE", None, "", None)
    ]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3


def test_a_version_1_history_gains_notes_commits_releases_and_origins(tmp_path):
    from kx_jupyter.deploy import history

    path = tmp_path / "history.sqlite"
    with sqlite3.connect(path) as conn:  # as kx-jupyter with schema 1 left it
        history._v1(conn)
        conn.execute("PRAGMA user_version=1")
    h = history.History(path)
    entry = start_push(
        h,
        note="fix vwap",
        git_commit="0123abc",
        git_dirty=True,
        release_id="r1",
        origin="cli",
    )
    again = h.get(entry.id)
    assert (again.note, again.git_commit, again.git_dirty, again.release_id, again.origin) == (
        "fix vwap",
        "0123abc",
        True,
        "r1",
        "cli",
    )


def test_many_first_uses_of_a_history_at_once_migrate_it_once(tmp_path):
    """Threads (a push and its watch, the form, the lab's routes) may open a new file together."""
    import threading

    from kx_jupyter.deploy.history import History

    path = tmp_path / "history.sqlite"
    failures = []

    def first_use():
        try:
            History(path).entries()
        except Exception as exc:  # a lost race used to add the same column twice
            failures.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
