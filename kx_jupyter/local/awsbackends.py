"""moto's S3 and CloudWatch Logs, made durable: the plane's S3 and node logs survive restarts.

moto keeps everything in memory, so after every mutating S3 request the versions of the keys it
touched are recorded in SQLite (bodies as content-addressed blob files, each hashed once) and put
back into moto on start with their original version ids. Once recorded, a version's body is read
from its blob file on demand (``BlobBody``), so neither many versions nor large ones stay in
memory. Node log lines are written to SQLite first and replayed into moto's Logs backend on start.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

from ..files import NewFile, remove_unpublished

S3_MUTATING = {"PUT", "POST", "DELETE"}
CHUNK = 1 << 20
BLOB_PREFIX = "incoming-"  # a blob being written, before it is named by its SHA-256


class BlobBody:
    """Stands in for a moto object's in-memory body buffer: the same file calls, read from a blob file."""

    def __init__(self, path: Path, digest: str):
        self.path = Path(path)
        self.digest = digest
        self._pos = 0

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = (
            pos if whence == 0 else (self._pos + pos if whence == 1 else self.path.stat().st_size + pos)
        )
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(self._pos)
            data = f.read() if size is None or size < 0 else f.read(size)
        self._pos += len(data)
        return data

    def truncate(self, size: int | None = None) -> None:
        raise OSError("a recorded S3 object version is immutable")

    def write(self, data: bytes) -> None:
        raise OSError("a recorded S3 object version is immutable")

    def close(self) -> None:
        pass


def _linear_key_store():
    """moto's per-bucket key store with ``setlist`` made linear: moto checks each old version with
    ``in`` against the new list (quadratic in a key's versions: 25 ms per put at 1,000 versions)."""
    from moto.s3.utils import _VersionedKeyStore

    class LinearKeyStore(_VersionedKeyStore):
        def setlist(self, key, list_):
            list_ = list(list_) if isinstance(list_, (list, tuple)) else [list_]
            kept = {id(v) for v in list_}
            for existing in self.getlist(key, []):
                if id(existing) not in kept and hasattr(existing, "dispose"):
                    existing.dispose()
            dict.__setitem__(self, key, list_)

    return LinearKeyStore


def _is_object(version) -> bool:
    """A stored object version, not a delete marker (without reading its body)."""
    return version is not None and hasattr(version, "_value_buffer")


