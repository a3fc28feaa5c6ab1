"""The checker's on-disk cache: a check through it is exactly the check without it, across processes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_qcheck_corpus import CLEAN, CORPUS, _case, _parse, _text

from kx_jupyter.qcheck import bundle as bundle_module
from kx_jupyter.qcheck import check_bundle
from kx_jupyter.qcheck.cache import SHARDS, TMP_PREFIX, ReportCache
from kx_jupyter.qcheck.source import analyze

MB = 2**20


def corpus_bundles():
    """Every corpus case as (files, init script, arguments), plus the real-world scripts as one bundle."""
    for path in sorted(CORPUS.glob("*.cases")):
        for _, lines in _parse(path):
            body, files, opts, _ = _case(lines)
            if files:
                args = dict(kv.split("=", 1) for kv in opts["args"].split()) if "args" in opts else None
                yield {p: _text(ls, {}).encode() for p, ls in files.items()}, opts.get("init"), args
            else:
                yield {"t.q": _text(body, opts).encode()}, None, None
    yield {f"lib/{p.name}": p.read_bytes() for p in CLEAN}, None, {}


BUNDLES = list(corpus_bundles())


def entries(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


def test_cached_check_is_the_uncached_check_for_the_whole_corpus(tmp_path, monkeypatch):
    cache = ReportCache(tmp_path / "cache", 64 * MB)
    uncached = [check_bundle(files, init, args) for files, init, args in BUNDLES]
    assert [check_bundle(files, init, args, cache) for files, init, args in BUNDLES] == uncached  # filling it
    assert entries(tmp_path / "cache")

    def no_analysis(*_args, **_kwargs):
        raise AssertionError("a file was analyzed again although its report is in the cache")

    monkeypatch.setattr(bundle_module, "analyze", no_analysis)
    fresh = ReportCache(tmp_path / "cache", 64 * MB)  # as a new process would open it
    assert [check_bundle(files, init, args, fresh) for files, init, args in BUNDLES] == uncached


def test_a_stored_report_equals_the_analysis_field_by_field(tmp_path):
    cache = ReportCache(tmp_path / "cache", 64 * MB)
    for files, _, _ in BUNDLES:
        for name, data in files.items():
            text = data.decode("utf-8", errors="surrogateescape")
            cache.report(data, name, None, lambda: analyze(text, name))
            stored = cache.report(data, name, None, lambda: pytest.fail("not read from the cache"))
            assert stored == analyze(text, name)


def test_a_changed_file_is_checked_again(tmp_path):
    cache = ReportCache(tmp_path / "cache", 64 * MB)
    good, broken = {"init.q": b"x:1\n"}, {"init.q": b"f:{x+1\n"}
    assert check_bundle(good, "init.q", None, cache) == []
    assert [d.rule for d in check_bundle(broken, "init.q", None, cache)] == ["Q002"]
    assert check_bundle(good, "init.q", None, cache) == []
    assert len(entries(tmp_path / "cache")) == 2


def test_a_file_is_checked_again_when_another_file_changes_what_it_reads(tmp_path):
    """A report depends on the .Q.opt dictionaries other files define, so they are part of its key."""
    cache = ReportCache(tmp_path / "cache", 64 * MB)
    reader = b"p:args`port\n"
    for definer in (b"args:.Q.opt .z.x\n", b"args:.Q.def[`port!enlist 5000] .Q.opt .z.x\n"):
        files = {"a.q": definer, "b.q": reader}
        assert check_bundle(files, None, {}, cache) == check_bundle(files, None, {})


def test_the_same_bytes_under_another_path_keep_their_own_path(tmp_path):
    cache = ReportCache(tmp_path / "cache", 64 * MB)
    assert check_bundle({"a.q": b"f:{\n"}, None, None, cache)[0].path == "a.q"
    assert check_bundle({"b.q": b"f:{\n"}, None, None, cache)[0].path == "b.q"


def intact(entry: Path) -> bool:
    """The entry's checksum matches its body, and the body is filed under its own key."""
    checksum, _, body = entry.read_bytes().partition(b"\n")
    return (hashlib.sha256(body).hexdigest().encode() == checksum
            and json.loads(body)["key"] == entry.parent.name + entry.name)


