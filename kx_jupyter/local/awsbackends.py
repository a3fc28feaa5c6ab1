"""moto's S3 and CloudWatch Logs, made durable: the plane's S3 and node logs survive restarts.

moto keeps everything in memory, so after every mutating S3 request the affected bucket's
keys and versions are recorded in SQLite (bodies as content-addressed blob files) and put
back into moto on start with their original version ids. Node log lines are written to
SQLite first and replayed into moto's Logs backend on start.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from urllib.parse import unquote

S3_MUTATING = {"PUT", "POST", "DELETE"}


class AwsBackends:
    """The moto WSGI apps for S3 and Logs plus direct, locked access to their backends."""

    def __init__(self, store, blob_dir: Path, region: str):
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.logs.models import logs_backends
        from moto.moto_server.werkzeug_app import create_backend_app
        from moto.s3.models import s3_backends

        self.store = store
        self.blob_dir = Path(blob_dir)
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.region = region
        self.lock = threading.RLock()  # moto's backends are not written for concurrent mutation
        self.s3_app = create_backend_app("s3")
        self.logs_app = create_backend_app("logs")
        self.s3 = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        self.logs = logs_backends[DEFAULT_ACCOUNT_ID][region]

    # WSGI ------------------------------------------------------------------------------
    def call_s3(self, environ, start_response):
        status_holder = {}

        def capture(status, headers, exc_info=None):
            status_holder["code"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        with self.lock:
            body = b"".join(self.s3_app(environ, capture))
            if environ["REQUEST_METHOD"] in S3_MUTATING and status_holder.get("code", 500) < 300:
                bucket = unquote(environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0])
                if bucket:
                    self.record_bucket(bucket)
        return [body]

    def call_logs(self, environ, start_response):
        with self.lock:
            return [b"".join(self.logs_app(environ, start_response))]

    # S3 persistence --------------------------------------------------------------------
    def record_bucket(self, name: str) -> None:
        """Write one bucket's current keys and versions to the store (replacing what was there)."""
        bucket = self.s3.buckets.get(name)
        with self.store.tx() as db:
            db.execute("DELETE FROM s3_versions WHERE bucket=?", (name,))
            if bucket is None:
                db.execute("DELETE FROM s3_buckets WHERE name=?", (name,))
                return
            db.execute("INSERT OR REPLACE INTO s3_buckets VALUES (?, ?)", (name, int(bool(bucket.is_versioned))))
            for key_name, versions in bucket.keys.iterlists():
                for seq, version in enumerate(versions):
                    digest = None
                    if hasattr(version, "value"):  # a delete marker has no body
                        digest = self._put_blob(version.value)
                    db.execute(
                        "INSERT INTO s3_versions VALUES (?, ?, ?, ?, ?)",
                        (name, key_name, seq, str(version.version_id), digest),
                    )

    def _put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.blob_dir / digest
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return digest

    def restore(self) -> None:
        """Put every recorded bucket, object version and node log line back into moto."""
        with self.lock:
            for row in self.store.read("SELECT name, versioned FROM s3_buckets"):
                self._restore_bucket(row["name"], bool(row["versioned"]))
            self._restore_logs()

    def _restore_bucket(self, name: str, versioned: bool) -> None:
        self.s3.create_bucket(name, "us-east-1")
        if versioned:
            self.s3.put_bucket_versioning(name, "Enabled")
        rows = self.store.read("SELECT key, version_id, sha256 FROM s3_versions WHERE bucket=? ORDER BY key, seq", (name,))
        for row in rows:
            if row["sha256"] is None:
                self.s3.delete_object(name, row["key"])
                restored = self.s3.buckets[name].keys.getlist(row["key"])[-1]
            else:
                restored = self.s3.put_object(name, row["key"], (self.blob_dir / row["sha256"]).read_bytes())
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
            self.record_bucket(bucket)
            return version

    def object_problem(self, bucket: str, key: str, version: str | None) -> str | None:
        """Why the code object cannot be read (naming the field), or ``None`` when it exists."""
        with self.lock:
            found = self.s3.buckets.get(bucket)
            if found is None:
                return f"code.s3Bucket: bucket {bucket} does not exist"
            if version is None:
                if not hasattr(found.keys.get(key), "value"):  # absent, or its latest version is a delete marker
                    return f"code.s3Key: object {key} does not exist in bucket {bucket}"
                return None
            for candidate in found.keys.getlist(key, []):
                if str(candidate.version_id) == version and hasattr(candidate, "value"):
                    return None
            if not found.keys.getlist(key, []):
                return f"code.s3Key: object {key} does not exist in bucket {bucket}"
            return f"code.s3ObjectVersion: version {version} of {key} does not exist in bucket {bucket}"

    def latest_version(self, bucket: str, key: str) -> str:
        with self.lock:
            return str(self.s3.buckets[bucket].keys[key].version_id)

    def read_object(self, bucket: str, key: str, version: str | None) -> bytes:
        with self.lock:
            obj = self.s3.get_object(bucket, key, version_id=version)
            if obj is None or not hasattr(obj, "value"):
                raise KeyError(f"s3://{bucket}/{key}")
            return obj.value

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
        rows = self.store.read("SELECT log_group, stream, ts, message FROM node_logs ORDER BY log_group, stream, id")
        batch: dict[tuple[str, str], list[dict]] = {}
        for row in rows:
            batch.setdefault((row["log_group"], row["stream"]), []).append({"timestamp": row["ts"], "message": row["message"]})
        for (group, stream), events in batch.items():
            self._put_events(group, stream, events)
