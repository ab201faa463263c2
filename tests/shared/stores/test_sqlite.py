"""The SQLite store: WAL, a versioned schema, compare-and-set runs, and more than one process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.definition import Routine
from shared.routine.engine import Event, Phase, RoutineEngine, RunState
from shared.stores.base import (
    CompletedRun,
    CounterCharge,
    DeviceRecord,
    PairingRecord,
    VersionConflict,
)
from shared.stores.sqlite import (
    MIGRATIONS,
    SCHEMA_VERSION,
    SchemaTooNew,
    SQLiteStore,
)
from tests.support import store_worker
from tests.support.core import INTO_HOLD, LEAD_IN
from tests.support.paths import REPO as ROOT
from tests.support.stores import break_history

WORKER = Path(store_worker.__file__)
#: A bound so a wedged worker fails the test instead of hanging it; never a measurement.
WORKER_TIMEOUT_S = 120
USER = "amzn1.ask.account.STORE-TEST"
HOLD_S = 30.0


def worker(*args: object, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *map(str, args)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        text=True,
        **popen,  # type: ignore[call-overload]
    )


def raw(path: Path, sql: str) -> object:
    """One value read through a plain sqlite3 connection, not the store's own."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def run_state(version: int = 0, step_index: int = 0) -> RunState:
    return RunState(routine_id="r", version=version, step_index=step_index, run_id="run-a")


# -- the file ----------------------------------------------------------------------------


def test_file_is_in_wal_mode(store: SQLiteStore) -> None:
    assert raw(store.path, "PRAGMA journal_mode") == "wal"


def test_schema_version_is_recorded_in_the_file(store: SQLiteStore) -> None:
    assert store.schema_version() == SCHEMA_VERSION >= 1
    assert raw(store.path, "PRAGMA user_version") == SCHEMA_VERSION


def test_reopening_a_current_file_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "coach.sqlite3"
    first = SQLiteStore(path)
    first.save_run(USER, run_state(), None)
    first.close()
    second = SQLiteStore(path)
    try:
        assert second.load_run(USER) == run_state()
        assert second.schema_version() == SCHEMA_VERSION
    finally:
        second.close()


def test_a_file_from_the_first_release_is_migrated_forward_keeping_its_runs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "first-release.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO users (user_id, created_at) VALUES (?, ?)", (USER, 1.0))
    conn.execute(
        "INSERT INTO runs (user_id, version, state) VALUES (?, ?, ?)",
        (USER, 0, json.dumps(run_state().to_dict())),
    )
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.load_run(USER) == run_state()
        assert store.get_user(USER).created_at == 1.0
    finally:
        store.close()


def test_file_from_a_newer_release_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNew, match=str(SCHEMA_VERSION + 1)):
        SQLiteStore(path)
    assert raw(path, "PRAGMA user_version") == SCHEMA_VERSION + 1
    assert raw(path, "SELECT count(*) FROM sqlite_master WHERE name = 'runs'") == 0


# -- users -------------------------------------------------------------------------------


def test_ensure_user_creates_once_and_keeps_the_first_meeting(store: SQLiteStore) -> None:
    first = store.ensure_user(USER, 100.0)
    again = store.ensure_user(USER, 200.0)
    assert first == again
    assert again.created_at == 100.0
    assert again.safety_heard_at is None


def test_safety_note_heard_is_remembered(store: SQLiteStore) -> None:
    store.ensure_user(USER, 100.0)
    store.mark_safety_heard(USER, 150.0)
    assert store.get_user(USER).safety_heard_at == 150.0


def test_unknown_user_is_none(store: SQLiteStore) -> None:
    assert store.get_user("nobody") is None
    assert store.load_run("nobody") is None
    assert store.history("nobody") == []


# -- compare-and-set ---------------------------------------------------------------------


def test_save_with_a_stale_version_conflicts_and_keeps_the_winner(store: SQLiteStore) -> None:
    store.save_run(USER, run_state(version=1), None)
    voice = store.load_run(USER)
    watch = store.load_run(USER)
    winner = replace(watch, version=2, step_index=3)
    store.save_run(USER, winner, watch.version)
    with pytest.raises(VersionConflict) as caught:
        store.save_run(USER, replace(voice, version=2, step_index=1), voice.version)
    assert (caught.value.user_id, caught.value.expected, caught.value.found) == (USER, 1, 2)
    assert store.load_run(USER) == winner


def test_inserting_a_new_run_twice_conflicts(store: SQLiteStore) -> None:
    store.save_run(USER, run_state(step_index=1), None)
    with pytest.raises(VersionConflict) as caught:
        store.save_run(USER, run_state(step_index=2), None)
    assert (caught.value.expected, caught.value.found) == (None, 0)
    assert store.load_run(USER).step_index == 1


