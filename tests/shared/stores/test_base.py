"""The store contract: every test here runs on SQLite and on Redis, and both must agree.

`any_store` is parametrised over the two back ends (conftest.py); what only one back end
has (WAL, migrations, key layout, expiry) is tested beside it, not here."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from dataclasses import replace

import pytest

from shared.routine.engine import RunState, Status
from shared.stores.base import (
    CompletedRun,
    CounterCharge,
    DeviceRecord,
    PairingRecord,
    UserRecord,
    UserVoice,
    VersionConflict,
    counter_scopes,
    user_counter_scope,
)
from tests.support.stores import AnyStore, StoreSpec, break_history, bump_runs, damage_run

NOW = 1_780_000_000.0
ALICE = "amzn1.ask.account.ALICE"
BOB = "amzn1.ask.account.BOB"
#: A bound so a wedged writer fails the test instead of hanging it; never a measurement.
WORKER_LIMIT_S = 120


def a_run(version: int = 1, **changes: object) -> RunState:
    fields: dict[str, object] = {
        "routine_id": "sciatica",
        "version": version,
        "status": Status.ACTIVE,
        "run_id": "run-1",
        "step_index": 2,
        "started_at": NOW + 0.123456789,
        "step_started_at": NOW + 61.5,
        "hold_start": NOW + 65.000001,
        "hold_end": NOW + 95.000001,
        "step_end": NOW + 97.25,
    }
    fields.update(changes)
    return RunState(**fields)  # type: ignore[arg-type]


def a_pairing(device: str = "d1", code: str = "u1", **changes: object) -> PairingRecord:
    fields: dict[str, object] = {
        "device_code_hash": device,
        "user_code_hash": code,
        "created_at": NOW,
        "expires_at": NOW + 600,
        "interval": 5,
    }
    fields.update(changes)
    return PairingRecord(**fields)  # type: ignore[arg-type]


def paired(store: AnyStore, user: str, token: str, device: str, code: str) -> DeviceRecord:
    """A watch of `user` paired all the way: pairing added, bound and redeemed."""
    store.add_pairing(a_pairing(device, code))
    assert store.bind_pairing(code, user, NOW + 1)
    record = DeviceRecord(token, user, NOW + 2, NOW + 2)
    assert store.redeem_pairing(device, record, NOW + 2)
    return record


def race(threads: int, attempt: Callable[[], bool]) -> list[bool]:
    """Run `attempt` on `threads` threads released together; every thread's answer."""
    start = threading.Barrier(threads)
    answers: list[bool] = []
    lock = threading.Lock()

    def run() -> None:
        start.wait()
        answer = attempt()
        with lock:
            answers.append(answer)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(WORKER_LIMIT_S)
    return answers


# -- users ------------------------------------------------------------------------------------


def test_a_user_is_created_once_and_keeps_the_first_meeting(any_store: AnyStore) -> None:
    assert any_store.ensure_user(ALICE, NOW) == UserRecord(ALICE, NOW)
    assert any_store.ensure_user(ALICE, NOW + 50) == UserRecord(ALICE, NOW)
    assert any_store.get_user(ALICE) == UserRecord(ALICE, NOW)


def test_an_unknown_user_is_none(any_store: AnyStore) -> None:
    assert any_store.get_user(ALICE) is None
    assert any_store.load_run(ALICE) is None
    assert any_store.history(ALICE) == []


def test_hearing_the_safety_note_is_remembered_for_known_users_only(any_store: AnyStore) -> None:
    any_store.ensure_user(ALICE, NOW)
    any_store.mark_safety_heard(ALICE, NOW + 1.25)
    any_store.mark_safety_heard(BOB, NOW + 1.25)
    assert any_store.get_user(ALICE) == UserRecord(ALICE, NOW, safety_heard_at=NOW + 1.25)
    assert any_store.get_user(BOB) is None


# -- runs: compare-and-set on the version -----------------------------------------------------


def test_a_user_without_voice_settings_has_the_defaults(any_store: AnyStore) -> None:
    assert any_store.load_voice(ALICE) == UserVoice(profile=None, offset_s=0.0)


