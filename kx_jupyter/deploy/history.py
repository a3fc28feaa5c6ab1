"""Every push, in a per-user SQLite database at ``<home>/history.sqlite``.

The history is what makes rollback exact (it holds the object version, init script,
arguments and strategy of each push) and what teaches the poller how long updates take.
A connection per call keeps it safe to use from the watching thread.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import KxError

IN_PROGRESS = "updating"
SUCCEEDED = "succeeded"
FAILED = "failed"
TIMED_OUT = "timed-out"
REFUSED = "refused"  # the service refused the update call: nothing reached the cluster
UNKNOWN = "unknown"  # the update call's answer was lost and the cluster could not be asked

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pushes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    finished_at REAL,
    user TEXT NOT NULL,
    host TEXT NOT NULL,
    backend TEXT NOT NULL,
    environment TEXT NOT NULL,
    cluster TEXT NOT NULL,
    bundle_sha256 TEXT,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    version TEXT,
    init_script TEXT,
    arguments TEXT NOT NULL,
    strategy TEXT NOT NULL,
    client_token TEXT NOT NULL,
    kind TEXT NOT NULL,
    rollback_of INTEGER,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    duration REAL,
    log_tail TEXT NOT NULL DEFAULT '',
    nodes INTEGER
);
CREATE INDEX IF NOT EXISTS pushes_cluster ON pushes (environment, cluster, id);
"""


def _columns(conn: sqlite3.Connection) -> set[str]:
    return {row[1] for row in conn.execute("PRAGMA table_info(pushes)")}


def _v1(conn: sqlite3.Connection) -> None:
    """The table as it is; files written before versioning may lack the ``nodes`` column."""
    for statement in _SCHEMA.split(";"):  # not executescript: it would commit the migration's transaction
        if statement.strip():
            conn.execute(statement)
    if "nodes" not in _columns(conn):
        conn.execute("ALTER TABLE pushes ADD COLUMN nodes INTEGER")


def _v2(conn: sqlite3.Connection) -> None:
    """Where a push came from and what it was: the user's note, the workspace's git commit (and
    whether the checkout had uncommitted changes), the release it belongs to, and its origin
    (``cli``, ``lab``, or ``notebook:<path>#<cell id>``) so a front end can link back to it."""
    have = _columns(conn)
    for column in (
        "note TEXT NOT NULL DEFAULT ''",
        "git_commit TEXT",
        "git_dirty INTEGER",
        "release_id TEXT",
        "origin TEXT NOT NULL DEFAULT ''",
    ):
        if column.split()[0] not in have:
            conn.execute(f"ALTER TABLE pushes ADD COLUMN {column}")
    conn.execute("CREATE INDEX IF NOT EXISTS pushes_release ON pushes (release_id)")


def _v3(conn: sqlite3.Connection) -> None:
    """The cluster's ``lastModifiedTimestamp`` as preflight saw it (by the cluster's clock): settling a
    push nobody saw end asks whether the cluster changed since, instead of comparing its stamps with
    this machine's clock (a freshly created cluster's are all recent)."""
    if "modified_before" not in _columns(conn):
        conn.execute("ALTER TABLE pushes ADD COLUMN modified_before REAL")


_MIGRATIONS = (_v1, _v2, _v3)  # step i takes user_version i to i + 1


@dataclass
class HistoryEntry:
    id: int
    started_at: float
    user: str
    host: str
    backend: str
    environment: str
    cluster: str
    bundle_sha256: str | None
    bucket: str
    key: str
    version: str | None
    init_script: str | None
    arguments: dict = field(default_factory=dict)
    strategy: str = "ROLLING"
    client_token: str = ""
    kind: str = "push"  # push | rollback
    rollback_of: int | None = None
    outcome: str = IN_PROGRESS  # updating | succeeded | failed | timed-out | refused | unknown
    reason: str = ""
    duration: float | None = None
    finished_at: float | None = None
    log_tail: str = ""
    nodes: int | None = None  # the cluster's node count when pushed: a ROLLING update's length scales with it
    note: str = ""  # the user's words for this push
    git_commit: str | None = None  # the workspace's commit, when it is a git checkout
    git_dirty: bool | None = None  # ...with uncommitted changes
    release_id: str | None = None  # the release this push is a target of
    origin: str = ""  # cli | lab | notebook:<path>#<cell id>
    modified_before: float | None = (
        None  # the cluster's lastModifiedTimestamp at preflight (epoch s, its clock)
    )

    def code(self) -> dict:
        code = {"s3Bucket": self.bucket, "s3Key": self.key}
        if self.version:
            code["s3ObjectVersion"] = self.version
        return code

    def to_dict(self) -> dict:
        return asdict(self)


