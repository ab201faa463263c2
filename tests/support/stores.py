"""Helpers for the store tests: which store to open, a process that writes to it, instances.

A `StoreSpec` is plain data, so a spawned process can open the very store a test opened and
race it (the concurrency test); the `any_store` fixture is built from the same spec.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from shared.notify.redis import RedisNotifier
from shared.stores.base import VersionConflict
from shared.stores.redis import RedisStore
from shared.stores.sqlite import SQLiteStore

AnyStore = SQLiteStore | RedisStore


@dataclass(frozen=True, slots=True)
class Instances:
    """Two app instances' notifiers on one Redis, with one key prefix (so one channel)."""

    a: RedisNotifier
    b: RedisNotifier


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """A back end and where its data lives: a SQLite file or a Redis URL."""

    kind: str
    where: str

    def open(self) -> AnyStore:
        if self.kind == "sqlite":
            return SQLiteStore(Path(self.where))
        if self.kind == "redis":
            return RedisStore.from_url(self.where)
        raise ValueError(f"unknown store kind {self.kind!r}")


def bump_runs(spec: StoreSpec, user: str, count: int, start: Barrier, lost: Queue[int]) -> None:
    """Add one to `user`'s run version `count` times with compare-and-set, retrying races.

    Runs in its own process; opens the store, then waits at `start` until every writer has,
    so their writes overlap; reports how many races it lost.
    """
    store = spec.open()
    start.wait()
    races = bump_versions(store, user, count)
    store.close()
    lost.put(races)


def bump_versions(store: AnyStore, user: str, count: int) -> int:
    """Add one to `user`'s run version `count` times with compare-and-set; count lost races.

    The one writer loop both concurrency tests race: processes spawned here and the
    command-line worker (tests/support/store_worker.py) that another interpreter runs.
    """
    races = done = 0
    while done < count:
        state = store.load_run(user)
        assert state is not None
        try:
            store.save_run(user, replace(state, version=state.version + 1), state.version)
        except VersionConflict:
            races += 1
            continue
        done += 1
    return races


def empty(url: str) -> None:
    """Remove every key from the Redis at `url`: on a Cluster, from every primary."""
    from shared.redis_connection import is_cluster

    store = RedisStore.from_url(url)
    try:
        if is_cluster(store.client):
            store.client.flushdb(target_nodes="primaries")
        else:
            store.client.flushdb()
    finally:
        store.close()


def break_history(store: AnyStore, user: str) -> None:
    """Make every history write for `user` fail, as a full disk or a bad record would."""
    if isinstance(store, SQLiteStore):
        conn = sqlite3.connect(store.path)
        try:
            conn.execute(
                "CREATE TRIGGER broken_history BEFORE INSERT ON history "
                "BEGIN SELECT RAISE(ABORT, 'history is broken'); END"
            )
            conn.commit()
        finally:
            conn.close()
    else:
        # A string where the history hash belongs: every write to it fails with WRONGTYPE.
        store.client.set(store.user_keys(user)["history"], "not a hash")


def damage_run(store: AnyStore, user: str, state: str) -> None:
    """Overwrite `user`'s stored run with `state`, as a newer release or a bad disk might."""
    if isinstance(store, SQLiteStore):
        conn = sqlite3.connect(store.path)
        try:
            conn.execute("UPDATE runs SET state = ? WHERE user_id = ?", (state, user))
            conn.commit()
        finally:
            conn.close()
    else:
        store.client.hset(store.user_keys(user)["run"], "state", state)