def test_voice_settings_come_back_as_saved_and_are_replaced_whole(any_store: AnyStore) -> None:
    any_store.ensure_user(ALICE, NOW)
    any_store.save_voice(ALICE, UserVoice('{"format": 1}', -0.25), NOW)
    assert any_store.load_voice(ALICE) == UserVoice('{"format": 1}', -0.25)

    any_store.save_voice(ALICE, UserVoice(None, 0.1), NOW + 1)  # the profile dropped, a nudge kept

    assert any_store.load_voice(ALICE) == UserVoice(None, 0.1)
    assert any_store.load_voice(BOB) == UserVoice()


def test_a_tuning_under_way_is_kept_beside_the_profile_and_dropped_with_it(
    any_store: AnyStore,
) -> None:
    any_store.save_voice(ALICE, UserVoice('{"format": 1}', 0.1, '{"listening_since": 1}'), NOW)
    assert any_store.load_voice(ALICE) == UserVoice('{"format": 1}', 0.1, '{"listening_since": 1}')

    any_store.save_voice(ALICE, UserVoice('{"format": 2}'), NOW + 1)

    assert any_store.load_voice(ALICE) == UserVoice('{"format": 2}')


def test_saving_voice_settings_introduces_an_unknown_user_without_losing_them(
    any_store: AnyStore,
) -> None:
    any_store.save_voice(ALICE, UserVoice(None, 0.2), NOW)
    assert any_store.load_voice(ALICE).offset_s == 0.2


def test_a_user_without_settings_has_none_kept(any_store: AnyStore) -> None:
    assert any_store.load_settings(ALICE) is None
    any_store.ensure_user(ALICE, NOW)
    assert any_store.load_settings(ALICE) is None


def test_settings_come_back_as_saved_and_are_replaced_whole(any_store: AnyStore) -> None:
    any_store.save_settings(ALICE, '{"hold_seconds":45}', NOW)  # even for a user not met yet
    assert any_store.load_settings(ALICE) == '{"hold_seconds":45}'
    any_store.save_settings(ALICE, '{"holds_per_side":2}', NOW + 1)
    assert any_store.load_settings(ALICE) == '{"holds_per_side":2}'
    assert any_store.load_settings(BOB) is None


def test_saving_settings_keeps_the_rest_of_the_user(any_store: AnyStore) -> None:
    any_store.ensure_user(ALICE, NOW)
    any_store.mark_safety_heard(ALICE, NOW + 1)
    any_store.save_run(ALICE, a_run(), None)
    any_store.save_settings(ALICE, "{}", NOW + 2)
    user = any_store.get_user(ALICE)
    assert user is not None
    assert (user.created_at, user.safety_heard_at) == (NOW, NOW + 1)
    assert any_store.load_run(ALICE) == a_run()


def test_a_run_comes_back_exactly_as_saved(any_store: AnyStore) -> None:
    run = a_run(paused_at=NOW + 70.987654321)
    any_store.save_run(ALICE, run, None)
    assert any_store.load_run(ALICE) == run


@pytest.mark.parametrize(
    "damage",
    ["{not json", '{"format": 99}', '{"format": 1, "status": "dancing"}', "[]", '"a string"'],
)
def test_a_run_that_does_not_decode_reads_as_idle_and_can_be_replaced(
    any_store: AnyStore, damage: str
) -> None:
    any_store.save_run(ALICE, a_run(version=3), None)
    damage_run(any_store, ALICE, damage)
    unreadable = any_store.load_run(ALICE)
    assert unreadable is not None
    assert (unreadable.status, unreadable.version) == (Status.IDLE, 3)
    any_store.save_run(ALICE, a_run(version=4), 3)  # compare-and-set still guards it
    assert any_store.load_run(ALICE) == a_run(version=4)


def test_saving_a_first_run_introduces_its_user(any_store: AnyStore) -> None:
    any_store.save_run(ALICE, a_run(), None)
    assert any_store.get_user(ALICE) == UserRecord(ALICE, NOW + 0.123456789)


