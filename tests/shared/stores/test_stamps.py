"""Stamps: the run's stamp saved with it, and the watches epoch that changes with every watch.

A watch poll believes a remembered token only under the epoch it was seen valid under, on
every instance, so each back end must move the epoch on every change to a user's watches,
and never back to a value it had.
"""

from __future__ import annotations

import pytest

from shared.stores.base import DeviceRecord, Stamps, VersionConflict
from tests.shared.stores.test_base import ALICE, NOW, a_pairing, a_run, paired
from tests.support.stores import AnyStore, StoreSpec

BOB = "bob"


def test_a_user_never_seen_has_no_stamps(any_store: AnyStore) -> None:
    assert any_store.stamps(ALICE) == Stamps(None, None)


def test_a_run_and_its_stamp_are_saved_and_read_together(any_store: AnyStore) -> None:
    any_store.save_run(ALICE, a_run(version=1), None, stamp="stamp-1")
    assert any_store.stamps(ALICE).run == "stamp-1"
    any_store.save_run(ALICE, a_run(version=2, step_index=1), 1, stamp="stamp-2")
    run, stamp = any_store.load_run_and_stamp(ALICE)
    assert (run, stamp) == (a_run(version=2, step_index=1), "stamp-2")


def test_a_run_saved_without_a_stamp_has_none(any_store: AnyStore) -> None:
    any_store.save_run(ALICE, a_run(version=1), None, stamp="stamp-1")
    any_store.save_run(ALICE, a_run(version=2), 1)
    assert any_store.load_run_and_stamp(ALICE) == (a_run(version=2), None)
    assert any_store.load_run_and_stamp(BOB) == (None, None)


def test_a_lost_race_leaves_the_winners_stamp(any_store: AnyStore) -> None:
    any_store.save_run(ALICE, a_run(version=1), None, stamp="winner")
    with pytest.raises(VersionConflict):
        any_store.save_run(ALICE, a_run(version=1), None, stamp="loser")
    assert any_store.stamps(ALICE).run == "winner"


def test_pairing_a_watch_gives_its_user_a_new_epoch(any_store: AnyStore) -> None:
    paired(any_store, ALICE, "t1", "d1", "u1")
    first = any_store.stamps(ALICE).watches
    paired(any_store, ALICE, "t2", "d2", "u2")
    second = any_store.stamps(ALICE).watches
    assert first
    assert second
    assert first != second
    assert any_store.stamps(BOB).watches is None


def test_unpairing_one_watch_or_all_moves_the_epoch_on(any_store: AnyStore) -> None:
    paired(any_store, ALICE, "t1", "d1", "u1")
    paired(any_store, ALICE, "t2", "d2", "u2")
    seen = {any_store.stamps(ALICE).watches}
    assert any_store.delete_device("t1")
    seen.add(any_store.stamps(ALICE).watches)
    assert any_store.delete_devices_of(ALICE) == 1
    seen.add(any_store.stamps(ALICE).watches)
    assert len(seen) == 3
    assert None not in seen


def test_what_changes_no_watch_leaves_the_epoch(any_store: AnyStore) -> None:
    paired(any_store, ALICE, "t1", "d1", "u1")
    epoch = any_store.stamps(ALICE).watches
    any_store.touch_device("t1", NOW + 100)
    assert not any_store.delete_device("no-such-token")
    assert any_store.delete_devices_of(BOB) == 0
    any_store.save_run(ALICE, a_run(version=1), None, stamp="s")
    assert any_store.stamps(ALICE) == Stamps("s", epoch)


def test_a_refused_redeem_pairs_nothing_and_keeps_the_epoch(any_store: AnyStore) -> None:
    paired(any_store, ALICE, "t1", "d1", "u1")
    epoch = any_store.stamps(ALICE).watches
    any_store.add_pairing(a_pairing("d2", "u2"))  # never bound to anyone
    assert not any_store.redeem_pairing("d2", DeviceRecord("t2", ALICE, NOW, NOW), NOW + 2)
    assert any_store.stamps(ALICE).watches == epoch


def test_forgetting_a_user_forgets_their_stamps(any_store: AnyStore) -> None:
    paired(any_store, ALICE, "t1", "d1", "u1")
    any_store.save_run(ALICE, a_run(version=1), None, stamp="s")
    any_store.delete_user(ALICE)
    assert any_store.stamps(ALICE) == Stamps(None, None)


def test_renewing_gives_an_epoch_never_seen(any_store: AnyStore) -> None:
    seen = set()
    for _ in range(5):
        any_store.renew_watches_epoch(ALICE)
        seen.add(any_store.stamps(ALICE).watches)
    assert len(seen) == 5
    assert None not in seen


def test_another_instance_reads_the_same_stamps(any_store: AnyStore, store_spec: StoreSpec) -> None:
    other = store_spec.open()
    try:
        paired(other, ALICE, "t1", "d1", "u1")
        other.save_run(ALICE, a_run(version=1), None, stamp="s")
        assert any_store.stamps(ALICE) == other.stamps(ALICE)
        other.delete_devices_of(ALICE)
        assert any_store.stamps(ALICE) == other.stamps(ALICE)
    finally:
        other.close()
