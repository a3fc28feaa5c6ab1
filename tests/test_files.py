"""Files written whole or not at all (``kx_jupyter.files``), including across a crash."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from kx_jupyter.files import NewFile, remove_unpublished, write_atomic


def leftovers(directory, keep):
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def test_a_write_replaces_the_whole_file_and_keeps_its_permissions(tmp_path):
    target = tmp_path / "init.q"
    target.write_text("old\n")
    target.chmod(0o640)
    write_atomic(target, "new\r\nline\n")  # newlines as given: q code is not translated
    assert target.read_bytes() == b"new\r\nline\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert leftovers(tmp_path, {"init.q"}) == []


def test_a_new_file_gets_the_umask_and_an_explicit_mode_wins(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "lib" / "a.q", b"a:1\n")  # its folder is made too
    finally:
        os.umask(old)
    assert (tmp_path / "lib" / "a.q").stat().st_mode & 0o777 == 0o640
    secret = tmp_path / "credentials"
    secret.write_text("x")
    secret.chmod(0o644)
    write_atomic(secret, "[p]\n", mode=0o600)
    assert secret.stat().st_mode & 0o777 == 0o600 and secret.read_text() == "[p]\n"


def test_a_failure_before_the_rename_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    target.write_text('{"port": 1}')

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, '{"port": 2}')
    assert target.read_text() == '{"port": 1}'
    assert leftovers(tmp_path, {"state.json"}) == []


CRASH = """
import os, signal, sys
from kx_jupyter.files import write_atomic

def die(src, dst):  # the process is killed between the write and the rename
    os.kill(os.getpid(), signal.SIGKILL)

os.replace = die
write_atomic(sys.argv[1], b"x" * 1_000_000)
"""


@pytest.mark.parametrize("existed", [True, False], ids=["replacing", "new"])
def test_a_process_killed_between_write_and_rename_leaves_the_file_complete_or_absent(tmp_path, existed):
    target = tmp_path / "code.q"
    if existed:
        target.write_text("the old, complete file\n")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(CRASH), str(target)], timeout=60)
    assert done.returncode == -9
    if existed:
        assert target.read_text() == "the old, complete file\n"
    else:
        assert not target.exists()
    hidden = leftovers(tmp_path, {"code.q"})  # the killed write's data, under a hidden temporary name
    assert len(hidden) == 1 and hidden[0].startswith(".code.q.")


def test_a_new_file_published_without_overwrite_keeps_the_one_already_there(tmp_path):
    existing = tmp_path / "abc123"
    existing.write_bytes(b"first")
    with NewFile(tmp_path, mode=0o600, prefix="incoming-") as new:
        new.write(b"second")
        assert new.publish(existing, overwrite=False) is False
    assert existing.read_bytes() == b"first"
    with NewFile(tmp_path, mode=0o600, prefix="incoming-") as new:
        new.write(b"third")
        assert new.publish(tmp_path / "def456", overwrite=False) is True
    assert (tmp_path / "def456").read_bytes() == b"third"
    assert (tmp_path / "def456").stat().st_mode & 0o777 == 0o600
    assert leftovers(tmp_path, {"abc123", "def456"}) == []


def test_a_new_file_never_published_is_removed(tmp_path):
    with pytest.raises(RuntimeError), NewFile(tmp_path) as new:
        new.write(b"half an upload")
        raise RuntimeError("the client went away")
    assert list(tmp_path.iterdir()) == []


def test_what_a_killed_writer_left_is_removed_and_nothing_else(tmp_path):
    (tmp_path / "incoming-1a2b.tmp").write_bytes(b"half a blob")
    (tmp_path / ("0f" * 32)).write_bytes(b"a whole blob")
    (tmp_path / "incoming-notes.txt").write_text("not ours")
    assert remove_unpublished(tmp_path, "incoming-") == ["incoming-1a2b.tmp"]
    assert leftovers(tmp_path, set()) == sorted(["0f" * 32, "incoming-notes.txt"])


def test_a_restarted_plane_drops_the_blob_and_upload_a_killed_one_was_writing(plane):
    from kx_jupyter.local.awsbackends import BLOB_PREFIX
    from kx_jupyter.local.bodies import SPILL_PREFIX

    blobs, uploads = plane.state_dir / "s3", plane.state_dir / "uploads"
    uploads.mkdir(mode=0o700, exist_ok=True)
    half_blob, half_upload = blobs / f"{BLOB_PREFIX}dead.tmp", uploads / f"{SPILL_PREFIX}dead.tmp"
    half_blob.write_bytes(b"x" * 1000)
    half_upload.write_bytes(b"y" * 1000)
    plane.restart(kill=True)
    assert not half_blob.exists() and not half_upload.exists()
    s3 = plane.clients().s3
    assert s3.get_object(Bucket="kx-local-code", Key="seed/code.zip")["Body"].read()[:2] == b"PK"