class AwsBackends:
    """The moto WSGI apps for S3 and Logs plus direct, locked access to their backends."""

    def __init__(self, store, blob_dir: Path, region: str):
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.logs.models import logs_backends
        from moto.moto_server.werkzeug_app import create_backend_app
        from moto.s3.models import s3_backends

        self.store = store
        self.blob_dir = Path(blob_dir)
        self.blob_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        remove_unpublished(self.blob_dir, BLOB_PREFIX)  # blobs a killed plane was writing
        self.region = region
        self.lock = threading.RLock()  # moto's backends are not written for concurrent mutation
        self.s3_app = create_backend_app("s3")
        self.logs_app = create_backend_app("logs")
        self.s3 = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        self._key_store = _linear_key_store()
        self.logs = logs_backends[DEFAULT_ACCOUNT_ID][region]

    # WSGI ------------------------------------------------------------------------------
    def call_s3(self, environ, start_response, staged=None):
        """moto's S3 for one request. ``staged``: a large PutObject body already on disk (see
        ``bodies.StagedBody``); moto then stores an empty body and the blob file is attached after."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=list(headers))
            return lambda data: None

        path = (
            environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
        )  # WSGI's str is latin-1
        bucket, _, key = path.lstrip("/").partition("/")
        with self.lock:
            body = b"".join(self.s3_app(environ, capture))
            code = int(captured.get("status", "500").split()[0])
            if environ["REQUEST_METHOD"] in S3_MUTATING and code < 300 and bucket:
                if staged is not None and key:
                    self._attach(bucket, key, staged, captured)
                if key:
                    self.record_key(bucket, key)
                    self._record_bucket_row(bucket)
                else:  # bucket-level requests (versioning, DeleteObjects, DeleteBucket, ...)
                    self.record_bucket(bucket)
        start_response(captured.get("status", "500 Internal Server Error"), captured.get("headers", []))
        return [body]

    def _attach(self, bucket: str, key: str, staged, captured: dict) -> None:
        """Give the version moto just stored (with an empty body) the staged body's blob file."""
        version = self.s3.buckets[bucket].keys.getlist(key)[-1]
        version._value_buffer = BlobBody(self._adopt_blob(staged), staged.sha256)
        version.contentsize = staged.size
        version._etag = staged.md5
        captured["headers"] = [
            (k, f'"{staged.md5}"' if k.lower() == "etag" else v) for k, v in captured["headers"]
        ]

    def call_logs(self, environ, start_response):
        with self.lock:
            return [b"".join(self.logs_app(environ, start_response))]

    # S3 persistence --------------------------------------------------------------------
    def _record_bucket_row(self, name: str) -> None:
        bucket = self.s3.buckets.get(name)
        with self.store.tx() as db:
            if bucket is None:
                db.execute("DELETE FROM s3_buckets WHERE name=?", (name,))
                db.execute("DELETE FROM s3_versions WHERE bucket=?", (name,))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO s3_buckets VALUES (?, ?)", (name, int(bool(bucket.is_versioned)))
                )
        if bucket is not None and type(bucket.keys) is not self._key_store:
            bucket.keys.__class__ = self._key_store

    def record_bucket(self, name: str) -> None:
        """Record a bucket and every key in it (for requests that may touch many keys)."""
        self._record_bucket_row(name)
        bucket = self.s3.buckets.get(name)
        keys = set(bucket.keys.keys()) if bucket is not None else set()
        keys |= {
            row["key"]
            for row in self.store.read("SELECT DISTINCT key FROM s3_versions WHERE bucket=?", (name,))
        }
        for key in keys:
            self.record_key(name, key)

    def record_key(self, bucket_name: str, key: str) -> None:
        """Record one key's versions: only versions new since the last record are looked at, hashed and
        inserted (a key with many versions costs what a new one does)."""
        bucket = self.s3.buckets.get(bucket_name)
        versions = bucket.keys.getlist(key, []) if bucket is not None else []
        where = (bucket_name, key)
        with self.store.tx() as db:
            count, first, last = db.execute(
                "SELECT COUNT(*), MIN(seq), MAX(seq) FROM s3_versions WHERE bucket=? AND key=?", where
            ).fetchone()
            ends = (
                [
                    tuple(
                        db.execute(
                            "SELECT version_id, sha256 FROM s3_versions WHERE bucket=? AND key=? AND seq=?",
                            (*where, seq),
                        ).fetchone()
                    )
                    for seq in (first, last)
                ]
                if count
                else []
            )
            # each request is recorded as it happens, so unchanged ends mean the only change is new versions
            if count and (
                count > len(versions) or ends != [self._entry(versions[0]), self._entry(versions[count - 1])]
            ):
                db.execute("DELETE FROM s3_versions WHERE bucket=? AND key=?", where)
                count, last = 0, -1
            start = 0 if last is None else last + 1
            db.executemany(
                "INSERT INTO s3_versions VALUES (?, ?, ?, ?, ?)",
                [(*where, start + i, *self._entry(v)) for i, v in enumerate(versions[count:])],
            )

    def _entry(self, version) -> tuple[str, str | None]:
        """(version id, blob digest) of a version; a delete marker has no blob."""
        return str(version.version_id), self._blob_of(version) if _is_object(version) else None

    def _blob_of(self, version) -> str:
        """The blob digest of an object version; its body is written out (once) and read from disk after."""
        buffer = version._value_buffer
        if isinstance(buffer, BlobBody):
            return buffer.digest
        with version.lock:
            buffer.seek(0)
            digest = hashlib.sha256()
            with NewFile(self.blob_dir, mode=0o600, prefix=BLOB_PREFIX) as out:
                while block := buffer.read(CHUNK):
                    digest.update(block)
                    out.write(block)
                path = self.blob_dir / digest.hexdigest()
                out.publish(path, overwrite=False)  # content-addressed: one there already is the same
            buffer.close()
            version._value_buffer = BlobBody(path, digest.hexdigest())
        return digest.hexdigest()

    def _adopt_blob(self, staged) -> Path:
        path = self.blob_dir / staged.sha256
        staged.move_to(path)
        return path

    def restore(self) -> None:
        """Put every recorded bucket, object version and node log line back into moto."""
        with self.lock:
            for row in self.store.read("SELECT name, versioned FROM s3_buckets"):
                self._restore_bucket(row["name"], bool(row["versioned"]))
            self._restore_logs()

    def _restore_bucket(self, name: str, versioned: bool) -> None:
        self.s3.create_bucket(name, "us-east-1")
        self.s3.buckets[name].keys.__class__ = self._key_store
        if versioned:
            self.s3.put_bucket_versioning(name, "Enabled")
        rows = self.store.read(
            "SELECT key, version_id, sha256 FROM s3_versions WHERE bucket=? ORDER BY key, seq", (name,)
        )
        for row in rows:
            if row["sha256"] is None:
                self.s3.delete_object(name, row["key"])
                restored = self.s3.buckets[name].keys.getlist(row["key"])[-1]
            else:
                path = self.blob_dir / row["sha256"]
                restored = self.s3.put_object(name, row["key"], b"")
                restored._value_buffer = BlobBody(path, row["sha256"])
                restored.contentsize = path.stat().st_size
            restored._version_id = row["version_id"]  # moto has no public way to keep a version id

    # direct access for the control plane -------------------------------------------------
    def ensure_bucket(self, name: str, versioned: bool = True) -> None:
        with self.lock:
            if name not in self.s3.buckets:
                self.s3.create_bucket(name, "us-east-1")
                if versioned:
                    self.s3.put_bucket_versioning(name, "Enabled")
            self.record_bucket(name)

    def put_object(self, bucket: str, key: str, data: bytes) -> str:
        with self.lock:
            version = self.s3.put_object(bucket, key, data).version_id
            self.record_key(bucket, key)
            return version

    def object_problem(self, bucket: str, key: str, version: str | None) -> str | None:
        """Why the code object cannot be read (naming the field), or ``None`` when it exists."""
        with self.lock:
            found = self.s3.buckets.get(bucket)
            if found is None:
                return f"code.s3Bucket: bucket {bucket} does not exist"
            if version is None:
                if not _is_object(found.keys.get(key)):  # absent, or its latest version is a delete marker
                    return f"code.s3Key: object {key} does not exist in bucket {bucket}"
                return None
            for candidate in found.keys.getlist(key, []):
                if str(candidate.version_id) == version and _is_object(candidate):
                    return None
            if not found.keys.getlist(key, []):
                return f"code.s3Key: object {key} does not exist in bucket {bucket}"
            return f"code.s3ObjectVersion: version {version} of {key} does not exist in bucket {bucket}"

    def latest_version(self, bucket: str, key: str) -> str:
        with self.lock:
            return str(self.s3.buckets[bucket].keys[key].version_id)

    def object_path(self, bucket: str, key: str, version: str | None) -> Path:
        """The blob file holding an object version's body (read it from disk, never whole into memory)."""
        with self.lock:
            found = self.s3.buckets.get(bucket)
            versions = found.keys.getlist(key, []) if found is not None else []
            chosen = [v for v in versions if version is None or str(v.version_id) == version][-1:]
            if not chosen or not _is_object(chosen[0]):
                raise KeyError(f"s3://{bucket}/{key}")
            return self.blob_dir / self._blob_of(chosen[0])

    # node logs ---------------------------------------------------------------------------
    def append_log(self, group: str, stream: str, lines: list[str]) -> None:
        if not lines:
            return
        now = int(time.time() * 1000)
        with self.store.tx() as db:
            db.executemany(
                "INSERT INTO node_logs(log_group, stream, ts, message) VALUES (?, ?, ?, ?)",
                [(group, stream, now, line) for line in lines],
            )
        with self.lock:
            self._put_events(group, stream, [{"timestamp": now, "message": line} for line in lines])

    def _put_events(self, group: str, stream: str, events: list[dict]) -> None:
        if group not in self.logs.groups:
            self.logs.create_log_group(group, {})
        self.logs.ensure_log_stream(group, stream)
        self.logs.put_log_events(group, stream, events)

    def _restore_logs(self) -> None:
        rows = self.store.read(
            "SELECT log_group, stream, ts, message FROM node_logs ORDER BY log_group, stream, id"
        )
        batch: dict[tuple[str, str], list[dict]] = {}
        for row in rows:
            batch.setdefault((row["log_group"], row["stream"]), []).append(
                {"timestamp": row["ts"], "message": row["message"]}
            )
        for (group, stream), events in batch.items():
            self._put_events(group, stream, events)
