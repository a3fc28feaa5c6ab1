"""An on-disk cache of each file's check, so a new process (a CI job's push) skips unchanged files.

Lexing and walking a file is nearly all of a check's cost, and its result depends only on the
file's bytes, its path, the .Q.opt dictionaries other files define and the checker's own code:
an entry's key is a SHA-256 of all four, so a changed file, rule or checker simply misses.

All entries live in one SQLite store, ``<dir>/reports.sqlite`` (rollback journal: no ``-shm``
file to count) (a file per entry cost more than
it saved: 100,000 files made a cold check 36x slower and took 403 MB of disk blocks for a 64 MB
bound). A check reads every key it needs in a few queries (``prefetch``) and writes what it
learnt in one transaction (``flush``); the bound counts the disk blocks the store really uses and
drops the least recently used entries beyond it. SQLite's locking lets threads and processes
share the store; a damaged store or entry is a miss (the store is rebuilt), never a wrong report.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import sqlite3
import sys
import time
import zlib
from collections.abc import Callable, Iterable
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path

from .source import FileReport

FORMAT = 8  # of an entry's body; part of the fingerprint
KEY_CHECK = 16  # an entry starts with this much of its own key: a body filed under another key is a miss
STORE = "reports.sqlite"
BATCH = 500  # keys per query (SQLite allows 999 parameters on old builds)
SCAN_FROM, SCAN_RATIO = 2000, 4  # from this many keys, read the whole store if it holds at most 4x as many
TOUCH_SECONDS = 3600.0  # a hit newer than this is not written back: warm checks stay read-only
LARGEST_SHARE = 16  # a report larger than 1/16 of the bound is not stored
_SCHEMA = "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, body BLOB NOT NULL, used REAL NOT NULL) WITHOUT ROWID"


@lru_cache(maxsize=1)
def checker_fingerprint() -> str:
    """The checker's own code (rules included) and the Python running its regexes: change either and every entry misses."""
    digest = hashlib.sha256(f"format {FORMAT}, python {sys.version_info[0]}.{sys.version_info[1]}".encode())
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes())
    return digest.hexdigest()


def disk_usage(path: Path) -> int:
    """Bytes of disk blocks the store and its journal files occupy (not their apparent size)."""
    total = 0
    for suffix in ("", "-journal"):
        with suppress(OSError):
            info = os.stat(f"{path}{suffix}")
            total += info.st_blocks * 512 if hasattr(info, "st_blocks") else info.st_size
    return total