def test_a_save_from_a_stale_read_conflicts_and_keeps_the_winner(any_store: AnyStore) -> None:
    any_store.save_run(ALICE, a_run(version=1), None)
    any_store.save_run(ALICE, a_run(version=2, step_index=3), 1)
    with pytest.raises(VersionConflict) as conflict:
        any_store.save_run(ALICE, a_run(version=2, step_index=9), 1)
    assert (conflict.value.expected, conflict.value.found) == (1, 2)
    assert any_store.load_run(ALICE) == a_run(version=2, step_index=3)


def test_a_second_first_save_conflicts(any_store: AnyStore) -> None:
    any_store.save_run(ALICE, a_run(version=1), None)
    with pytest.raises(VersionConflict) as conflict:
        any_store.save_run(ALICE, a_run(version=1, step_index=5), None)
    assert (conflict.value.expected, conflict.value.found) == (None, 1)


def test_updating_a_run_that_does_not_exist_conflicts(any_store: AnyStore) -> None:
    with pytest.raises(VersionConflict) as conflict:
        any_store.save_run(ALICE, a_run(version=4), 3)
    assert (conflict.value.expected, conflict.value.found) == (3, None)
    assert any_store.load_run(ALICE) is None


def test_racing_writers_from_one_read_let_exactly_one_win(any_store: AnyStore) -> None:
    any_store.save_run(ALICE, a_run(version=1), None)

    def save() -> bool:
        try:
            any_store.save_run(ALICE, a_run(version=2), 1)
        except VersionConflict:
            return False
        return True

    assert sorted(race(8, save)) == [False] * 7 + [True]


def test_two_processes_updating_one_user_lose_no_update(
    any_store: AnyStore, store_spec: StoreSpec
) -> None:
    per_process = 500
    any_store.save_run(ALICE, a_run(version=0), None)
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(3, timeout=WORKER_LIMIT_S)  # both writers and this test
    lost = spawn.Queue()
    writers = [
        spawn.Process(target=bump_runs, args=(store_spec, ALICE, per_process, start, lost))
        for _ in range(2)
    ]
    for writer in writers:
        writer.start()
    try:
        start.wait()
        races = [lost.get(timeout=WORKER_LIMIT_S) for _ in writers]
    finally:
        for writer in writers:
            writer.join(WORKER_LIMIT_S)
            if writer.is_alive():
                writer.kill()
    assert [writer.exitcode for writer in writers] == [0, 0]
    assert all(count >= 0 for count in races)
    run = any_store.load_run(ALICE)
    assert run is not None
    assert run.version == 2 * per_process


# -- history ----------------------------------------------------------------------------------


def finished(run_id: str, completed_at: float) -> CompletedRun:
    return CompletedRun(run_id, "sciatica", completed_at - 900.5, completed_at)


def complete(store: AnyStore, user: str, run: CompletedRun) -> None:
    """Save `user`'s run as finished, its history entry in the same write."""
    current = store.load_run(user)
    version = current.version if current is not None else None
    done = a_run((version or 0) + 1, status=Status.COMPLETED, run_id=run.run_id)
    store.save_run(user, done, version, completed=run)


def test_a_run_saved_as_finished_is_in_history_at_once(any_store: AnyStore) -> None:
    complete(any_store, ALICE, finished("run-1", NOW))
    assert any_store.history(ALICE) == [finished("run-1", NOW)]
    assert any_store.load_run(ALICE).status is Status.COMPLETED


def test_history_keeps_a_run_once_however_often_it_is_recorded(any_store: AnyStore) -> None:
    complete(any_store, ALICE, finished("run-1", NOW + 0.001))
    complete(any_store, ALICE, finished("run-1", NOW + 0.001))
    complete(any_store, ALICE, replace(finished("run-1", NOW), completed_at=NOW + 99))
    assert any_store.history(ALICE) == [finished("run-1", NOW + 0.001)]


