"""The embedded default store: one SQLite file in WAL mode, safe across threads and processes."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs

from .engine import RunState
from .store import CompletedRun, UserRecord, VersionConflict

log = logging.getLogger(__name__)

DB_ENV = "SCIATICA_DB"
BUSY_TIMEOUT_MS = 10_000

# Each entry moves the schema one version on; PRAGMA user_version records how far a file is.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        user_id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        safety_heard_at REAL
    );
    CREATE TABLE runs (
        user_id TEXT PRIMARY KEY REFERENCES users(user_id) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        state TEXT NOT NULL
    );
    CREATE TABLE history (
        run_id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
        routine_id TEXT NOT NULL,
        started_at REAL NOT NULL,
        completed_at REAL NOT NULL
    );
    CREATE INDEX history_by_user ON history(user_id, completed_at);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def default_db_path() -> Path:
    """$SCIATICA_DB if set, else a file in the user's data directory."""
    configured = os.environ.get(DB_ENV)
    if configured:
        return Path(configured)
    return Path(platformdirs.user_data_dir("sciatica-coach", appauthor=False)) / "coach.sqlite3"


class SchemaTooNew(RuntimeError):
    """The file was written by a newer release; refuse rather than corrupt it."""


class SQLiteStore:
    """Store on a SQLite file; one connection per thread, writes in IMMEDIATE transactions."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    # -- connections --------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front, so CAS reads see the latest row."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as conn:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{self.path} has schema {current}; this release knows {SCHEMA_VERSION}"
                )
            for version in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                log.info("migrated %s to schema %d", self.path, version + 1)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def schema_version(self) -> int:
        return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- users --------------------------------------------------------------------------

    def ensure_user(self, user_id: str, now: float) -> UserRecord:
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO users (user_id, created_at) VALUES (?, ?)", (user_id, now)
            )
        user = self.get_user(user_id)
        assert user is not None
        return user

    def get_user(self, user_id: str) -> UserRecord | None:
        row = (
            self._connection()
            .execute(
                "SELECT user_id, created_at, safety_heard_at FROM users WHERE user_id = ?",
                (user_id,),
            )
            .fetchone()
        )
        return UserRecord(*row) if row else None

    def mark_safety_heard(self, user_id: str, now: float) -> None:
        with self._write() as conn:
            conn.execute("UPDATE users SET safety_heard_at = ? WHERE user_id = ?", (now, user_id))

    def delete_user(self, user_id: str) -> None:
        with self._write() as conn:
            for table in ("history", "runs", "users"):
                conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))

    # -- runs ---------------------------------------------------------------------------

    def load_run(self, user_id: str) -> RunState | None:
        row = (
            self._connection()
            .execute("SELECT state FROM runs WHERE user_id = ?", (user_id,))
            .fetchone()
        )
        return RunState.from_dict(json.loads(row[0])) if row else None

    def save_run(self, user_id: str, state: RunState, expected_version: int | None) -> None:
        payload = json.dumps(state.to_dict(), separators=(",", ":"))
        with self._write() as conn:
            row = conn.execute("SELECT version FROM runs WHERE user_id = ?", (user_id,)).fetchone()
            found = row[0] if row else None
            if found != expected_version:
                raise VersionConflict(user_id, expected_version, found)
            conn.execute(
                "INSERT OR IGNORE INTO users (user_id, created_at) VALUES (?, ?)",
                (user_id, state.started_at or 0.0),
            )
            conn.execute(
                "INSERT INTO runs (user_id, version, state) VALUES (?, ?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET version = excluded.version, "
                "state = excluded.state",
                (user_id, state.version, payload),
            )

    # -- history ------------------------------------------------------------------------

    def record_completion(self, user_id: str, run: CompletedRun) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO history "
                "(run_id, user_id, routine_id, started_at, completed_at) VALUES (?, ?, ?, ?, ?)",
                (run.run_id, user_id, run.routine_id, run.started_at, run.completed_at),
            )

    def history(self, user_id: str, limit: int = 20) -> list[CompletedRun]:
        rows = (
            self._connection()
            .execute(
                "SELECT run_id, routine_id, started_at, completed_at FROM history "
                "WHERE user_id = ? ORDER BY completed_at DESC LIMIT ?",
                (user_id, limit),
            )
            .fetchall()
        )
        return [CompletedRun(*row) for row in rows]
