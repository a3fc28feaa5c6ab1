"""The bundle: what goes in, what is refused, and that the same files give the same bytes."""

import hashlib
import io
import os
import zipfile

import pytest

from kx_jupyter.deploy import bundle as bundle_module
from kx_jupyter.deploy.bundle import CHUNK, build, checked_files, read_all
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
    write(
        ws,
        {
            ".git/config": "x",
            ".ipynb_checkpoints/a.q": "x",
            "__pycache__/m.pyc": "x",
            "nb.ipynb": "{}",
            ".DS_Store": "x",
            "sub/.svn/entries": "x",
            ".kxignore": "# none\n",
        },
    )
    assert sorted(read_all(ws)) == ["init.q", "lib/util.q"]


def test_kxignore_gitignore_syntax_and_reinclude(ws):
    write(
        ws,
        {
            "data/big.csv": "1",
            "scratch.q": "1",
            "keep.ipynb": "{}",
            ".kxignore": "data/\nscratch.q\n!keep.ipynb\n",
        },
    )
    assert sorted(read_all(ws)) == ["init.q", "keep.ipynb", "lib/util.q"]


@pytest.mark.parametrize(
    "secret", [".env", "deploy.pem", "keys/id_rsa", ".aws/credentials", "conf/credentials"]
)
def test_likely_secrets_are_refused_with_a_way_out(ws, secret):
    write(ws, {secret: "s3cr3t"})
    with pytest.raises(KxError) as err:
        read_all(ws)
    assert secret.split("/")[0] in str(err.value) and ".kxignore" in err.value.hint


def test_code_merely_named_after_credentials_is_bundled(ws):
    write(ws, {"lib/credentials.q": "getcred:{x}\n"})
    assert "lib/credentials.q" in read_all(ws)


def test_secret_can_be_left_out_or_included_explicitly(ws):
    write(ws, {".env": "A=1", "server.pem": "cert", ".kxignore": ".env\n!server.pem\n"})
    assert sorted(read_all(ws)) == ["init.q", "lib/util.q", "server.pem"]


def test_symlink_leaving_workspace_is_refused(ws, tmp_path):
    outside = tmp_path / "outside.q"
    outside.write_text("y:1\n")
    (ws / "link.q").symlink_to(outside)
    with pytest.raises(KxError, match="link.q is a symbolic link .*outside the workspace"):
        read_all(ws)


def test_symlink_inside_workspace_is_followed(ws):
    (ws / "alias.q").symlink_to(ws / "init.q")
    (ws / "lib2").symlink_to(ws / "lib")
    files = read_all(ws)
    assert files["alias.q"] == b"x:1\n" and files["lib2/util.q"] == b"f:{x+1}\n"


def test_unreadable_file_is_a_clear_error(ws, monkeypatch):
    real_open = os.open

    def deny_init(path, *args, **kwargs):
        if str(path).endswith("init.q"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(bundle_module.os, "open", deny_init)  # chmod 0 does not stop root
    with pytest.raises(KxError, match="cannot read init.q in the workspace: Permission denied") as err:
        build(ws)
    assert ".kxignore" in err.value.hint


def test_empty_workspace(tmp_path):
    write(tmp_path, {"notes.ipynb": "{}"})
    with pytest.raises(KxError, match="no files to bundle"):
        read_all(tmp_path)


def test_missing_workspace(tmp_path):
    with pytest.raises(KxError, match="not a directory"):
        read_all(tmp_path / "nope")


def test_size_limit_names_the_largest_files_and_the_total(ws):
    (ws / "blob.bin").write_bytes(os.urandom(300_000))
    (ws / "data").mkdir()
    (ws / "data" / "ticks.csv").write_bytes(b"1" * 200_000)
    with pytest.raises(KxError, match="bundle limit") as err:
        build(ws, max_mb=0.25)
    message = str(err.value)
    assert "0.5 MB in 4 files" in message and "over the bundle limit of 0.25 MB" in message
    assert message.index("blob.bin (0.3 MB)") < message.index("data/ticks.csv (0.2 MB)")
    assert "max_bundle_mb" in err.value.hint
    assert build(ws, max_mb=1).size > 250_000


def test_an_oversized_file_is_refused_by_its_size_without_being_read(ws, monkeypatch):
    with open(ws / "huge.bin", "wb") as f:
        f.truncate(8 * 2**30)  # sparse: 8 GiB on paper, nothing on disk
    opened = []
    real_open = os.open
    monkeypatch.setattr(
        bundle_module.os, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k)
    )
    with pytest.raises(KxError, match=r"holds 8192\.0 MB .* the largest: huge\.bin \(8192\.0 MB\)"):
        build(ws, max_mb=256)
    assert opened == []  # nothing was read, not even the small files


def test_a_large_file_is_streamed_into_the_zip_and_not_kept(ws):
    big = os.urandom(CHUNK) + b"tail\n" * 1000  # over one chunk: streamed
    (ws / "data.bin").write_bytes(big)
    built = build(ws, init="init.q")
    with zipfile.ZipFile(io.BytesIO(built.data)) as z:
        assert z.testzip() is None and z.read("data.bin") == big and z.read("init.q") == b"x:1\n"
    assert built.files["data.bin"] == b"" and built.files["init.q"] == b"x:1\n"  # the checker's view
    assert build(ws, init="init.q").data == built.data