def test_updating_a_run_that_does_not_exist_conflicts(store: SQLiteStore) -> None:
    with pytest.raises(VersionConflict) as caught:
        store.save_run(USER, run_state(version=4), 3)
    assert (caught.value.expected, caught.value.found) == (3, None)
    assert store.load_run(USER) is None


# -- history -----------------------------------------------------------------------------


def test_delete_user_forgets_the_user_the_run_and_the_history(store: SQLiteStore) -> None:
    for user in (USER, "someone-else"):
        store.ensure_user(user, 0.0)
        store.save_run(user, run_state(), None, completed=CompletedRun(f"of-{user}", "r", 1.0, 2.0))
    store.delete_user(USER)
    assert store.get_user(USER) is None
    assert store.load_run(USER) is None
    assert store.history(USER) == []
    assert store.get_user("someone-else") is not None
    assert store.load_run("someone-else") is not None
    assert len(store.history("someone-else")) == 1


def test_finishing_a_routine_whose_history_cannot_be_written_leaves_it_unfinished(
    store: SQLiteStore, routine: Routine, clock: ManualClock
) -> None:
    """The run is saved as completed only together with its history row, never alone."""
    coach = Coach(store, RoutineEngine(routine), clock)
    coach.apply(USER, Event.START, LEAD_IN)
    for _ in range(routine.last_index):
        coach.apply(USER, Event.NEXT, LEAD_IN)
    before = store.load_run(USER)
    break_history(store, USER)
    clock.advance(3600)  # past the end: the next read records the completion
    with pytest.raises(sqlite3.IntegrityError, match="history is broken"):
        coach.view(USER)
    assert store.load_run(USER) == before
    assert store.history(USER) == []


# -- transactions ------------------------------------------------------------------------


def commit_a_run_without_its_user(store: SQLiteStore) -> None:
    """A write whose COMMIT fails: a deferred foreign key is checked only at COMMIT."""
    with store._write() as conn:
        conn.execute("PRAGMA defer_foreign_keys = ON")
        conn.execute("INSERT INTO runs (user_id, version, state) VALUES ('ghost', 1, '{}')")


def test_a_failed_commit_is_rolled_back_and_its_connection_not_lent_again(
    store: SQLiteStore,
) -> None:
    """A COMMIT that fails leaves its transaction open; nobody may inherit it from the pool."""
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        commit_a_run_without_its_user(store)
    assert store.load_run("ghost") is None  # not even to a reader on a pooled connection
    other = SQLiteStore(store.path)  # another process's writer is not blocked by a lock
    try:
        other.save_run(USER, run_state(), None)
    finally:
        other.close()
    store.save_run(USER, run_state(version=1), 0)
    assert raw(store.path, "SELECT COUNT(*) FROM runs") == 1


# -- more than one process ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("paused", "later", "phase"),
    [(True, 3600.0, Phase.PAUSED), (False, 5.0, Phase.HOLDING)],
    ids=["paused-mid-hold", "mid-hold"],
)
def test_a_run_carries_on_from_the_file_after_a_restart(
    tmp_path: Path, routine: Routine, paused: bool, later: float, phase: Phase
) -> None:
    db = tmp_path / "coach.sqlite3"
    started = 1_780_000_000.0
    done = worker("hold", db, USER, started, LEAD_IN, INTO_HOLD, 1, int(paused))
    assert done.wait(WORKER_TIMEOUT_S) == 0

    clock = ManualClock(started + LEAD_IN + INTO_HOLD + later)
    store = SQLiteStore(db)
    try:
        coach = Coach(store, RoutineEngine(routine), clock)
        view = coach.view(USER)
        assert view.phase is phase
        assert view.step_index == 1
        assert view.step.id == "release-right"
        expected_left = HOLD_S - INTO_HOLD - (0.0 if paused else later)
        assert view.hold.remaining == expected_left
        if paused:
            resumed = coach.apply(USER, Event.RESUME, 2.0).transition.state
            assert resumed.hold_end == clock.now() + 2.0 + expected_left
    finally:
        store.close()


