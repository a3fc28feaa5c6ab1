"""The bundle's zip: one writer (``kx_jupyter.zipwrite``), one reader (``kx_jupyter.zipread``), Zip64 where needed.

A bundle of more than 65,535 files is a Zip64 archive that Python's zipfile and Info-ZIP read, and
the plane's nodes start from a Zip64 bundle. The 4 GiB limits are proven on small archives by lowering
the writer's 32-bit limit: the records written past it are the very ones a 4 GiB bundle gets, and
the readers resolve them, without writing gigabytes.
"""

from __future__ import annotations

import io
import random
import shutil
import string
import subprocess
import zipfile

import pytest
from plane_fixtures import CODE_BUCKET, ENV_ID

from kx_jupyter import zipwrite
from kx_jupyter.errors import KxError
from kx_jupyter.zipread import read_bundle, safe_name, unpack
from kx_jupyter.zipwrite import ZipWriter

MANY = 65_536  # one more than a zip without Zip64 can count


def zipped(entries, streamed=(), expected=None) -> bytes:
    """A zip of ``entries`` (name -> bytes); names in ``streamed`` go through ``add_stream``."""
    out = io.BytesIO()
    writer = ZipWriter(out)
    for name, data in entries.items():
        if name in streamed:
            chunks = [data[i : i + 1000] for i in range(0, len(data), 1000)]
            writer.add_stream(name, chunks, len(data) if expected is None else expected)
        else:
            writer.add(name, data)
    size, _ = writer.finish()
    assert size == len(out.getvalue())
    return out.getvalue()


def info_zip_accepts(tmp_path, data: bytes) -> None:
    """Info-ZIP's own test of every entry (CRCs, sizes, the directory), when it is installed."""
    if shutil.which("unzip") is None:
        pytest.skip("Info-ZIP unzip is not installed")
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    done = subprocess.run(["unzip", "-tqq", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def has_zip64_end(data: bytes) -> bool:
    return b"PK\x06\x06" in data[-200:] and b"PK\x06\x07" in data[-100:]


def test_more_than_65535_files_make_a_zip64_archive_every_reader_takes(tmp_path):
    entries = {f"lib/f{i:05d}.q": f"v{i}:{i}\n".encode() for i in range(MANY)}
    data = zipped(entries)
    assert has_zip64_end(data)
    files, unsafe = read_bundle(data)  # zipfile underneath: every entry's CRC checked as it is read
    assert files == entries and unsafe == []
    info_zip_accepts(tmp_path, data)


def test_a_small_bundle_has_no_zip64_record_so_any_reader_takes_it():
    data = zipped({"init.q": b"x:1\n", "big.csv": b"1,2\n" * 5000}, streamed={"big.csv"})
    assert not has_zip64_end(data) and data[-22:-18] == b"PK\x05\x06"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert [i.extra for i in archive.infolist()] == [b"", b""]


@pytest.fixture
def four_gib_is_2000_bytes(monkeypatch):
    """Every 32-bit size and offset limit of the writer at 2,000 bytes instead of 4 GiB."""
    monkeypatch.setattr(zipwrite, "_LIMIT_32", 2000)


def test_offsets_and_sizes_past_the_32_bit_limit_are_written_as_zip64(tmp_path, four_gib_is_2000_bytes):
    noise = random.Random(15).randbytes(3000)  # bytes that do not deflate: stored, larger than the limit
    entries = {
        "init.q": b"\\l lib/a.q\n",
        "lib/a.q": b"a:1\n" * 1200,  # 4,800 bytes, deflated small
        "blob.bin": noise,  # its size needs Zip64 and its offset passes the limit
        "lib/streamed.q": b"s:2\n" * 2000,  # a streamed entry expected past the limit: Zip64 descriptor
        "last.q": b"z:0\n",  # an offset past the limit only
    }
    data = zipped(entries, streamed={"lib/streamed.q"})
    assert has_zip64_end(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = {i.filename: i for i in archive.infolist()}
        assert archive.testzip() is None
        assert infos["last.q"].header_offset > 2000 and infos["blob.bin"].file_size == len(noise)
        assert infos["blob.bin"].extra[:2] == b"\x01\x00"  # its central record holds the Zip64 field
    assert read_bundle(data)[0] == entries
    root = tmp_path / "code"
    root.mkdir()
    assert unpack(io.BytesIO(data), root) == list(entries)
    assert (root / "lib" / "streamed.q").read_bytes() == entries["lib/streamed.q"]
    info_zip_accepts(tmp_path, data)


@pytest.mark.slow
def test_the_plane_runs_a_zip64_bundle(plane, four_gib_is_2000_bytes):
    """Zip64 records (from the lowered limit) in a bundle a cluster must unpack and start from."""
    comment = "/ " + "".join(random.Random(15).choices(string.ascii_letters, k=4000))  # deflates to ~3 KB
    data = zipped(
        {"init.q": b"\\l lib/a.q\nb:a+1\n", "lib/a.q": f"a:1\n{comment}\n".encode()}, streamed={"lib/a.q"}
    )
    assert has_zip64_end(data)
    clients = plane.clients()
    version = clients.s3.put_object(Bucket=CODE_BUCKET, Key="tests/zip64.zip", Body=data)["VersionId"]
    code = {"s3Bucket": CODE_BUCKET, "s3Key": "tests/zip64.zip", "s3ObjectVersion": version}
    clients.finspace.update_kx_cluster_code_configuration(
        environmentId=ENV_ID,
        clusterName="dev-gp",
        code=code,
        initializationScript="init.q",
        deploymentConfiguration={"deploymentStrategy": "FORCE"},
    )
    got = plane.wait_status("dev-gp", "RUNNING")
    assert got["code"] == code and not got.get("statusReason")  # a failed start keeps the old code


def test_a_streamed_file_that_grows_past_what_it_was_declared_is_refused(four_gib_is_2000_bytes):
    with pytest.raises(KxError, match="grew past 4 GiB while it was being bundled"):
        zipped({"data.csv": random.Random(15).randbytes(3000)}, streamed={"data.csv"}, expected=10)


@pytest.mark.parametrize("name", ["../evil.q", "/etc/passwd", "a/../../b", "c:\\x", "dir\\..\\x"])
def test_entries_that_could_escape_are_reported_and_never_unpacked(tmp_path, name):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:  # a hostile zip: written by anyone, not by our writer
        z.writestr(zipfile.ZipInfo("ok.q"), b"1")
        z.writestr(zipfile.ZipInfo(name), b"x")
    assert not safe_name(name)
    files, unsafe = read_bundle(out.getvalue())
    assert list(files) == ["ok.q"] and unsafe == [name]
    root = tmp_path / "node" / "code"
    root.mkdir(parents=True)
    assert unpack(io.BytesIO(out.getvalue()), root) == ["ok.q"]
    assert sorted(p.name for p in (tmp_path / "node").rglob("*")) == ["code", "ok.q"]


def test_a_bundle_over_the_limit_or_not_a_zip_is_one_clear_error():
    with pytest.raises(KxError, match="the deployed code unpacks to .*, more than the bundle limit"):
        read_bundle(zipped({"a": b"0" * 50_000}), 1000, "the deployed code")
    with pytest.raises(KxError, match="the deployed code is not a valid zip"):
        read_bundle(b"<html>not found</html>", 1000, "the deployed code")