def test_a_save_that_loses_its_race_records_no_history(any_store: AnyStore) -> None:
    any_store.save_run(ALICE, a_run(version=1), None)
    with pytest.raises(VersionConflict):
        any_store.save_run(ALICE, a_run(version=2), 0, completed=finished("run-1", NOW))
    assert any_store.history(ALICE) == []


def test_a_completion_that_cannot_be_recorded_saves_nothing(any_store: AnyStore) -> None:
    """A run is never left saved as finished but missing from history, whatever fails."""
    any_store.save_run(ALICE, a_run(version=1), None)
    break_history(any_store, ALICE)
    with pytest.raises(Exception, match=r"history is broken|WRONGTYPE"):
        complete(any_store, ALICE, finished("run-1", NOW))
    run = any_store.load_run(ALICE)
    assert run is not None
    assert (run.version, run.status) == (1, Status.ACTIVE)


def test_history_is_newest_first_limited_and_per_user(any_store: AnyStore) -> None:
    for day in (1, 3, 2):
        complete(any_store, ALICE, finished(f"run-{day}", NOW + day * 86400))
    complete(any_store, BOB, finished("run-bob", NOW))
    assert [run.run_id for run in any_store.history(ALICE)] == ["run-3", "run-2", "run-1"]
    assert [run.run_id for run in any_store.history(ALICE, limit=2)] == ["run-3", "run-2"]
    assert any_store.history(ALICE, limit=0) == []
    assert [run.run_id for run in any_store.history(BOB)] == ["run-bob"]


def test_history_since_gives_every_run_from_that_moment_on_newest_first(
    any_store: AnyStore,
) -> None:
    """More runs than history()'s default limit: a streak over weeks needs every one."""
    days = 30
    for day in range(days):
        complete(any_store, ALICE, finished(f"run-{day}", NOW + day * 86400))
    complete(any_store, BOB, finished("run-bob", NOW + 5 * 86400))
    since = any_store.history_since(ALICE, NOW + 3 * 86400)
    assert [run.run_id for run in since] == [f"run-{day}" for day in reversed(range(3, days))]
    assert since[0] == finished(f"run-{days - 1}", NOW + (days - 1) * 86400)
    assert len(any_store.history_since(ALICE, NOW)) == days > len(any_store.history(ALICE))


def test_history_since_includes_a_run_finished_exactly_then_and_keeps_fractions(
    any_store: AnyStore,
) -> None:
    complete(any_store, ALICE, finished("run-1", NOW + 0.123456789))
    complete(any_store, ALICE, finished("run-2", NOW + 7200.5))
    assert any_store.history_since(ALICE, NOW + 0.123456789) == [
        finished("run-2", NOW + 7200.5),
        finished("run-1", NOW + 0.123456789),
    ]
    assert any_store.history_since(ALICE, NOW + 0.124) == [finished("run-2", NOW + 7200.5)]
    assert any_store.history_since(ALICE, NOW + 7201) == []


def test_history_since_of_a_user_without_history_or_deleted_is_empty(any_store: AnyStore) -> None:
    assert any_store.history_since(ALICE, 0.0) == []
    complete(any_store, ALICE, finished("run-1", NOW))
    any_store.delete_user(ALICE)
    assert any_store.history_since(ALICE, 0.0) == []


# -- forgetting a user (the skill was disabled) -----------------------------------------------