def test_checked_files_are_the_bundles_view_without_a_zip(ws):
    (ws / "notes.txt").write_text("hello\n")
    assert (
        checked_files(ws, init="init.q")
        == build(ws, init="init.q").files
        == {"init.q": b"x:1\n", "lib/util.q": b"f:{x+1}\n", "notes.txt": b""}
    )


def test_a_symlink_to_a_folder_it_is_inside_of_is_refused_by_name(ws):
    (ws / "lib" / "back").symlink_to(ws)
    with pytest.raises(KxError, match=r"lib/back is a symbolic link to .*a folder it is inside of") as err:
        read_all(ws)
    assert "'lib/back'" in err.value.hint and ".kxignore" in err.value.hint


def test_folders_linked_to_each_other_are_a_cycle_named_by_its_link(ws):
    (ws / "a").mkdir()
    (ws / "b").mkdir()
    (ws / "a" / "x.q").write_text("x:1\n")
    (ws / "a" / "to_b").symlink_to("../b")
    (ws / "b" / "to_a").symlink_to("../a")
    with pytest.raises(
        KxError, match=r"(a/to_b/to_a|b/to_a/to_b) is a symbolic link to \.\./[ab], a folder it is inside of"
    ):
        build(ws)


def test_a_cycle_left_out_in_kxignore_is_no_problem(ws):
    (ws / "lib" / "back").symlink_to(ws)
    write(ws, {".kxignore": "lib/back\n"})
    assert sorted(read_all(ws)) == ["init.q", "lib/util.q"]


@pytest.mark.parametrize(
    "name",
    [
        ".git-credentials",
        ".pypirc",
        ".npmrc",
        ".docker/config.json",
        ".kube/config",
        "infra/terraform.tfstate",
    ],
)
def test_more_credential_files_are_refused_by_name(ws, name):
    write(ws, {name: "x"})
    with pytest.raises(KxError, match="looks like secrets") as err:
        build(ws)
    assert name.split("/")[0] in str(err.value)


AWS_PAIR = (
    "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
)


@pytest.mark.parametrize(
    "name,text,line,what",
    [
        ("creds.txt", "my keys\n" + AWS_PAIR, 3, "an AWS access key id"),
        ("lib/conn.q", '/ connect\n.aws.id:"ASIAXYZXYZXYZXYZXYZ1"\n', 2, "an AWS access key id"),
        ("deploy/notes.md", "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\n", 2, "a PEM private key"),
        (
            "config.ini",
            "[aws]\nregion = us-east-1\nAWS_SECRET_ACCESS_KEY=${FROM_VAULT}\n",
            3,
            "an aws_secret_access_key setting",
        ),
        (
            "env.json",
            '{\n  "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n}\n',
            2,
            "an AWS secret access key",
        ),
    ],
)
def test_secrets_are_found_by_content_with_file_and_line(ws, name, text, line, what):
    write(ws, {name: text})
    with pytest.raises(KxError) as err:
        build(ws)
    assert f"{name} line {line} ({what})" in str(err.value)
    assert f"'!{name}'" in err.value.hint and ".kxignore" in err.value.hint
    with pytest.raises(KxError, match=f"{name} line {line}"):
        read_all(ws)  # diff would print it
    with pytest.raises(KxError, match=f"{name} line {line}"):
        checked_files(ws)  # and the check says so before a push


def test_hashes_and_ordinary_code_are_not_secrets(ws):
    write(
        ws,
        {
            "lib/auth.q": '.auth.secret:"da39a3ee5e6b4b0d3255bfef95601890afd80709"\n.auth.check:{x~.auth.secret}\n',
            "lib/codes.q": "codes:`AKIA`ASIA\n",
        },
    )
    assert "lib/auth.q" in build(ws).files


def test_a_secret_included_deliberately_in_kxignore_is_bundled(ws):
    write(ws, {"creds.txt": AWS_PAIR, ".kxignore": "!creds.txt\n"})
    assert "creds.txt" in build(ws).files


def test_a_key_split_across_two_chunks_is_found_on_its_line(ws):
    head = b"x" * (CHUNK - 10) + b"\n"
    (ws / "big.txt").write_bytes(head + b"\n" + b"id AKIAIOSFODNN7EXAMPLE\n" + b"y" * CHUNK)
    with pytest.raises(KxError, match=r"big\.txt line 3 \(an AWS access key id\)"):
        build(ws)


def test_the_zip_is_the_same_for_a_workspace_read_in_chunks(tmp_path):
    big = b"sym,price\n" + b"abc,1.5\n" * 300_000
    one, two = tmp_path / "one", tmp_path / "two"
    for root in (one, two):
        write(root, {"init.q": "x:1\n"})
        (root / "ticks.csv").write_bytes(big)
    assert build(one).sha256 == build(two).sha256
    with zipfile.ZipFile(io.BytesIO(build(one).data)) as z:
        assert z.read("ticks.csv") == big