def test_two_processes_updating_one_user_lose_no_update(tmp_path: Path, store: SQLiteStore) -> None:
    per_process = 500
    store.save_run(USER, run_state(version=0), None)
    workers = [
        worker("bump", store.path, USER, per_process, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    try:
        # Both are connected before either starts, so their writes overlap.
        assert [w.stdout.readline().strip() for w in workers] == ["ready", "ready"]
        for w in workers:
            w.stdin.write("go\n")
            w.stdin.flush()
        outputs = [w.communicate(timeout=WORKER_TIMEOUT_S)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    assert [w.returncode for w in workers] == [0, 0]
    assert all(line.strip().isdigit() for line in outputs)
    assert store.load_run(USER).version == 2 * per_process


# -- The pairing tables in SQLite: migration 2 upgrades old files, and each change is atomic -------


NOW = 1_780_000_000.0


def a_pairing(device: str = "d1", user_code: str = "u1", **changes: object) -> PairingRecord:
    fields: dict[str, object] = {
        "device_code_hash": device,
        "user_code_hash": user_code,
        "created_at": NOW,
        "expires_at": NOW + 600,
        "interval": 5,
    }
    fields.update(changes)
    return PairingRecord(**fields)  # type: ignore[arg-type]


def test_a_schema_1_file_is_upgraded_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
    conn.execute("INSERT INTO users (user_id, created_at) VALUES ('alice', 1.0)")
    conn.commit()
    conn.close()

    store = SQLiteStore(path)
    try:
        assert store.schema_version() == len(MIGRATIONS) >= 2
        assert store.get_user("alice") is not None
        assert store.add_pairing(a_pairing())
    finally:
        store.close()


def test_a_live_user_code_cannot_be_issued_twice_but_an_expired_one_can(
    store: SQLiteStore,
) -> None:
    assert store.add_pairing(a_pairing("d1", "same"))
    assert not store.add_pairing(a_pairing("d2", "same"))
    later = NOW + 600
    assert store.add_pairing(a_pairing("d3", "same", created_at=later, expires_at=later + 600))


def test_binding_is_first_come_and_only_while_live(store: SQLiteStore) -> None:
    store.add_pairing(a_pairing())
    assert not store.bind_pairing("u1", "alice", NOW + 600)  # expired by then
    assert store.bind_pairing("u1", "alice", NOW + 1)
    assert not store.bind_pairing("u1", "bob", NOW + 2)
    pairing = store.pairing("d1")
    assert pairing is not None
    assert (pairing.user_id, pairing.bound_at) == ("alice", NOW + 1)
    assert store.live_pairings(NOW + 2) == 0


def test_redeeming_swaps_the_pairing_for_a_device_once(store: SQLiteStore) -> None:
    store.add_pairing(a_pairing())
    store.bind_pairing("u1", "alice", NOW)
    device = DeviceRecord("t1", "alice", NOW, NOW)
    assert store.redeem_pairing("d1", device, NOW + 1)
    assert not store.redeem_pairing("d1", device, NOW + 1)
    assert store.pairing("d1") is None
    assert store.device("t1") == device


def test_a_pairing_bound_to_someone_else_is_not_redeemed_for_you(store: SQLiteStore) -> None:
    store.add_pairing(a_pairing())
    store.bind_pairing("u1", "alice", NOW)
    assert not store.redeem_pairing("d1", DeviceRecord("t1", "mallory", NOW, NOW), NOW)
    assert store.device("t1") is None


def test_deleting_a_user_takes_their_devices_and_pairings_and_nobody_elses(
    store: SQLiteStore,
) -> None:
    store.save_run("alice", RunState(routine_id="r", version=1), None)
    for device, user in (("a", "alice"), ("b", "bob")):
        store.add_pairing(a_pairing(f"d-{device}", f"u-{device}"))
        store.bind_pairing(f"u-{device}", user, NOW)
        store.add_pairing(a_pairing(f"d2-{device}", f"u2-{device}"))
        store.bind_pairing(f"u2-{device}", user, NOW)
        store.redeem_pairing(f"d2-{device}", DeviceRecord(f"t-{device}", user, NOW, NOW), NOW)
    store.delete_user("alice")
    assert store.device("t-a") is None
    assert store.pairing("d-a") is None
    assert store.device("t-b") is not None
    assert store.pairing("d-b") is not None


def test_a_refund_gives_one_charge_back(store: SQLiteStore) -> None:
    charge = CounterCharge("k", bucket=60, since=0, limit=1)
    assert store.charge_counters([charge])
    store.refund_counters([charge])
    assert store.charge_counters([charge])


def test_old_buckets_fall_out_of_the_window_and_are_purged(store: SQLiteStore) -> None:
    assert store.charge_counters([CounterCharge("k", bucket=0, since=-600, limit=1)])
    assert store.charge_counters([CounterCharge("k", bucket=660, since=60, limit=1)])
    assert store.purge_counters(older_than=60) == 1