class ReportCache:
    """Per-file reports in ``directory/reports.sqlite``, at most ``max_bytes`` of disk in all."""

    def __init__(self, directory: Path, max_bytes: int):
        self.directory = Path(directory)
        self.path = self.directory / STORE
        self.max_bytes = max_bytes
        try:
            self.fingerprint: str | None = checker_fingerprint()
        except OSError:  # the checker's sources are not readable (a zipped install): nothing to key on
            self.fingerprint = None
        self._db: sqlite3.Connection | None = None
        self._known: dict[str, bytes] = {}  # prefetched bodies by key
        self._asked: set = set()  # keys already looked up (a miss is not asked again)
        self._stale: list = []  # keys of hits to mark as recently used
        self._pending: dict[str, bytes] = {}  # new bodies by key, written by flush()
        self._base = None  # the SHA-256 state after the fingerprint, copied for every key
        self._keys: dict = {}  # path -> (data, opt_vars JSON, key): each key is computed once per check
        self._opts_made: list = []  # (a copy of opt_vars, its JSON)

    # -- the checker's side ------------------------------------------------------------------

    def prefetch(self, items: Iterable[tuple[bytes, str, dict | None]]) -> list:
        """Read the stored reports of these (data, path, opt_vars) in a few queries; returns the paths of
        those it has none for (they will be analyzed)."""
        items = list(items)
        if self.fingerprint is None:
            return [path for _, path, _ in items]
        keys = [self._key(data, path, opt_vars) for data, path, opt_vars in items]
        self._asked.update(keys)
        db = self._open()
        if db is not None:
            self._fetch(db, keys)
        known = self._known
        return [item[1] for item, key in zip(items, keys, strict=True) if key not in known]

    def _fetch(self, db: sqlite3.Connection, keys: list) -> None:
        old = time.time() - TOUCH_SECONDS
        try:
            if len(keys) >= SCAN_FROM and self._scan(db, keys, old):
                return
            for start in range(0, len(keys), BATCH):
                chunk = keys[start : start + BATCH]
                marks = ",".join("?" * len(chunk))
                for key, body, used in db.execute(
                    f"SELECT key, body, used FROM entries WHERE key IN ({marks})", chunk
                ):
                    self._known[key] = body
                    if used < old:
                        self._stale.append(key)
        except sqlite3.DatabaseError as exc:
            self._failed(exc)

    def _scan(self, db: sqlite3.Connection, keys: list, old: float) -> bool:
        """Many keys from a store not much larger: one pass over it costs a quarter of looking each up."""
        ((stored,),) = db.execute("SELECT count(*) FROM entries").fetchall()
        if stored > SCAN_RATIO * len(keys):
            return False
        wanted = set(keys)
        known, stale = self._known, self._stale
        for key, body, used in db.execute("SELECT key, body, used FROM entries"):
            if key in wanted:
                known[key] = body
                if used < old:
                    stale.append(key)
        return True

    def report(
        self, data: bytes, path: str, opt_vars: dict | None, analyze: Callable[[], FileReport]
    ) -> FileReport:
        """The stored report of this file, or ``analyze()``'s, stored by the next ``flush``."""
        if self.fingerprint is None:
            return analyze()
        key = self._key(data, path, opt_vars)
        body = self._known.get(key)
        if body is None and key not in self._asked:
            self.prefetch([(data, path, opt_vars)])
            body = self._known.get(key)
        if body is not None:
            found = _decode(body, key, path)
            if found is not None:
                return found
        found = analyze()
        body = _encode(found, key)
        if len(body) <= self.max_bytes // LARGEST_SHARE:
            self._pending[key] = body
            self._known[key] = body
        return found

    def flush(self) -> None:
        """Write new reports and mark hits used, in one transaction; then keep within the bound."""
        if not self._pending and not self._stale:
            return
        db = self._open()
        if db is None:
            self._pending.clear()
            return
        now = time.time()
        try:
            with _writing(db):
                db.executemany(
                    "INSERT OR REPLACE INTO entries (key, body, used) VALUES (?, ?, ?)",
                    [(key, body, now) for key, body in self._pending.items()],
                )
                for start in range(0, len(self._stale), BATCH):
                    chunk = self._stale[start : start + BATCH]
                    db.execute(
                        f"UPDATE entries SET used = ? WHERE key IN ({','.join('?' * len(chunk))})",
                        [now, *chunk],
                    )
            self._pending.clear()
            self._stale.clear()
            if disk_usage(self.path) > self.max_bytes:
                self._prune(db)
        except sqlite3.DatabaseError as exc:
            self._failed(exc)

    # -- the store -----------------------------------------------------------------------------

    def _key(self, data: bytes, path: str, opt_vars: dict | None) -> str:
        opts = self._opts(opt_vars) if opt_vars else b"[]"
        known = self._keys.get(path)
        if known is not None and known[0] is data and known[1] == opts:
            return known[2]  # prefetch made it a moment ago
        if self._base is None:
            self._base = hashlib.sha256(self.fingerprint.encode())
        digest = self._base.copy()
        # the path's length and self-delimiting JSON keep path and opt_vars from running into the bytes
        name = path.encode("utf-8", "surrogateescape")
        digest.update(b"%d:%s%s" % (len(name), name, opts))
        digest.update(data)
        key = digest.hexdigest()
        self._keys[path] = (data, opts, key)
        return key

    def _opts(self, opt_vars: dict) -> bytes:
        """``opt_vars`` as key material (self-delimiting JSON), made once per content: every file of a
        check is keyed with the same dictionaries, and dumping them for each cost ~0.1 s of a 5 MB check."""
        for seen, made in self._opts_made:
            if seen == opt_vars:  # sets compare by content, so a changed dictionary is dumped again
                return made
        made = json.dumps(sorted((k, sorted(v)) for k, v in opt_vars.items())).encode()
        if len(self._opts_made) < 16:
            self._opts_made.append(({k: set(v) for k, v in opt_vars.items()}, made))
        return made

    def _open(self) -> sqlite3.Connection | None:
        if self._db is not None:
            return self._db
        try:
            self.directory.mkdir(
                mode=0o700, parents=True, exist_ok=True
            )  # holds fragments of the user's code
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            return self._failed(exc)
        except (sqlite3.Error, OSError):
            return None
        return self._db

    def _failed(self, exc: sqlite3.DatabaseError) -> sqlite3.Connection | None:
        """Busy or unwritable (another process, a read-only home): do without the cache this time.
        Anything else means the store is damaged: start it again."""
        if isinstance(exc, sqlite3.OperationalError):
            self._pending.clear()
            return None
        return self._rebuild()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None
        )  # transactions are explicit: _writing
        try:
            # both before the table exists (a new store): freed pages can be returned, and a typical
            # report (~1-3 KB) fits in its page; with 4 KB pages it spilled into a mostly empty overflow
            # page, and 5 MB of code took 17.5 MB of disk instead of 6 MB and 3x the time to write
            # (a bound under 64 large pages keeps small ones: the store's own pages would fill it)
            db.execute(f"PRAGMA page_size = {16384 if self.max_bytes >= 64 * 16384 else 4096}")
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            db.execute("PRAGMA synchronous = NORMAL")  # a cache: losing the last write to a power cut is fine
            db.execute(_SCHEMA)
            db.execute("SELECT count(*) FROM entries WHERE key = ''").fetchall()  # a damaged store fails here
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _rebuild(self) -> sqlite3.Connection | None:
        """A store that is not a SQLite database (damaged, or something else's file): start it again."""
        if self._db is not None:
            with suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        for suffix in ("", "-journal", "-wal", "-shm"):
            with suppress(OSError):
                os.unlink(f"{self.path}{suffix}")
        try:
            self._db = self._connect()
        except (sqlite3.Error, OSError):
            return None
        return self._db

    def _prune(self, db: sqlite3.Connection) -> None:
        """Drop least recently used entries until the store's disk blocks fit the bound."""
        for _ in range(8):
            ((count, stored),) = db.execute(
                "SELECT count(*), coalesce(sum(length(body)), 0) FROM entries"
            ).fetchall()
            if not count:
                break
            # keep about half the bound in bodies: pages, the index and the journal take the rest
            excess = stored - self.max_bytes // 2
            drop = max(1, count * max(excess, 0) // max(stored, 1)) if excess > 0 else max(1, count // 4)
            with _writing(db):
                db.execute(
                    "DELETE FROM entries WHERE key IN (SELECT key FROM entries ORDER BY used LIMIT ?)",
                    (drop,),
                )
            db.executescript("PRAGMA incremental_vacuum;")  # stepped to the end (execute frees one page)
            if disk_usage(self.path) <= self.max_bytes:
                break


@contextmanager
def _writing(db: sqlite3.Connection):
    """A write transaction that takes the write lock first: two writers never deadlock on upgrading a read lock."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


# An entry's body: the first KEY_CHECK characters of its key, the CRC-32 of the rest, then the report
# as marshal data (version pinned; the fingerprint holds the Python version, whose marshal reads it).
# marshal rebuilds a report's tuples and sets in C: a warm check decoded JSON for a quarter of its time.
# The CRC makes a damaged body a miss instead of whatever marshal would read from it.
_HEAD = KEY_CHECK + 4


def _encode(report: FileReport, key: str) -> bytes:
    data = report.marshaled()
    return key[:KEY_CHECK].encode() + zlib.crc32(data).to_bytes(4, "big") + data


def _decode(body: bytes, key: str, path: str) -> FileReport | None:
    try:
        data = body[_HEAD:]  # a copy of a few hundred bytes costs less than a memoryview
        if body[:KEY_CHECK] != key[:KEY_CHECK].encode() or zlib.crc32(data) != int.from_bytes(
            body[KEY_CHECK:_HEAD], "big"
        ):
            return None
        return FileReport.from_record(path, marshal.loads(data))
    except (ValueError, EOFError, KeyError, TypeError, AttributeError, IndexError):
        return None