def test_deleting_a_user_forgets_all_of_theirs_and_nothing_of_anyone_else(
    any_store: AnyStore,
) -> None:
    for user, who in ((ALICE, "a"), (BOB, "b")):
        any_store.ensure_user(user, NOW)
        any_store.save_run(user, a_run(), None)
        complete(any_store, user, finished(f"run-{who}", NOW))
        paired(any_store, user, f"token-{who}", f"device-{who}", f"code-{who}")
        any_store.save_voice(user, UserVoice(f'{{"voice": "{who}"}}', 0.3), NOW)
        any_store.save_settings(user, f'{{"who": "{who}"}}', NOW)
        any_store.add_pairing(a_pairing(f"bound-{who}", f"bound-code-{who}"))
        any_store.bind_pairing(f"bound-code-{who}", user, NOW + 1)
        any_store.add_pairing(a_pairing(f"denied-{who}", f"denied-code-{who}"))
        any_store.bind_pairing(f"denied-code-{who}", user, NOW + 1)
    any_store.deny_pairings_of(ALICE, NOW + 2)
    any_store.add_pairing(a_pairing("nobody's", "free-code"))

    any_store.delete_user(ALICE)

    assert any_store.get_user(ALICE) is None
    assert any_store.load_run(ALICE) is None
    assert any_store.history(ALICE) == []
    assert any_store.load_voice(ALICE) == UserVoice()
    assert any_store.load_settings(ALICE) is None
    assert any_store.device("token-a") is None
    assert any_store.pairing("bound-a") is None
    assert any_store.pairing("denied-a") is None
    assert any_store.delete_devices_of(ALICE) == 0
    assert any_store.get_user(BOB) is not None
    assert any_store.load_run(BOB) is not None
    assert len(any_store.history(BOB)) == 1
    assert any_store.load_voice(BOB) == UserVoice('{"voice": "b"}', 0.3)
    assert any_store.load_settings(BOB) == '{"who": "b"}'
    assert any_store.device("token-b") is not None
    assert any_store.pairing("bound-b") is not None
    assert any_store.pairing("nobody's") is not None
    # Alice's freed user codes can be handed out again at once.
    assert any_store.add_pairing(a_pairing("again", "bound-code-a"))


def test_deleting_a_user_removes_their_own_rate_limit_counters(any_store: AnyStore) -> None:
    """A forgotten user leaves no counter behind, under any scope it may have been kept by."""
    mine = [CounterCharge(f"pair-user:{scope}", 60, 0, 1) for scope in counter_scopes(ALICE)]
    theirs = CounterCharge(f"pair-user:{user_counter_scope(BOB)}", 60, 0, 1)
    everyone = CounterCharge("pair-global:all", 60, 0, 1)
    for charge in [*mine, theirs, everyone]:
        assert any_store.charge_counters([charge])
    any_store.delete_user(ALICE)
    assert all(any_store.charge_counters([charge]) for charge in mine)
    assert not any_store.charge_counters([theirs])
    assert not any_store.charge_counters([everyone])


# -- pairing ----------------------------------------------------------------------------------


def test_a_pairing_comes_back_exactly_as_added(any_store: AnyStore) -> None:
    pairing = a_pairing(created_at=NOW + 0.5, expires_at=NOW + 600.5, last_polled_at=NOW + 3.25)
    assert any_store.add_pairing(pairing)
    assert any_store.pairing("d1") == pairing
    assert any_store.pairing("unknown") is None


def test_a_live_user_code_is_never_issued_twice_but_an_expired_one_is(any_store: AnyStore) -> None:
    assert any_store.add_pairing(a_pairing("d1", "same"))
    assert not any_store.add_pairing(a_pairing("d2", "same"))
    assert not any_store.add_pairing(a_pairing("d1", "other"))  # nor a device code
    later = NOW + 600
    assert any_store.add_pairing(a_pairing("d3", "same", created_at=later, expires_at=later + 600))
    assert any_store.pairing("d1") is None  # the expired holder gave its code up entirely
    assert any_store.bind_pairing("same", ALICE, later + 1)
    bound = any_store.pairing("d3")
    assert bound is not None
    assert bound.user_id == ALICE


def test_a_poll_records_its_time_and_the_interval_to_keep(any_store: AnyStore) -> None:
    any_store.add_pairing(a_pairing())
    any_store.record_poll("d1", NOW + 4.5, 10)
    any_store.record_poll("unknown", NOW + 4.5, 10)
    assert any_store.pairing("d1") == a_pairing(last_polled_at=NOW + 4.5, interval=10)
    assert any_store.pairing("unknown") is None


