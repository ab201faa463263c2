"""The pairing tables in SQLite: migration 2 upgrades old files, and each change is atomic."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from shared.routine.engine import RunState
from shared.stores.base import CounterCharge, DeviceRecord, PairingRecord
from shared.stores.sqlite import MIGRATIONS, SQLiteStore

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


def test_counters_charge_all_or_nothing(store: SQLiteStore) -> None:
    roomy = CounterCharge("roomy", bucket=60, since=0, limit=10)
    full = CounterCharge("full", bucket=60, since=0, limit=1)
    assert store.charge_counters([full])
    assert not store.charge_counters([roomy, full])
    # The refused charge left "roomy" untouched: ten more still fit.
    assert all(store.charge_counters([roomy]) for _ in range(10))
    assert not store.charge_counters([roomy])


def test_a_refund_gives_one_charge_back(store: SQLiteStore) -> None:
    charge = CounterCharge("k", bucket=60, since=0, limit=1)
    assert store.charge_counters([charge])
    store.refund_counters([charge])
    assert store.charge_counters([charge])


def test_old_buckets_fall_out_of_the_window_and_are_purged(store: SQLiteStore) -> None:
    assert store.charge_counters([CounterCharge("k", bucket=0, since=-600, limit=1)])
    assert store.charge_counters([CounterCharge("k", bucket=660, since=60, limit=1)])
    assert store.purge_counters(older_than=60) == 1
