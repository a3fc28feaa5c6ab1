"""The plane's durable state in one SQLite file (WAL), so stop, start and kill -9 lose nothing.

Every FinSpace request and every reconciler step is one short transaction; readers never
block the reconciler. Rows hold plain JSON so the wire layer can answer from them directly.
The schema's version is the database's ``PRAGMA user_version``: a later change of columns adds
a step to ``MIGRATIONS`` and existing state is carried forward on the next start.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

DB_FILE = "state.db"
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS environments (
    id TEXT PRIMARY KEY, body TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS clusters (
    env_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, status_reason TEXT,
    config TEXT NOT NULL, spec TEXT NOT NULL, created REAL NOT NULL, modified REAL NOT NULL,
    PRIMARY KEY (env_id, name));
CREATE TABLE IF NOT EXISTS nodes (
    node_id TEXT PRIMARY KEY, env_id TEXT NOT NULL, cluster TEXT NOT NULL, position INTEGER NOT NULL,
    status TEXT NOT NULL, launch_time REAL, az TEXT NOT NULL, port INTEGER, pid INTEGER);
CREATE TABLE IF NOT EXISTS operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, env_id TEXT NOT NULL, cluster TEXT NOT NULL,
    kind TEXT NOT NULL, state TEXT NOT NULL, plan TEXT NOT NULL, phase INTEGER NOT NULL DEFAULT 0,
    phase_started REAL, target TEXT, previous TEXT, reason TEXT, client_token TEXT, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    operation TEXT NOT NULL, token TEXT NOT NULL, fingerprint TEXT NOT NULL,
    response TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (operation, token));
CREATE TABLE IF NOT EXISTS applied_updates (client_token TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS node_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, log_group TEXT NOT NULL, stream TEXT NOT NULL,
    ts INTEGER NOT NULL, message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS s3_buckets (name TEXT PRIMARY KEY, versioned INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS s3_versions (
    bucket TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, version_id TEXT NOT NULL,
    sha256 TEXT, PRIMARY KEY (bucket, key, seq));
"""

MIGRATIONS = (
    SCHEMA_V1,
)  # step i takes user_version i to i + 1 (CREATE IF NOT EXISTS: unversioned stores are v0)
TOKEN_TTL_SECONDS = 600.0  # FinSpace client tokens expire after 10 minutes


class Store:
    """Thread-safe access to the state database: one connection per thread, WAL journal."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        with self._write_lock:
            self._migrate(self.conn())
        os.chmod(self.path, 0o600)

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            from ..errors import KxError

            raise KxError(
                f"the local plane's state was written by a newer kx-jupyter (schema {version})",
                hint="upgrade kx-jupyter, or start over with `kx-jupyter local reset --yes`",
            )
        for target, step in enumerate(MIGRATIONS[version:], start=version + 1):
            conn.executescript(f"BEGIN IMMEDIATE;\n{step}\nPRAGMA user_version={target};\nCOMMIT;")

    def conn(self) -> sqlite3.Connection:
        """This thread's connection; use it directly for reads (WAL readers never wait for writers)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self):
        """One write transaction; writers are serialised in-process so they never hit SQLITE_BUSY."""
        with self._write_lock:
            conn = self.conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def read(self, sql: str, args=()) -> list[sqlite3.Row]:
        return self.conn().execute(sql, args).fetchall()

    def one(self, sql: str, args=()):
        rows = self.read(sql, args)
        return rows[0] if rows else None

    # meta ------------------------------------------------------------------------------
    def get_meta(self, key: str, default=None):
        row = self.one("SELECT value FROM meta WHERE key=?", (key,))
        return json.loads(row["value"]) if row else default

    def set_meta(self, db, key: str, value) -> None:
        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    # idempotency -----------------------------------------------------------------------
    def find_token(self, db, operation: str, token: str):
        """A client token's earlier request (account-wide per operation, as AWS scopes them)."""
        db.execute("DELETE FROM tokens WHERE created < ?", (time.time() - TOKEN_TTL_SECONDS,))
        return db.execute(
            "SELECT fingerprint, response FROM tokens WHERE operation=? AND token=?", (operation, token)
        ).fetchone()

    def remember_token(self, db, operation: str, token: str, fingerprint: str, response: dict) -> None:
        db.execute(
            "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?, ?, ?)",
            (operation, token, fingerprint, json.dumps(response), time.time()),
        )

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
