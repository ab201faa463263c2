"""The coach: the one door both sides use to change a run, safely and with everyone told."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace

import pytest

from shared.clock import ManualClock
from shared.notify.local import LocalNotifier
from shared.notify.wait_room import WaitRoom
from shared.routine.coach import CAS_ATTEMPTS, Coach
from shared.routine.definition import Side
from shared.routine.engine import Event, IllegalEvent, Phase, RoutineEngine, RunState
from shared.routine.settings import Settings, SettingsError
from shared.stores.base import CompletedRun, RetriesExhausted, VersionConflict, user_ref
from shared.stores.sqlite import SQLiteStore
from tests.support.interpreter import run_python
from tests.support.stores import damage_run

USER = "amzn1.ask.account.COACH-TEST"
OTHER = "amzn1.ask.account.COACH-OTHER"
LEAD_IN = 4.0


class RacingStore:
    """A store where another writer gets in first on the next `races` saves.

    Before each losing save, `rival` (if given) is applied to the stored run and saved, the
    way the watch or a second speaker would; then our save fails its compare-and-set.
    """

    def __init__(self, inner: SQLiteStore, races: int, rival: RunState | None = None) -> None:
        self.inner = inner
        self.races = races
        self.rival = rival
        self.saves = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def save_run(
        self,
        user_id: str,
        state: RunState,
        expected_version: int | None,
        completed: CompletedRun | None = None,
        stamp: str | None = None,
    ) -> None:
        self.saves += 1
        if self.races > 0:
            self.races -= 1
            if self.rival is not None:
                stored = self.inner.load_run(user_id)
                rival = replace(self.rival, version=(stored.version if stored else 0) + 1)
                self.inner.save_run(user_id, rival, None if stored is None else stored.version)
                expected_version = None if stored is None else stored.version
            raise VersionConflict(user_id, expected_version, None)
        self.inner.save_run(user_id, state, expected_version, completed, stamp)


@dataclass
class RecordingNotifier(LocalNotifier):
    """A LocalNotifier that also keeps every (user, version) published, in order."""

    published: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def publish(self, user_id: str, version: int) -> None:
        self.published.append((user_id, version))
        super().publish(user_id, version)


def finish_routine(coach: Coach) -> RunState:
    """Start and say next through every step; returns the run on its last step."""
    coach.apply(USER, Event.START, LEAD_IN)
    for _ in range(coach.routine.last_index):
        coach.clock.advance(60)
        coach.apply(USER, Event.NEXT, LEAD_IN)
    state = coach.store.load_run(USER)
    assert state.step_index == coach.routine.last_index
    return state


# -- compare-and-set retries -------------------------------------------------------------


def test_apply_retries_after_losing_a_race(
    store: SQLiteStore, engine: RoutineEngine, clock: ManualClock
) -> None:
    racing = RacingStore(store, races=1)
    coach = Coach(racing, engine, clock)
    outcome = coach.apply(USER, Event.START, LEAD_IN)
    assert racing.saves == 2
    assert outcome.view.phase is Phase.ANNOUNCING
    assert store.load_run(USER) == outcome.transition.state
    assert store.load_run(USER).version == 1


def test_a_retry_applies_the_event_to_the_winners_run(
    store: SQLiteStore, engine: RoutineEngine, clock: ManualClock
) -> None:
    coach = Coach(store, engine, clock)
    coach.apply(USER, Event.START, LEAD_IN)
    clock.advance(LEAD_IN + 5)
    # The watch said "next" at the same moment and won: its step 1 is stored first.
    watch_next = engine.apply(store.load_run(USER), Event.NEXT, clock.now(), LEAD_IN).state
    racing = RacingStore(store, races=1, rival=watch_next)
    outcome = Coach(racing, engine, clock).apply(USER, Event.NEXT, LEAD_IN)
    assert outcome.transition.state.step_index == 2
    assert store.load_run(USER).step_index == 2
    assert store.load_run(USER).version == 3


def test_apply_gives_up_after_losing_every_race_and_says_so(
    store: SQLiteStore, engine: RoutineEngine, clock: ManualClock
) -> None:
    racing = RacingStore(store, races=CAS_ATTEMPTS)
    with pytest.raises(RetriesExhausted) as gave_up:
        Coach(racing, engine, clock).apply(USER, Event.START, LEAD_IN)
    assert racing.saves == CAS_ATTEMPTS
    assert store.load_run(USER) is None
    assert isinstance(gave_up.value, VersionConflict)  # callers that retry still catch it
    assert (gave_up.value.user_id, gave_up.value.attempts) == (USER, CAS_ATTEMPTS)
    message = str(gave_up.value)
    assert f"after {CAS_ATTEMPTS} attempts" in message
    assert f"user {user_ref(USER)}" in message
    assert USER not in message  # messages end up in logs, which never carry the id
    assert "None, found None" not in message


def test_a_view_gives_up_the_same_way(
    store: SQLiteStore, engine: RoutineEngine, clock: ManualClock
) -> None:
    coach = Coach(store, engine, clock)
    last = finish_routine(coach)
    clock.set(last.step_end + 1)  # the view must save the completion, and loses every race
    with pytest.raises(RetriesExhausted, match=f"after {CAS_ATTEMPTS} attempts"):
        Coach(RacingStore(store, races=CAS_ATTEMPTS), engine, clock).view(USER)


def test_an_event_that_changes_nothing_writes_nothing(
    store: SQLiteStore, engine: RoutineEngine, clock: ManualClock
) -> None:
    racing = RacingStore(store, races=0)
    coach = Coach(racing, engine, clock)
    coach.apply(USER, Event.START, LEAD_IN)
    coach.apply(USER, Event.TIME_LEFT)
    coach.view(USER)
    assert racing.saves == 1


def test_an_illegal_event_is_raised_and_stores_nothing(coach: Coach) -> None:
    with pytest.raises(IllegalEvent):
        coach.apply(USER, Event.NEXT)
    assert coach.store.load_run(USER) is None


# -- history -----------------------------------------------------------------------------


def test_running_past_the_end_is_recorded_in_history_exactly_once(coach: Coach) -> None:
    last = finish_routine(coach)
    assert coach.history(USER) == []
    coach.clock.set(last.step_end + 30)
    assert coach.view(USER).phase is Phase.COMPLETED
    coach.clock.advance(30)
    coach.view(USER)
    coach.apply(USER, Event.TIME_LEFT)
    (done,) = coach.history(USER)
    assert (done.run_id, done.completed_at) == (last.run_id, last.step_end)
    assert done.started_at == coach.store.load_run(USER).started_at


def test_saying_next_on_the_last_step_records_the_run(coach: Coach) -> None:
    last = finish_routine(coach)
    coach.clock.advance(1)
    outcome = coach.apply(USER, Event.NEXT)
    assert outcome.transition.completed
    (done,) = coach.history(USER)
    assert (done.run_id, done.completed_at) == (last.run_id, coach.clock.now())


@pytest.mark.parametrize("event", [Event.START, Event.START_OVER])
def test_a_finished_run_is_recorded_even_if_a_new_one_starts_first(
    coach: Coach, event: Event
) -> None:
    last = finish_routine(coach)
    coach.clock.set(last.step_end + 3600)
    outcome = coach.apply(USER, event, LEAD_IN)
    assert outcome.transition.state.run_id != last.run_id
    assert [run.run_id for run in coach.history(USER)] == [last.run_id]
    assert coach.history(USER)[0].completed_at == last.step_end


def test_a_run_started_over_midway_is_not_recorded(coach: Coach) -> None:
    coach.apply(USER, Event.START, LEAD_IN)
    coach.clock.advance(20)
    coach.apply(USER, Event.START_OVER, LEAD_IN)
    assert coach.history(USER) == []


# -- telling the other side --------------------------------------------------------------


def test_every_change_is_published_and_no_op_is_not(
    store: SQLiteStore, engine: RoutineEngine, clock: ManualClock
) -> None:
    notifier = RecordingNotifier()
    coach = Coach(store, engine, clock, notifier)
    coach.apply(USER, Event.START, LEAD_IN)
    clock.advance(LEAD_IN + 5)
    coach.apply(USER, Event.TIME_LEFT)
    coach.apply(USER, Event.PAUSE)
    coach.apply(USER, Event.PAUSE)
    coach.view(USER)
    coach.apply(USER, Event.RESUME, LEAD_IN)
    assert notifier.published == [(USER, 1), (USER, 2), (USER, 3)]


def test_completion_noticed_by_a_view_is_published(
    store: SQLiteStore, engine: RoutineEngine, clock: ManualClock
) -> None:
    notifier = RecordingNotifier()
    coach = Coach(store, engine, clock, notifier)
    last = finish_routine(coach)
    clock.set(last.step_end + 1)
    coach.view(USER)
    assert notifier.published[-1] == (USER, last.version + 1)


def test_forgetting_a_user_deletes_them_and_wakes_their_watches(
    store: SQLiteStore, engine: RoutineEngine, clock: ManualClock
) -> None:
    notifier = RecordingNotifier()
    coach = Coach(store, engine, clock, notifier)
    coach.user(USER)
    coach.apply(USER, Event.START, LEAD_IN)
    coach.forget(USER)
    assert store.get_user(USER) is None
    assert store.load_run(USER) is None
    assert notifier.published[-1] == (USER, -1)


def test_user_is_met_once_and_the_safety_note_remembered(coach: Coach) -> None:
    met = coach.user(USER)
    assert met.safety_heard_at is None
    coach.clock.advance(10)
    coach.mark_safety_heard(USER)
    again = coach.user(USER)
    assert again.created_at == met.created_at
    assert again.safety_heard_at == coach.clock.now()


# -- the local notifier ------------------------------------------------------------------


class Waiting:
    """A wait on its own thread (a watch opened, then wait), so a test can act meanwhile."""

    def __init__(self, notifier: LocalNotifier, user: str, seen: int, timeout: float = 30) -> None:
        self.answer: bool | None = None
        held = notifier.waiting()
        self._thread = threading.Thread(
            target=self._wait, args=(notifier, user, seen, timeout), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while notifier.waiting() == held:
            assert time.monotonic() < deadline, "the wait never started"
            time.sleep(0.001)

    def _wait(self, notifier: LocalNotifier, user: str, seen: int, timeout: float) -> None:
        self.answer = notifier.wait(user, seen, timeout)

    def woke(self) -> bool | None:
        self._thread.join(31)
        return self.answer


def test_local_notifier_wakes_a_waiter_when_another_thread_publishes() -> None:
    notifier = LocalNotifier()
    waiting = Waiting(notifier, USER, seen=3)
    notifier.publish(USER, 4)
    assert waiting.woke() is True


def test_local_notifier_returns_false_when_nothing_new_is_published() -> None:
    notifier = LocalNotifier()
    notifier.publish(USER, 3)
    notifier.publish("someone-else", 9)
    assert notifier.wait(USER, 3, timeout=0.05) is False


def test_a_change_between_opening_a_watch_and_waiting_answers_the_wait_at_once() -> None:
    """The long poll's order: watch, read the run, wait; a change after the read is caught."""
    notifier = LocalNotifier()
    with notifier.watching(USER, 4):
        notifier.publish(USER, 5)  # lands after the caller's read, before its wait
        assert notifier.wait(USER, 4, timeout=30) is True


