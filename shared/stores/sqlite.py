"""The embedded default store: one SQLite file in WAL mode, safe across threads and processes."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..routine.engine import RunState
from .base import (
    CompletedRun,
    CounterCharge,
    DeviceRecord,
    PairingRecord,
    Stamps,
    UserRecord,
    UserVoice,
    VersionConflict,
    counter_scopes,
    decode_run,
    new_epoch,
)

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
#: Idle connections kept for reuse; more may be open at once under load, then closed.
POOL_SIZE = 8

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
    # 2: pairing watches (RFC 8628 style). Secrets are stored only as SHA-256 hashes.
    """
    CREATE TABLE pairings (
        device_code_hash TEXT PRIMARY KEY,
        user_code_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        interval_s INTEGER NOT NULL,
        last_polled_at REAL,
        user_id TEXT,
        bound_at REAL,
        denied INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX pairings_by_user_code ON pairings(user_code_hash);
    CREATE INDEX pairings_by_user ON pairings(user_id);
    CREATE INDEX pairings_by_expiry ON pairings(expires_at);
    CREATE TABLE devices (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_seen_at REAL NOT NULL
    );
    CREATE INDEX devices_by_user ON devices(user_id);
    CREATE TABLE rate_counters (
        key TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (key, bucket)
    ) WITHOUT ROWID;
    """,
    # 3: a user's own voice: the profile fitted to their speaker, and their nudges.
    """
    CREATE TABLE voices (
        user_id TEXT PRIMARY KEY REFERENCES users(user_id) ON DELETE CASCADE,
        profile TEXT,
        offset_s REAL NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL
    );
    """,
    # 4: a calibration by the user's own watch, while it is under way.
    """
    ALTER TABLE voices ADD COLUMN tuning TEXT;
    """,
    # 5: a person's own settings (hold length, holds per side, ...), as JSON.
    """
    ALTER TABLE users ADD COLUMN settings TEXT;
    """,
    # 6: what a watch poll reads first: the run's stamp and the epoch of the user's watches.
    """
    CREATE TABLE stamps (
        user_id TEXT PRIMARY KEY,
        run TEXT,
        watches TEXT
    ) WITHOUT ROWID;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    """The file was written by a newer release; refuse rather than corrupt it."""


class SQLiteStore:
    """Store on a SQLite file; pooled connections, writes in IMMEDIATE transactions."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        self._lock = threading.Lock()
        try:
            self._migrate()
        except BaseException:
            self.close()  # a refused file (SchemaTooNew) must not leave a connection open
            raise

    # -- connections --------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
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
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """Borrow a pooled connection for one operation; threads and greenlets come and go."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        try:
            yield conn
        finally:
            # Only a connection outside any transaction may serve the next caller: one left
            # inside (a COMMIT and its ROLLBACK both failed) would hold the write lock and
            # show the next caller uncommitted rows. It is closed, which rolls it back.
            reusable = not conn.in_transaction
            with self._lock:
                if reusable and len(self._idle) < POOL_SIZE and not self._closed:
                    self._idle.append(conn)
                    conn = None
            if conn is not None:
                conn.close()

    def _fetchone(self, sql: str, params: tuple[object, ...] = ()) -> tuple[Any, ...] | None:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchone()

    def _fetchall(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchall()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front, so CAS reads see the latest row."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                # A COMMIT can fail and leave the transaction open (a deferred constraint,
                # SQLITE_BUSY, a full disk): it is rolled back below like any other failure.
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        log.exception("rollback failed; the connection is discarded")
                raise

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
        return int(self._fetchone("PRAGMA user_version")[0])

    def close(self) -> None:
        """Close idle connections; ones still lent out close when they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

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
        row = self._fetchone(
            "SELECT user_id, created_at, safety_heard_at FROM users WHERE user_id = ?",
            (user_id,),
        )
        return UserRecord(*row) if row else None

    def mark_safety_heard(self, user_id: str, now: float) -> None:
        with self._write() as conn:
            conn.execute("UPDATE users SET safety_heard_at = ? WHERE user_id = ?", (now, user_id))

    def load_voice(self, user_id: str) -> UserVoice:
        row = self._fetchone(
            "SELECT profile, offset_s, tuning FROM voices WHERE user_id = ?", (user_id,)
        )
        return UserVoice(row[0], float(row[1]), row[2]) if row else UserVoice()

    def save_voice(self, user_id: str, voice: UserVoice, now: float) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO users (user_id, created_at) VALUES (?, ?)", (user_id, now)
            )
            conn.execute(
                "INSERT INTO voices (user_id, profile, offset_s, tuning, updated_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET profile = excluded.profile,"
                " offset_s = excluded.offset_s, tuning = excluded.tuning,"
                " updated_at = excluded.updated_at",
                (user_id, voice.profile, voice.offset_s, voice.tuning, now),
            )

    def load_settings(self, user_id: str) -> str | None:
        row = self._fetchone("SELECT settings FROM users WHERE user_id = ?", (user_id,))
        return row[0] if row else None

    def save_settings(self, user_id: str, settings: str, now: float) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO users (user_id, created_at) VALUES (?, ?)", (user_id, now)
            )
            conn.execute("UPDATE users SET settings = ? WHERE user_id = ?", (settings, user_id))

    def delete_user(self, user_id: str) -> None:
        with self._write() as conn:
            for table in ("history", "runs", "voices", "users", "devices", "pairings", "stamps"):
                conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
            for scope in counter_scopes(user_id):
                # Keys are "<limit name>:<scope>"; a scope is hex, so no GLOB wildcard.
                conn.execute("DELETE FROM rate_counters WHERE key GLOB ?", (f"*:{scope}",))

    # -- runs ---------------------------------------------------------------------------

    def load_run(self, user_id: str) -> RunState | None:
        row = self._fetchone("SELECT state, version FROM runs WHERE user_id = ?", (user_id,))
        return decode_run(user_id, row[0], row[1]) if row else None

    def load_run_and_stamp(self, user_id: str) -> tuple[RunState | None, str | None]:
        row = self._fetchone(
            "SELECT runs.state, runs.version, stamps.run FROM runs "
            "LEFT JOIN stamps ON stamps.user_id = runs.user_id WHERE runs.user_id = ?",
            (user_id,),
        )
        if row is None:
            return None, None
        return decode_run(user_id, row[0], row[1]), row[2]

    def save_run(
        self,
        user_id: str,
        state: RunState,
        expected_version: int | None,
        completed: CompletedRun | None = None,
        stamp: str | None = None,
    ) -> None:
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
            conn.execute(
                "INSERT INTO stamps (user_id, run) VALUES (?, ?) "
                "ON CONFLICT(user_id) DO UPDATE SET run = excluded.run",
                (user_id, stamp),
            )
            if completed is not None:
                conn.execute(
                    "INSERT OR IGNORE INTO history "
                    "(run_id, user_id, routine_id, started_at, completed_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        completed.run_id,
                        user_id,
                        completed.routine_id,
                        completed.started_at,
                        completed.completed_at,
                    ),
                )

    def stamps(self, user_id: str) -> Stamps:
        row = self._fetchone("SELECT run, watches FROM stamps WHERE user_id = ?", (user_id,))
        return Stamps(*row) if row else Stamps(None, None)

    def renew_watches_epoch(self, user_id: str) -> None:
        with self._write() as conn:
            self._new_watches_epoch(conn, user_id)

    @staticmethod
    def _new_watches_epoch(conn: sqlite3.Connection, user_id: str) -> None:
        """The user's set of watches changed: no token cached before this is believed."""
        conn.execute(
            "INSERT INTO stamps (user_id, watches) VALUES (?, ?) "
            "ON CONFLICT(user_id) DO UPDATE SET watches = excluded.watches",
            (user_id, new_epoch()),
        )

    # -- history ------------------------------------------------------------------------

    def history(self, user_id: str, limit: int = 20) -> list[CompletedRun]:
        rows = self._fetchall(
            "SELECT run_id, routine_id, started_at, completed_at FROM history "
            "WHERE user_id = ? ORDER BY completed_at DESC LIMIT ?",
            (user_id, limit),
        )
        return [CompletedRun(*row) for row in rows]

    def history_since(self, user_id: str, since: float) -> list[CompletedRun]:
        rows = self._fetchall(
            "SELECT run_id, routine_id, started_at, completed_at FROM history "
            "WHERE user_id = ? AND completed_at >= ? ORDER BY completed_at DESC",
            (user_id, since),
        )
        return [CompletedRun(*row) for row in rows]

    # -- watch pairing ------------------------------------------------------------------

    def add_pairing(self, pairing: PairingRecord) -> bool:
        with self._write() as conn:
            # An expired pairing may give up its user code; a live or bound one never does.
            conn.execute(
                "DELETE FROM pairings WHERE user_code_hash = ? AND expires_at <= ?",
                (pairing.user_code_hash, pairing.created_at),
            )
            cursor = conn.execute(
                "INSERT OR IGNORE INTO pairings (device_code_hash, user_code_hash, created_at, "
                "expires_at, interval_s, last_polled_at, user_id, bound_at, denied) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    pairing.device_code_hash,
                    pairing.user_code_hash,
                    pairing.created_at,
                    pairing.expires_at,
                    pairing.interval,
                    pairing.last_polled_at,
                    pairing.user_id,
                    pairing.bound_at,
                    int(pairing.denied),
                ),
            )
            return cursor.rowcount == 1

    def pairing(self, device_code_hash: str) -> PairingRecord | None:
        row = self._fetchone(
            "SELECT device_code_hash, user_code_hash, created_at, expires_at, interval_s, "
            "last_polled_at, user_id, bound_at, denied FROM pairings "
            "WHERE device_code_hash = ?",
            (device_code_hash,),
        )
        if row is None:
            return None
        return PairingRecord(*row[:8], denied=bool(row[8]))

    def record_poll(self, device_code_hash: str, polled_at: float, interval: int) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE pairings SET last_polled_at = ?, interval_s = ? WHERE device_code_hash = ?",
                (polled_at, interval, device_code_hash),
            )

    def bind_pairing(self, user_code_hash: str, user_id: str, now: float) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE pairings SET user_id = ?, bound_at = ? WHERE user_code_hash = ? "
                "AND expires_at > ? AND user_id IS NULL AND denied = 0",
                (user_id, now, user_code_hash, now),
            )
            return cursor.rowcount == 1

    def live_pairings(self, now: float) -> int:
        row = self._fetchone(
            "SELECT COUNT(*) FROM pairings WHERE expires_at > ? AND user_id IS NULL AND denied = 0",
            (now,),
        )
        return int(row[0])

    def deny_pairings_of(self, user_id: str, now: float) -> int:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE pairings SET denied = 1 WHERE user_id = ? AND denied = 0 "
                "AND expires_at > ?",
                (user_id, now),
            )
            return cursor.rowcount

    def redeem_pairing(self, device_code_hash: str, device: DeviceRecord, now: float) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM pairings WHERE device_code_hash = ? AND user_id = ? "
                "AND denied = 0 AND expires_at > ?",
                (device_code_hash, device.user_id, now),
            )
            if cursor.rowcount != 1:
                return False
            conn.execute(
                "INSERT INTO devices (token_hash, user_id, created_at, last_seen_at) "
                "VALUES (?, ?, ?, ?)",
                (device.token_hash, device.user_id, device.created_at, device.last_seen_at),
            )
            self._new_watches_epoch(conn, device.user_id)
            return True

    def purge_pairings(self, expired_before: float) -> int:
        with self._write() as conn:
            return conn.execute(
                "DELETE FROM pairings WHERE expires_at < ?", (expired_before,)
            ).rowcount

    def device(self, token_hash: str) -> DeviceRecord | None:
        row = self._fetchone(
            "SELECT token_hash, user_id, created_at, last_seen_at FROM devices "
            "WHERE token_hash = ?",
            (token_hash,),
        )
        return DeviceRecord(*row) if row else None

    def touch_device(self, token_hash: str, now: float) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE devices SET last_seen_at = ? WHERE token_hash = ?", (now, token_hash)
            )

    def delete_device(self, token_hash: str) -> bool:
        with self._write() as conn:
            row = conn.execute(
                "DELETE FROM devices WHERE token_hash = ? RETURNING user_id", (token_hash,)
            ).fetchone()
            if row is None:
                return False
            self._new_watches_epoch(conn, row[0])
            return True

    def delete_devices_of(self, user_id: str) -> int:
        with self._write() as conn:
            deleted = conn.execute("DELETE FROM devices WHERE user_id = ?", (user_id,)).rowcount
            if deleted:
                self._new_watches_epoch(conn, user_id)
            return deleted

    def charge_counters(self, charges: Sequence[CounterCharge]) -> bool:
        with self._write() as conn:
            for charge in charges:
                (used,) = conn.execute(
                    "SELECT COALESCE(SUM(count), 0) FROM rate_counters "
                    "WHERE key = ? AND bucket >= ?",
                    (charge.key, charge.since),
                ).fetchone()
                if used >= charge.limit:
                    return False  # nothing written yet, so the commit changes nothing
            for charge in charges:
                conn.execute(
                    "INSERT INTO rate_counters (key, bucket, count) VALUES (?, ?, 1) "
                    "ON CONFLICT(key, bucket) DO UPDATE SET count = count + 1",
                    (charge.key, charge.bucket),
                )
            return True

    def refund_counters(self, charges: Sequence[CounterCharge]) -> None:
        with self._write() as conn:
            for charge in charges:
                conn.execute(
                    "UPDATE rate_counters SET count = count - 1 "
                    "WHERE key = ? AND bucket = ? AND count > 0",
                    (charge.key, charge.bucket),
                )

    def purge_counters(self, older_than: int) -> int:
        with self._write() as conn:
            return conn.execute(
                "DELETE FROM rate_counters WHERE bucket < ?", (older_than,)
            ).rowcount
