"""The checker's on-disk cache: a check through it is exactly the check without it, across processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_qcheck_corpus import CLEAN, CORPUS, _case, _parse, _text

from kx_jupyter.qcheck import bundle as bundle_module
from kx_jupyter.qcheck import check_bundle
from kx_jupyter.qcheck.cache import KEY_CHECK, STORE, ReportCache, disk_usage
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


def stored(directory: Path) -> dict[str, bytes]:
    """The store's entries, key -> body, read as another process would."""
    with sqlite3.connect(directory / STORE) as db:
        return dict(db.execute("SELECT key, body FROM entries"))


def test_cached_check_is_the_uncached_check_for_the_whole_corpus(tmp_path, monkeypatch):
    cache = ReportCache(tmp_path / "cache", 64 * MB)
    uncached = [check_bundle(files, init, args) for files, init, args in BUNDLES]
    assert [check_bundle(files, init, args, cache) for files, init, args in BUNDLES] == uncached  # filling it
    assert stored(tmp_path / "cache")
    assert [
        p.name for p in (tmp_path / "cache").iterdir() if not p.name.startswith(STORE)
    ] == []  # one store, no file per entry

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
            cache.report(data, name, None, lambda: analyze(text, name))  # noqa: B023 (called at once)
    cache.flush()
    fresh = ReportCache(tmp_path / "cache", 64 * MB)
    for files, _, _ in BUNDLES:
        for name, data in files.items():
            text = data.decode("utf-8", errors="surrogateescape")
            assert fresh.report(data, name, None, lambda: pytest.fail("not read from the cache")) == analyze(
                text, name
            )


def test_a_changed_file_is_checked_again(tmp_path):
    cache = ReportCache(tmp_path / "cache", 64 * MB)
    good, broken = {"init.q": b"x:1\n"}, {"init.q": b"f:{x+1\n"}
    assert check_bundle(good, "init.q", None, cache) == []
    assert [d.rule for d in check_bundle(broken, "init.q", None, cache)] == ["Q002"]
    assert check_bundle(good, "init.q", None, ReportCache(tmp_path / "cache", 64 * MB)) == []
    assert len(stored(tmp_path / "cache")) == 2


def test_a_file_is_checked_again_when_another_file_changes_what_it_reads(tmp_path):
    """A report depends on the .Q.opt dictionaries other files define, so they are part of its key."""
    cache = ReportCache(tmp_path / "cache", 64 * MB)
    reader = b"p:args`port\n"
    for definer in (b"args:.Q.opt .z.x\n", b"args:.Q.def[`port!enlist 5000] .Q.opt .z.x\n"):
        files = {"a.q": definer, "b.q": reader}
        assert check_bundle(files, None, {}, cache) == check_bundle(files, None, {})


def test_a_file_that_reads_no_dictionary_is_not_checked_again_when_one_changes(tmp_path, monkeypatch):
    """Only the dictionaries a file reads are in its key: editing init.q's .Q.def defaults re-checks
    init.q and the files that read them, not every file of the workspace."""
    cache = ReportCache(tmp_path / "cache", 64 * MB)
    files = {
        "init.q": b"args:.Q.opt .z.x\n\\l lib.q\n\\l reader.q\n",
        "lib.q": b"f:{x+1}\nt:([] a:`x`y)\n",
        "reader.q": b"p:args`port\n",
    }
    assert check_bundle(files, "init.q", {}, cache) == check_bundle(files, "init.q", {})
    analyzed = []
    real = bundle_module.analyze
    monkeypatch.setattr(
        bundle_module, "analyze", lambda text, name, *a: analyzed.append(name) or real(text, name, *a)
    )
    files["init.q"] = b"args:.Q.def[`port!enlist 5000] .Q.opt .z.x\n\\l lib.q\n\\l reader.q\n"
    fresh = ReportCache(tmp_path / "cache", 64 * MB)
    assert [d.rule for d in check_bundle(files, "init.q", {}, fresh)] == ["Q035"]  # the default is used
    assert sorted(analyzed) == ["init.q", "reader.q"]


def test_the_dictionaries_in_a_key_are_read_each_time_not_remembered_by_object(tmp_path):
    cache = ReportCache(tmp_path / "cache", 64 * MB)
    shared = {"args": {"port"}}
    first = cache._key(b"p:args`port\n", "b.q", shared)
    shared["args"].add("db")  # the same dictionary, changed: another key
    cache._keys.clear()
    changed = cache._key(b"p:args`port\n", "b.q", shared)
    cache._keys.clear()
    assert changed != first
    assert cache._key(b"p:args`port\n", "b.q", {"args": {"port"}}) == first
    cache._keys.clear()
    assert (
        ReportCache(tmp_path / "cache", 64 * MB)._key(b"p:args`port\n", "b.q", {"args": {"db", "port"}})
        == changed
    )


def test_the_same_bytes_under_another_path_keep_their_own_path(tmp_path):
    cache = ReportCache(tmp_path / "cache", 64 * MB)
    assert check_bundle({"a.q": b"f:{\n"}, None, None, cache)[0].path == "a.q"
    assert check_bundle({"b.q": b"f:{\n"}, None, None, cache)[0].path == "b.q"