def test_a_change_the_caller_already_read_wakes_nothing() -> None:
    notifier = LocalNotifier()
    with notifier.watching(USER, 5):
        notifier.publish(USER, 5)  # the publish of the very version the caller read
        notifier.publish(USER, 4)  # and a late one
        assert notifier.wait(USER, 5, timeout=0.05) is False


def test_a_change_from_before_the_watch_is_not_remembered() -> None:
    """Nothing is kept for users nobody waits on: an old version (or a late one) wakes no one."""
    notifier = LocalNotifier()
    notifier.publish(USER, 7)  # e.g. the last change of a run since forgotten
    assert notifier.wait(USER, 1, timeout=0.05) is False  # a new run's poll is not fooled


def test_forgetting_a_user_wakes_their_waits() -> None:
    notifier = LocalNotifier()
    waiting = Waiting(notifier, USER, seen=12)
    notifier.publish(USER, -1)
    assert waiting.woke() is True


def test_one_users_change_wakes_only_that_users_waits() -> None:
    notifier = LocalNotifier()
    others = [Waiting(notifier, f"other-{n}", seen=1, timeout=0.5) for n in range(20)]
    mine = Waiting(notifier, USER, seen=1)
    notifier.publish(USER, 2)
    assert mine.woke() is True
    assert [other.woke() for other in others] == [False] * 20