class History:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._schema_ready = False  # created (and migrated) by this instance's first connection

    def _damaged(self, exc: Exception) -> KxError:
        return KxError(
            f"the deployment history {self.path} is damaged ({exc})",
            hint=f"move it aside (e.g. `mv {self.path} {self.path}.bad`): a new history starts, "
            "and rollback and update-time estimates begin again from the next push",
        )

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10)
            conn.row_factory = sqlite3.Row
            if not self._schema_ready:
                os.chmod(self.path, 0o600)
                self._migrate(conn)
                self._schema_ready = True
            return conn
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None
        except (OSError, sqlite3.Error) as exc:
            raise KxError(
                f"cannot open the deployment history {self.path}: {exc}",
                hint="Check that KxJupyter.home is writable.",
            ) from None

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring the file to this schema; one process or thread at a time (the others wait, then find it done)."""
        if conn.execute("PRAGMA user_version").fetchone()[0] == len(_MIGRATIONS):
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(_MIGRATIONS):
                raise KxError(
                    f"the deployment history {self.path} was written by a newer kx-jupyter (schema {version})",
                    hint="upgrade kx-jupyter to read it",
                )
            for step in _MIGRATIONS[version:]:
                step(conn)
            conn.execute(f"PRAGMA user_version={len(_MIGRATIONS)}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _session(self, write: bool = False):
        """A connection for one call (committed if ``write``); a damaged file becomes one clear error."""
        with closing(self._connect()) as conn:
            try:
                if write:
                    with conn:
                        yield conn
                else:
                    yield conn
            except sqlite3.DatabaseError as exc:
                raise self._damaged(exc) from None

    def start(
        self,
        *,
        backend,
        environment,
        cluster,
        bundle_sha256,
        bucket,
        key,
        version,
        init_script,
        arguments,
        strategy,
        client_token,
        kind="push",
        rollback_of=None,
        nodes=None,
        note="",
        git_commit=None,
        git_dirty=None,
        release_id=None,
        origin="",
        modified_before=None,
    ) -> HistoryEntry:
        entry = HistoryEntry(
            0,
            time.time(),
            _user(),
            socket.gethostname(),
            backend,
            environment,
            cluster,
            bundle_sha256,
            bucket,
            key,
            version,
            init_script,
            dict(arguments or {}),
            strategy,
            client_token,
            kind,
            rollback_of,
            nodes=nodes,
            note=note,
            git_commit=git_commit,
            git_dirty=git_dirty,
            release_id=release_id,
            origin=origin,
            modified_before=modified_before,
        )
        row = entry.to_dict()
        del row["id"]
        row["arguments"] = json.dumps(row["arguments"])
        names = ", ".join(row)
        with self._session(write=True) as conn:
            cur = conn.execute(
                f"INSERT INTO pushes ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values())
            )
            entry.id = cur.lastrowid
        return entry

    def finish(
        self,
        entry_id: int,
        outcome: str,
        reason: str = "",
        log_tail: str = "",
        finished_at: float | None = None,
    ) -> None:
        """``finished_at``: when the update ended by the cluster's clock, if known; else now."""
        now = time.time()
        end = min(finished_at or now, now)
        with self._session(write=True) as conn:
            conn.execute(
                "UPDATE pushes SET outcome=?, reason=?, log_tail=?, "
                "finished_at=CASE WHEN ? > started_at THEN ? ELSE ? END, "
                "duration=CASE WHEN ? > started_at THEN ? ELSE ? END - started_at WHERE id=?",
                (outcome, reason, log_tail, end, end, now, end, end, now, entry_id),
            )

    def get(self, entry_id: int) -> HistoryEntry | None:
        with self._session() as conn:
            row = conn.execute("SELECT * FROM pushes WHERE id=?", (entry_id,)).fetchone()
        return _entry(row) if row else None

    def entries(self, cluster=None, environment=None, limit=50, outcome=None) -> list[HistoryEntry]:
        """Newest first."""
        where, params = [], []
        for column, value in (("cluster", cluster), ("environment", environment), ("outcome", outcome)):
            if value:
                where.append(f"{column}=?")
                params.append(value)
        sql = (
            "SELECT * FROM pushes"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY id DESC LIMIT ?"
        )
        with self._session() as conn:
            return [_entry(row) for row in conn.execute(sql, params + [int(limit)])]

    def durations(self, cluster: str, environment: str, strategy: str, limit: int = 10) -> list[float]:
        """How long this cluster's recent successful updates with ``strategy`` took, newest first."""
        sql = (
            "SELECT duration FROM pushes WHERE cluster=? AND environment=? AND strategy=? AND outcome=? "
            "AND duration > 0 ORDER BY id DESC LIMIT ?"
        )
        with self._session() as conn:
            return [
                row[0] for row in conn.execute(sql, (cluster, environment, strategy, SUCCEEDED, int(limit)))
            ]

    def peer_durations(
        self, cluster: str, environment: str, backend: str, strategy: str, limit: int = 20
    ) -> list[tuple[float, int | None]]:
        """(duration, node count) of recent successful ``strategy`` updates of the environment's other
        clusters: what a first push to ``cluster`` can expect before it has a history of its own."""
        sql = (
            "SELECT duration, nodes FROM pushes WHERE cluster<>? AND environment=? AND backend=? AND strategy=? "
            "AND outcome=? AND duration > 0 ORDER BY id DESC LIMIT ?"
        )
        with self._session() as conn:
            return [
                (row[0], row[1])
                for row in conn.execute(sql, (cluster, environment, backend, strategy, SUCCEEDED, int(limit)))
            ]


def _entry(row: sqlite3.Row) -> HistoryEntry:
    data = dict(row)
    data["arguments"] = json.loads(data["arguments"] or "{}")
    if data.get("git_dirty") is not None:
        data["git_dirty"] = bool(data["git_dirty"])
    return HistoryEntry(**data)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"
