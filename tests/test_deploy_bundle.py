"""The bundle: what goes in, what is refused, and that the same files give the same bytes."""

import hashlib
import io
import os
import zipfile

import pytest

from kx_jupyter.deploy.bundle import build, collect
from kx_jupyter.errors import KxError


def write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "ws"
    write(root, {"init.q": "x:1\n", "lib/util.q": "f:{x+1}\n"})
    return root


def test_same_files_same_bytes_and_hash(ws, tmp_path):
    first = build(ws)
    os.utime(ws / "init.q", (1, 1))  # a touched file changes nothing
    (ws / "lib" / "util.q").chmod(0o600)
    second = build(ws)
    other = tmp_path / "copy"
    write(other, {"lib/util.q": "f:{x+1}\n", "init.q": "x:1\n"})
    third = build(other)
    assert first.data == second.data == third.data
    assert first.sha256 == hashlib.sha256(first.data).hexdigest() == third.sha256


def test_zip_is_sorted_with_fixed_times_and_modes(ws):
    with zipfile.ZipFile(io.BytesIO(build(ws).data)) as z:
        infos = z.infolist()
        assert [i.filename for i in infos] == ["init.q", "lib/util.q"]
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.external_attr >> 16 for i in infos} == {0o100644}
        assert z.read("lib/util.q") == b"f:{x+1}\n"


def test_changed_content_changes_hash(ws):
    before = build(ws).sha256
    (ws / "init.q").write_text("x:2\n")
    assert build(ws).sha256 != before


def test_default_excludes(ws):
    write(ws, {".git/config": "x", ".ipynb_checkpoints/a.q": "x", "__pycache__/m.pyc": "x",
               "nb.ipynb": "{}", ".DS_Store": "x", "sub/.svn/entries": "x", ".kxignore": "# none\n"})
    assert sorted(collect(ws)) == ["init.q", "lib/util.q"]


def test_kxignore_gitignore_syntax_and_reinclude(ws):
    write(ws, {"data/big.csv": "1", "scratch.q": "1", "keep.ipynb": "{}",
               ".kxignore": "data/\nscratch.q\n!keep.ipynb\n"})
    assert sorted(collect(ws)) == ["init.q", "keep.ipynb", "lib/util.q"]


@pytest.mark.parametrize("secret", [".env", "deploy.pem", "keys/id_rsa", ".aws/credentials", "conf/credentials"])
def test_likely_secrets_are_refused_with_a_way_out(ws, secret):
    write(ws, {secret: "s3cr3t"})
    with pytest.raises(KxError) as err:
        collect(ws)
    assert secret.split("/")[0] in str(err.value) and ".kxignore" in err.value.hint


def test_code_merely_named_after_credentials_is_bundled(ws):
    write(ws, {"lib/credentials.q": "getcred:{x}\n"})
    assert "lib/credentials.q" in collect(ws)


def test_secret_can_be_left_out_or_included_explicitly(ws):
    write(ws, {".env": "A=1", "server.pem": "cert", ".kxignore": ".env\n!server.pem\n"})
    assert sorted(collect(ws)) == ["init.q", "lib/util.q", "server.pem"]


def test_symlink_leaving_workspace_is_refused(ws, tmp_path):
    outside = tmp_path / "outside.q"
    outside.write_text("y:1\n")
    (ws / "link.q").symlink_to(outside)
    with pytest.raises(KxError, match="link.q is a symbolic link .*outside the workspace"):
        collect(ws)


def test_symlink_inside_workspace_is_followed(ws):
    (ws / "alias.q").symlink_to(ws / "init.q")
    (ws / "lib2").symlink_to(ws / "lib")
    files = collect(ws)
    assert files["alias.q"] == b"x:1\n" and files["lib2/util.q"] == b"f:{x+1}\n"


def test_unreadable_file_is_a_clear_error(ws, monkeypatch):
    real_read = type(ws).read_bytes

    def read_bytes(path):
        if path.name == "init.q":
            raise PermissionError(13, "Permission denied")
        return real_read(path)

    monkeypatch.setattr(type(ws), "read_bytes", read_bytes)  # chmod 0 does not stop root
    with pytest.raises(KxError, match="cannot read init.q in the workspace: Permission denied") as err:
        collect(ws)
    assert ".kxignore" in err.value.hint


def test_empty_workspace(tmp_path):
    write(tmp_path, {"notes.ipynb": "{}"})
    with pytest.raises(KxError, match="no files to bundle"):
        collect(tmp_path)


def test_missing_workspace(tmp_path):
    with pytest.raises(KxError, match="not a directory"):
        collect(tmp_path / "nope")


def test_size_limit(ws):
    (ws / "blob.bin").write_bytes(os.urandom(300_000))
    with pytest.raises(KxError, match="bundle limit"):
        build(ws, max_mb=0.25)
    assert build(ws, max_mb=1).size > 250_000


def test_symlink_loop_is_not_followed(ws):
    (ws / "lib" / "back").symlink_to(ws)
    assert sorted(collect(ws)) == ["init.q", "lib/util.q"]