def test_a_change_sets_the_events_of_its_users_watches_and_of_no_others() -> None:
    """Each watch has its own event: 500 others waiting cost a change nothing."""
    room = WaitRoom()
    with ExitStack() as stack:
        mine = [stack.enter_context(room.watch(USER, 1)) for _ in range(3)]
        others = [stack.enter_context(room.watch(f"other-{n}", 1)) for n in range(500)]
        assert room.deliver(USER, 2) == 3
        assert all(watch.event.is_set() for watch in mine)
        assert not any(watch.event.is_set() for watch in others)


def test_the_notifier_holds_no_state_for_users_nobody_waits_on() -> None:
    notifier = LocalNotifier()
    with notifier.watching(USER, 0):
        for number in range(20_000):
            notifier.publish(f"user-{number}", number + 1)
        assert notifier.users_held() == 1
    assert notifier.users_held() == 0
    assert notifier.waiting() == 0


LOCAL_GEVENT_WAITERS = """
from gevent import monkey; monkey.patch_all()
import gevent
from shared.notify.local import LocalNotifier
from shared.notify.wait_room import WaitRoom
notifier = LocalNotifier()
mine = [gevent.spawn(notifier.wait, "alice", 1, 10) for _ in range(200)]
theirs = [gevent.spawn(notifier.wait, f"bob-{n}", 1, 0.5) for n in range(200)]
while notifier.waiting() < 400:
    gevent.sleep(0.001)
notifier.publish("alice", 2)
print(sum(wait.get() for wait in mine), sum(wait.get() for wait in theirs))
"""