def damaged(raw: bytes, damage: str) -> bytes:
    if damage == "other key":  # intact, but filed under another key
        doc = json.loads(raw.partition(b"\n")[2])
        doc["key"] = "0" * 64
        body = json.dumps(doc).encode()
        return hashlib.sha256(body).hexdigest().encode() + b"\n" + body
    return {"truncate": raw[: len(raw) // 2], "flip": raw[:-2] + bytes([raw[-2] ^ 1]) + raw[-1:],
            "garbage": b"\x00\xff not an entry", "empty": b""}[damage]


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "other key"])
def test_damaged_entries_are_misses_and_are_rewritten(tmp_path, damage):
    files, init, args = BUNDLES[-1]
    expected = check_bundle(files, init, args)
    assert check_bundle(files, init, args, ReportCache(tmp_path / "cache", 64 * MB)) == expected
    stored = entries(tmp_path / "cache")
    for entry in stored:
        entry.write_bytes(damaged(entry.read_bytes(), damage))
        assert not intact(entry)
    assert check_bundle(files, init, args, ReportCache(tmp_path / "cache", 64 * MB)) == expected
    assert all(intact(entry) for entry in stored)


def test_the_cache_stays_within_its_bound(tmp_path):
    limit = SHARDS * 2048
    cache = ReportCache(tmp_path / "cache", limit)
    files = {f"m{n}.q": f"f{n}:{{x+{n}}}\n".encode() for n in range(2000)}
    assert check_bundle(files, None, None, cache) == check_bundle(files, None, None)
    for shard in (tmp_path / "cache").iterdir():
        assert sum(p.stat().st_size for p in shard.iterdir()) <= limit // SHARDS
    assert sum(p.stat().st_size for p in entries(tmp_path / "cache")) <= limit
    assert check_bundle(files, None, None, ReportCache(tmp_path / "cache", limit)) == check_bundle(files, None, None)


def test_a_report_larger_than_its_share_is_not_stored(tmp_path):
    cache = ReportCache(tmp_path / "cache", SHARDS * 512)
    noisy = b"".join(b"x:a==b\n" for _ in range(200))  # 200 warnings: far over 512 bytes
    assert check_bundle({"n.q": noisy}, None, None, cache) == check_bundle({"n.q": noisy}, None, None)
    assert entries(tmp_path / "cache") == []


def test_abandoned_temporary_files_are_removed_and_live_ones_kept(tmp_path):
    cache = ReportCache(tmp_path / "cache", 64 * MB)
    check_bundle({"a.q": b"x:1\n"}, None, None, cache)
    (entry,) = entries(tmp_path / "cache")
    abandoned, live = entry.parent / f"{TMP_PREFIX}dead", entry.parent / f"{TMP_PREFIX}writing"
    abandoned.write_bytes(b"half")
    live.write_bytes(b"half")
    os.utime(abandoned, (0, 0))
    entry.unlink()  # so the next check writes into this shard again, which tidies it
    check_bundle({"a.q": b"x:1\n"}, None, None, cache)
    assert entry.exists() and live.exists() and not abandoned.exists()


def test_concurrent_threads_and_processes_share_one_cache(tmp_path):
    directory = tmp_path / "cache"
    files, init, args = BUNDLES[-1]
    expected = check_bundle(files, init, args)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: check_bundle(files, init, args, ReportCache(directory, 64 * MB)), range(16)))
    assert got == [expected] * 16
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from kx_jupyter.qcheck import check_bundle, format_json\n"
        "from kx_jupyter.qcheck.cache import ReportCache\n"
        f"clean = sorted(Path({str(CLEAN)!r}).glob('*.q'))\n"
        "files = {f'lib/{p.name}': p.read_bytes() for p in clean}\n"
        "print(format_json(check_bundle(files, None, {}, ReportCache(Path(sys.argv[1]), 64 * 2**20))))\n"
    )
    runs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "shared")], stdout=subprocess.PIPE, text=True)
            for _ in range(4)]
    outputs = {run.communicate(timeout=120)[0] for run in runs}
    assert all(run.returncode == 0 for run in runs)
    assert len(outputs) == 1
    assert not [p for p in entries(tmp_path / "shared") if p.name.startswith(TMP_PREFIX)]


def test_engine_check_uses_the_cache_in_home_unless_turned_off(kx_home, tmp_path):
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine

    src = tmp_path / "ws"
    src.mkdir()
    (src / "init.q").write_text("f:{x+1\n")
    assert Engine(load_settings(check_cache_mb=0)).check(src) == Engine(load_settings()).check(src) != []
    assert entries(kx_home / "qcheck-cache")
    off = tmp_path / "off-home"
    assert Engine(load_settings(home=str(off), check_cache_mb=0)).check(src) != []
    assert not (off / "qcheck-cache").exists()