def test_binding_is_first_come_and_only_while_live(any_store: AnyStore) -> None:
    any_store.add_pairing(a_pairing())
    assert any_store.live_pairings(NOW) == 1
    assert not any_store.bind_pairing("u1", ALICE, NOW + 600)  # expired by then
    assert not any_store.bind_pairing("no-such-code", ALICE, NOW + 1)
    answers = race(8, lambda: any_store.bind_pairing("u1", ALICE, NOW + 1))
    assert sorted(answers) == [False] * 7 + [True]
    assert not any_store.bind_pairing("u1", BOB, NOW + 2)
    assert any_store.pairing("d1") == a_pairing(user_id=ALICE, bound_at=NOW + 1)
    assert any_store.live_pairings(NOW + 2) == 0


def test_live_pairings_count_the_unexpired_unbound_and_undenied(any_store: AnyStore) -> None:
    any_store.add_pairing(a_pairing("d1", "u1"))
    any_store.add_pairing(a_pairing("d2", "u2", expires_at=NOW + 100))
    any_store.add_pairing(a_pairing("d3", "u3"))
    any_store.bind_pairing("u3", ALICE, NOW)
    assert any_store.live_pairings(NOW + 99) == 2
    assert any_store.live_pairings(NOW + 100) == 1
    assert any_store.live_pairings(NOW + 600) == 0


def test_denying_refuses_only_the_users_live_unredeemed_pairings(any_store: AnyStore) -> None:
    any_store.add_pairing(a_pairing("d1", "u1"))
    any_store.add_pairing(a_pairing("d2", "u2", expires_at=NOW + 10))
    any_store.add_pairing(a_pairing("d3", "u3"))
    any_store.add_pairing(a_pairing("d4", "u4"))
    for code, user in (("u1", ALICE), ("u2", ALICE), ("u3", BOB)):
        any_store.bind_pairing(code, user, NOW)
    assert any_store.deny_pairings_of(ALICE, NOW + 20) == 1  # d2 has expired
    assert any_store.deny_pairings_of(ALICE, NOW + 20) == 0  # d1 is denied already
    denied = any_store.pairing("d1")
    assert denied is not None
    assert denied.denied
    assert not any_store.redeem_pairing("d1", DeviceRecord("t1", ALICE, NOW, NOW), NOW + 21)
    assert any_store.bind_pairing("u4", ALICE, NOW + 21)  # a new pairing still binds
    for untouched in ("d3", "d4"):
        record = any_store.pairing(untouched)
        assert record is not None
        assert not record.denied


def test_a_pairing_is_swapped_for_its_device_exactly_once(any_store: AnyStore) -> None:
    any_store.add_pairing(a_pairing())
    any_store.bind_pairing("u1", ALICE, NOW)
    device = DeviceRecord("t1", ALICE, NOW + 1.5, NOW + 1.5)
    answers = race(8, lambda: any_store.redeem_pairing("d1", device, NOW + 1.5))
    assert sorted(answers) == [False] * 7 + [True]
    assert any_store.pairing("d1") is None
    assert any_store.device("t1") == device
    # The redeemed pairing no longer holds its user code.
    assert any_store.add_pairing(a_pairing("d2", "u1", created_at=NOW + 2))


def test_a_pairing_is_not_redeemed_unbound_for_someone_else_or_late(
    any_store: AnyStore,
) -> None:
    any_store.add_pairing(a_pairing())
    assert not any_store.redeem_pairing("d1", DeviceRecord("t1", ALICE, NOW, NOW), NOW)
    any_store.bind_pairing("u1", ALICE, NOW)
    assert not any_store.redeem_pairing("d1", DeviceRecord("t1", BOB, NOW, NOW), NOW)
    assert not any_store.redeem_pairing("d1", DeviceRecord("t1", ALICE, NOW, NOW), NOW + 600)
    assert any_store.device("t1") is None
    assert any_store.pairing("d1") is not None