def test_under_gevent_a_change_wakes_its_users_greenlets_and_no_others() -> None:
    """gunicorn's gevent workers patch threading: the waits must park greenlets, not block."""
    printed = run_python(LOCAL_GEVENT_WAITERS, timeout=60)
    assert printed.split() == ["200", "0"]


def test_a_run_that_no_longer_decodes_does_not_lock_its_user_out(
    coach: Coach, store: SQLiteStore
) -> None:
    coach.apply("alice", Event.START)
    damage_run(store, "alice", '{"format": 1, "routine_id": "sciatica", "surprise": true}')
    assert coach.view("alice").phase is Phase.IDLE
    started = coach.apply("alice", Event.START)
    assert started.view.phase is Phase.ANNOUNCING
    assert started.view.step_index == 0


# -- the person's own settings -----------------------------------------------------------------


def test_a_person_without_settings_gets_the_defaults(coach: Coach) -> None:
    assert coach.settings(USER) == Settings()


def test_a_settings_change_is_kept_and_the_rest_stays(coach: Coach) -> None:
    coach.change_settings(USER, hold_seconds=45)
    changed = coach.change_settings(USER, first_side="right")
    assert changed == Settings(hold_seconds=45, first_side=Side.RIGHT)
    assert coach.settings(USER) == changed
    assert coach.settings(OTHER) == Settings()


def test_a_wrong_change_keeps_what_was_there(coach: Coach) -> None:
    coach.change_settings(USER, hold_seconds=45)
    with pytest.raises(SettingsError, match="hold_seconds"):
        coach.change_settings(USER, hold_seconds=90)
    assert coach.settings(USER) == Settings(hold_seconds=45)


def test_damaged_settings_read_as_the_defaults_until_changed(
    coach: Coach, caplog: pytest.LogCaptureFixture
) -> None:
    coach.store.save_settings(USER, '{"hold_seconds": 5}', 0.0)
    assert coach.settings(USER) == Settings()
    assert "cannot be read" in caplog.text
    assert coach.change_settings(USER, holds_per_side=2) == Settings(holds_per_side=2)


def test_forgetting_a_person_forgets_their_settings(coach: Coach) -> None:
    coach.change_settings(USER, hold_seconds=45)
    coach.forget(USER)
    assert coach.store.load_settings(USER) is None