def damage_store(directory: Path, damage: str) -> None:
    store = directory / STORE
    if damage in ("flip", "other key"):
        with sqlite3.connect(store) as db:
            for key, body in list(db.execute("SELECT key, body FROM entries")):
                if damage == "flip":
                    body = body[:-2] + bytes([body[-2] ^ 1]) + body[-1:]
                else:  # intact, but filed under another key (an entry starts with its own key's start)
                    body = b"0" * KEY_CHECK + body[KEY_CHECK:]
                db.execute("UPDATE entries SET body = ? WHERE key = ?", (body, key))
        return
    with sqlite3.connect(store) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = store.read_bytes()
    store.write_bytes(
        {"truncate": raw[: len(raw) // 2], "garbage": b"\x00\xff not a database" * 100, "empty": b""}[damage]
    )


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "other key"])
def test_a_damaged_store_or_entry_is_a_miss_and_is_rewritten(tmp_path, damage):
    files, init, args = BUNDLES[-1]
    expected = check_bundle(files, init, args)
    assert check_bundle(files, init, args, ReportCache(tmp_path / "cache", 64 * MB)) == expected
    before = stored(tmp_path / "cache")
    damage_store(tmp_path / "cache", damage)
    assert check_bundle(files, init, args, ReportCache(tmp_path / "cache", 64 * MB)) == expected
    assert stored(tmp_path / "cache") == before  # every entry rewritten as it was


def test_the_cache_stays_within_its_bound_in_disk_blocks(tmp_path):
    limit = 256 * 1024
    files = {f"m{n}.q": f"f{n}:{{x+{n}}}\nx{n}:a==b\n".encode() for n in range(3000)}
    expected = check_bundle(files, None, None)
    assert check_bundle(files, None, None, ReportCache(tmp_path / "cache", limit)) == expected
    assert 0 < disk_usage(tmp_path / "cache" / STORE) <= limit
    assert 0 < len(stored(tmp_path / "cache")) < len(files)  # the least recently used were dropped
    assert check_bundle(files, None, None, ReportCache(tmp_path / "cache", limit)) == expected
    assert disk_usage(tmp_path / "cache" / STORE) <= limit


def test_a_report_larger_than_a_sixteenth_of_the_bound_is_not_stored(tmp_path):
    cache = ReportCache(tmp_path / "cache", 16 * 1024)
    noisy = b"".join(b"x:a==b\n" for _ in range(200))  # 200 warnings: far over 1 KB
    assert check_bundle({"n.q": noisy}, None, None, cache) == check_bundle({"n.q": noisy}, None, None)
    assert check_bundle({"a.q": b"x:1\n"}, None, None, cache) == []
    assert len(stored(tmp_path / "cache")) == 1


def test_concurrent_threads_and_processes_share_one_cache(tmp_path):
    directory = tmp_path / "cache"
    files, init, args = BUNDLES[-1]
    expected = check_bundle(files, init, args)
    with ThreadPoolExecutor(8) as pool:
        got = list(
            pool.map(lambda _: check_bundle(files, init, args, ReportCache(directory, 64 * MB)), range(16))
        )
    assert got == [expected] * 16
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from kx_jupyter.qcheck import check_bundle, format_json\n"
        "from kx_jupyter.qcheck.cache import ReportCache\n"
        f"clean = sorted(Path({str((CORPUS / 'clean').resolve())!r}).glob('*.q'))\n"
        "files = {f'lib/{p.name}': p.read_bytes() for p in clean}\n"
        "print(format_json(check_bundle(files, None, {}, ReportCache(Path(sys.argv[1]), 64 * 2**20))))\n"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / "shared")], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = {run.communicate(timeout=120)[0] for run in runs}
    assert all(run.returncode == 0 for run in runs)
    assert len(outputs) == 1
    assert json.loads(outputs.pop()) == [d.to_dict() for d in check_bundle(files, init, args)]
    assert stored(tmp_path / "shared")


def test_engine_check_uses_the_cache_in_home_unless_turned_off(kx_home, tmp_path):
    from kx_jupyter.config import load_settings
    from kx_jupyter.deploy import Engine

    src = tmp_path / "ws"
    src.mkdir()
    (src / "init.q").write_text("f:{x+1\n")
    assert Engine(load_settings(check_cache_mb=0)).check(src) == Engine(load_settings()).check(src) != []
    assert stored(kx_home / "qcheck-cache")
    off = tmp_path / "off-home"
    assert Engine(load_settings(home=str(off), check_cache_mb=0)).check(src) != []
    assert not (off / "qcheck-cache").exists()


def test_a_large_warm_check_reads_every_report_and_marks_old_ones_used(tmp_path, monkeypatch):
    """From SCAN_FROM files the store is read in one pass (or by key when it holds far more)."""
    from kx_jupyter.qcheck import cache as cache_module

    files = {f"lib/f{n}.q": f"f{n}:{{x+{n}}}\n".encode() for n in range(cache_module.SCAN_FROM + 500)}
    files["init.q"] = b"\\l lib/f7.q\ny:f7 1\n"
    part = dict(list(files.items())[: cache_module.SCAN_FROM])  # a quarter of the store or more: one pass
    part["init.q"] = files["init.q"]
    expected, expected_part = check_bundle(files, "init.q", {}), check_bundle(part, "init.q", {})
    assert check_bundle(files, "init.q", {}, ReportCache(tmp_path / "cache", 64 * MB)) == expected
    with sqlite3.connect(tmp_path / "cache" / STORE) as db:
        db.execute("UPDATE entries SET used = 0")
    monkeypatch.setattr(bundle_module, "analyze", lambda *a, **k: pytest.fail("analyzed again"))
    assert check_bundle(part, "init.q", {}, ReportCache(tmp_path / "cache", 64 * MB)) == expected_part
    assert check_bundle(files, "init.q", {}, ReportCache(tmp_path / "cache", 64 * MB)) == expected
    with sqlite3.connect(tmp_path / "cache" / STORE) as db:
        assert db.execute("SELECT count(*) FROM entries WHERE used = 0").fetchall() == [(0,)]
    monkeypatch.setattr(cache_module, "SCAN_RATIO", 0)  # the store "much larger": looked up by key
    assert check_bundle(files, "init.q", {}, ReportCache(tmp_path / "cache", 64 * MB)) == expected