def test_purging_removes_pairings_expired_before_the_cut_and_frees_their_codes(
    any_store: AnyStore,
) -> None:
    any_store.add_pairing(a_pairing("d1", "u1", expires_at=NOW + 10))
    any_store.add_pairing(a_pairing("d2", "u2", expires_at=NOW + 20))
    any_store.bind_pairing("u2", ALICE, NOW)
    any_store.add_pairing(a_pairing("d3", "u3", expires_at=NOW + 30))
    assert any_store.purge_pairings(NOW + 20) == 1
    assert any_store.pairing("d1") is None
    assert any_store.pairing("d2") is not None  # expiring exactly at the cut is kept
    assert any_store.purge_pairings(NOW + 25) == 1
    assert any_store.deny_pairings_of(ALICE, NOW) == 0
    assert any_store.purge_pairings(NOW + 25) == 0
    assert any_store.add_pairing(a_pairing("d4", "u1"))


# -- devices ----------------------------------------------------------------------------------


def test_a_device_is_seen_touched_and_deleted_once(any_store: AnyStore) -> None:
    device = paired(any_store, ALICE, "t1", "d1", "u1")
    any_store.touch_device("t1", NOW + 60.75)
    any_store.touch_device("unknown", NOW + 60.75)
    assert any_store.device("t1") == replace(device, last_seen_at=NOW + 60.75)
    assert any_store.device("unknown") is None
    assert any_store.delete_device("t1")
    assert not any_store.delete_device("t1")
    assert any_store.device("t1") is None


def test_deleting_a_users_devices_leaves_other_users_watches(any_store: AnyStore) -> None:
    paired(any_store, ALICE, "t1", "d1", "u1")
    paired(any_store, ALICE, "t2", "d2", "u2")
    paired(any_store, BOB, "t3", "d3", "u3")
    assert any_store.delete_devices_of(ALICE) == 2
    assert any_store.delete_devices_of(ALICE) == 0
    assert any_store.device("t1") is None
    assert any_store.device("t2") is None
    assert any_store.device("t3") is not None


# -- rate-limit counters ----------------------------------------------------------------------


def test_counters_charge_all_or_nothing(any_store: AnyStore) -> None:
    roomy = CounterCharge("roomy", bucket=60, since=0, limit=10)
    full = CounterCharge("full", bucket=60, since=0, limit=1)
    assert any_store.charge_counters([full])
    assert not any_store.charge_counters([roomy, full])
    # The refused charge left "roomy" untouched: ten more still fit.
    assert all(any_store.charge_counters([roomy]) for _ in range(10))
    assert not any_store.charge_counters([roomy])


def test_concurrent_charges_never_pass_the_limit(any_store: AnyStore) -> None:
    charge = CounterCharge("pair-global:all", bucket=60, since=0, limit=5)
    answers = race(12, lambda: any_store.charge_counters([charge]))
    assert sorted(answers) == [False] * 7 + [True] * 5


def test_a_refund_gives_one_charge_back_and_never_goes_below_zero(any_store: AnyStore) -> None:
    charge = CounterCharge("k", bucket=60, since=0, limit=1)
    any_store.refund_counters([charge])  # nothing charged: nothing to give back
    assert any_store.charge_counters([charge])
    any_store.refund_counters([charge])
    any_store.refund_counters([charge])
    assert any_store.charge_counters([charge])
    assert not any_store.charge_counters([charge])


def test_buckets_count_only_within_their_window(any_store: AnyStore) -> None:
    assert any_store.charge_counters([CounterCharge("k", bucket=0, since=-600, limit=1)])
    assert not any_store.charge_counters([CounterCharge("k", bucket=600, since=0, limit=1)])
    assert any_store.charge_counters([CounterCharge("k", bucket=660, since=60, limit=1)])


def test_old_buckets_are_purged_and_counted(any_store: AnyStore) -> None:
    for bucket in (0, 60, 120):
        any_store.charge_counters([CounterCharge("a", bucket=bucket, since=bucket, limit=9)])
    any_store.charge_counters([CounterCharge("b", bucket=0, since=0, limit=9)])
    assert any_store.purge_counters(older_than=120) == 3
    assert any_store.purge_counters(older_than=120) == 0
    # Purged buckets no longer count against a limit.
    assert any_store.charge_counters([CounterCharge("b", bucket=120, since=-1000, limit=1)])
