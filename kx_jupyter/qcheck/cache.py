"""An on-disk cache of each file's check, so a new process (a CI job's push) skips unchanged files.

Lexing and walking a file is nearly all of a check's cost, and its result depends only on the
file's bytes, its path, the .Q.opt dictionaries other files define and the checker's own code:
an entry's key is a SHA-256 of all four, so a changed file, rule or checker simply misses.

Entries live in ``<dir>/<2 hex>/<62 hex>``, 256 shards as in git's object store. Each is written
to a temporary file and renamed (no reader sees half an entry; concurrent writers of a key write
the same bytes), begins with the SHA-256 of its body (a damaged entry is a miss, never a wrong
report), and is touched when read. Each shard keeps its most recently used entries within
1/256 of the bound, so the bound holds without scanning the whole cache on a write.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from contextlib import suppress
from functools import lru_cache
from pathlib import Path
from typing import Callable

from .source import FileReport

FORMAT = 1  # of an entry's body; part of the fingerprint
SHARDS = 256
TMP_PREFIX = ".tmp-"
ABANDONED_TMP_SECONDS = 600.0  # a writer that died between create and rename left this behind


@lru_cache(maxsize=1)
def checker_fingerprint() -> str:
    """The checker's own code (rules included) and the Python running its regexes: change either and every entry misses."""
    digest = hashlib.sha256(f"format {FORMAT}, python {sys.version_info[0]}.{sys.version_info[1]}".encode())
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.name.encode() + b"\0" + module.read_bytes())
    return digest.hexdigest()


class ReportCache:
    """Per-file reports under ``directory``, at most ``max_bytes`` in all."""

    def __init__(self, directory: Path, max_bytes: int):
        self.directory = Path(directory)
        self.shard_bytes = max_bytes // SHARDS
        try:
            self.fingerprint: str | None = checker_fingerprint()
        except OSError:  # the checker's sources are not readable (a zipped install): nothing to key on
            self.fingerprint = None

    def report(self, data: bytes, path: str, opt_vars: dict | None, analyze: Callable[[], FileReport]) -> FileReport:
        """The stored report of this file, or ``analyze()``'s, stored for next time."""
        if self.fingerprint is None:
            return analyze()
        key = self._key(data, path, opt_vars)
        entry = self.directory / key[:2] / key[2:]
        found = self._read(entry, key)
        if found is None:
            found = analyze()
            self._write(entry, key, found)
        return found

    def _key(self, data: bytes, path: str, opt_vars: dict | None) -> str:
        digest = hashlib.sha256(self.fingerprint.encode())
        # JSON is self-delimiting, so path and opt_vars cannot run into the file's bytes
        digest.update(json.dumps([path, sorted((k, sorted(v)) for k, v in (opt_vars or {}).items())]).encode())
        digest.update(data)
        return digest.hexdigest()

    @staticmethod
    def _read(entry: Path, key: str) -> FileReport | None:
        try:
            raw = entry.read_bytes()
        except OSError:
            return None
        checksum, _, body = raw.partition(b"\n")
        if hashlib.sha256(body).hexdigest().encode() != checksum:
            return None
        try:
            stored = json.loads(body)
            if stored["key"] != key:
                return None
            report = FileReport.from_json(stored["report"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        with suppress(OSError):
            os.utime(entry)  # recently used: pruned last
        return report

    def _write(self, entry: Path, key: str, report: FileReport) -> None:
        body = json.dumps({"key": key, "report": report.to_json()}, separators=(",", ":")).encode()
        content = hashlib.sha256(body).hexdigest().encode() + b"\n" + body
        if len(content) > self.shard_bytes:
            return
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # holds fragments of the user's code
            entry.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=TMP_PREFIX)
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
            os.replace(tmp, entry)
        except OSError:
            with suppress(OSError):
                os.unlink(tmp)
            return
        self._prune(entry.parent)

    def _prune(self, shard: Path) -> None:
        """Drop the shard's least recently used entries until it fits its share, and abandoned temporary files."""
        entries, now = [], time.time()
        try:
            with os.scandir(shard) as found:
                for item in found:
                    with suppress(OSError):  # another process may remove it meanwhile
                        info = item.stat()
                        if not item.name.startswith(TMP_PREFIX):
                            entries.append((info.st_mtime, info.st_size, item.path))
                        elif now - info.st_mtime > ABANDONED_TMP_SECONDS:
                            os.unlink(item.path)
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.shard_bytes:
                break
            with suppress(OSError):
                os.unlink(path)
            total -= size
