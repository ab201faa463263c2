"""The long poll's waiting rules, on a fake notifier and a fake monotonic clock: no real waits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared.clock import ManualClock
from shared.notify.local import LocalNotifier
from shared.routine.coach import Coach
from shared.routine.definition import parse_routine
from shared.routine.engine import Announcement, Event, RoutineEngine, Said
from shared.stores.sqlite import SQLiteStore
from wearable.api.cue_payload import etag_for
from wearable.api.long_poll import FALLBACK_POLL_S, SPURIOUS_WAKES, wait_for_change

USER = "amzn1.ask.account.POLLER"
ONE_STEP = """
id = "one-step"
title = "One step"
safety_note = "Gently."

[[steps]]
id = "only"
title = "The only stretch"
say = "Hold."
hold = { seconds = 10, side = "none" }
"""


class FakeTime:
    """A monotonic clock that moves only when something waits on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


class FakeNotifier:
    """Never really blocks: records each wait; a wake is at once, a timeout lets time pass.

    `wakes` says what each wait answers, in turn (the last answer repeats); `listening`
    is what the notifier says about hearing other instances, also in turn.
    """

    def __init__(
        self, time: FakeTime, wakes: list[bool] | None = None, listening: list[bool] | None = None
    ) -> None:
        self.time = time
        self.wakes = wakes or [False]
        self.hearing = listening or [True]
        self.waits: list[float] = []
        self.watches = 0
        self.closed = False

    def publish(self, user_id: str, version: int) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    @contextmanager
    def watching(self, user_id: str, seen_version: int) -> Iterator[None]:
        self.watches += 1
        yield

    @property
    def listening(self) -> bool:
        return self.hearing.pop(0) if len(self.hearing) > 1 else self.hearing[0]

    def wait(self, user_id: str, seen_version: int, timeout: float) -> bool:
        self.waits.append(timeout)
        woke = self.wakes.pop(0) if len(self.wakes) > 1 else self.wakes[0]
        if not woke:
            self.time.now += timeout
        return woke


class TimePassingNotifier(FakeNotifier):
    """Nobody publishes: each wait times out, and both clocks move on by its length."""

    def __init__(self, time: FakeTime, clock: ManualClock) -> None:
        super().__init__(time)
        self.clock = clock

    def wait(self, user_id: str, seen_version: int, timeout: float) -> bool:
        self.waits.append(timeout)
        self.clock.advance(timeout)
        self.time.now += timeout
        return False


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def poll_coach(tmp_path: Path, clock: ManualClock) -> Coach:
    engine = RoutineEngine(parse_routine(ONE_STEP))
    return Coach(SQLiteStore(tmp_path / "poll.sqlite3"), engine, clock)


def test_with_no_change_the_poll_ends_when_its_wait_does(
    poll_coach: Coach, fake_time: FakeTime
) -> None:
    poll_coach.notifier = notifier = FakeNotifier(fake_time)
    seen = poll_coach.view(USER)
    view = wait_for_change(poll_coach, USER, seen, 20, monotonic=fake_time.monotonic)
    assert view.version == seen.version
    assert sum(notifier.waits) == pytest.approx(20)


def test_a_notifier_that_keeps_waking_without_a_change_is_not_spun_on(
    poll_coach: Coach, fake_time: FakeTime
) -> None:
    poll_coach.notifier = notifier = FakeNotifier(fake_time, wakes=[True])
    seen = poll_coach.view(USER)
    wait_for_change(
        poll_coach, USER, seen, 10, monotonic=fake_time.monotonic, pause=fake_time.pause
    )
    assert len(notifier.waits) == SPURIOUS_WAKES + 1  # trusted a few times, then a timer
    assert fake_time.pauses == [FALLBACK_POLL_S] * round(10 / FALLBACK_POLL_S)


def test_after_a_reconnect_wakes_everyone_the_poll_trusts_the_notifier_again(
    poll_coach: Coach, fake_time: FakeTime
) -> None:
    """A Redis reconnect wakes every waiter once; listening again, it is waited on again."""
    poll_coach.notifier = notifier = FakeNotifier(fake_time, wakes=[True, False])
    seen = poll_coach.view(USER)
    wait_for_change(
        poll_coach, USER, seen, 20, monotonic=fake_time.monotonic, pause=fake_time.pause
    )
    assert fake_time.pauses == []  # no re-reading the store on a timer
    assert len(notifier.waits) == 2
    assert sum(notifier.waits[1:]) == pytest.approx(20)


def test_while_the_notifier_is_deaf_the_store_is_read_until_it_hears_again(
    poll_coach: Coach, fake_time: FakeTime
) -> None:
    # Woken as the subscription drops, then deaf for three rounds, then listening again.
    poll_coach.notifier = notifier = FakeNotifier(
        fake_time, wakes=[True, False], listening=[False, False, False, True]
    )
    seen = poll_coach.view(USER)
    wait_for_change(
        poll_coach, USER, seen, 20, monotonic=fake_time.monotonic, pause=fake_time.pause
    )
    assert fake_time.pauses == [FALLBACK_POLL_S] * 3
    assert len(notifier.waits) == 2
    assert notifier.waits[1] == pytest.approx(20 - 3 * FALLBACK_POLL_S)


def test_every_round_opens_its_watch_before_reading_the_run(
    poll_coach: Coach, fake_time: FakeTime
) -> None:
    """A change saved right after the poll's read, before its wait, still wakes it at once."""
    poll_coach.notifier = notifier = AnsweredNotifier()
    seen = poll_coach.view(USER)
    read = poll_coach.store.load_run
    changed = []

    def read_then_someone_saves(user_id: str) -> object:
        state = read(user_id)
        if not changed:  # the voice's change lands just after this read
            changed.append(True)
            poll_coach.apply(USER, Event.START)
        return state

    poll_coach.store.load_run = read_then_someone_saves  # type: ignore[method-assign]
    view = wait_for_change(poll_coach, USER, seen, 30, monotonic=fake_time.monotonic)
    assert view.version == seen.version + 1
    assert notifier.answers == [True]  # the change answered the wait; no timeout did


class AnsweredNotifier(LocalNotifier):
    """A real LocalNotifier that keeps each wait's answer."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[bool] = []

    def wait(self, user_id: str, seen_version: int, timeout: float) -> bool:
        answer = super().wait(user_id, seen_version, timeout)
        self.answers.append(answer)
        return answer


def test_a_run_on_its_last_step_is_woken_when_it_completes(
    poll_coach: Coach, fake_time: FakeTime, clock: ManualClock
) -> None:
    poll_coach.apply(USER, Event.START, lead_in=2.0)
    poll_coach.notifier = notifier = TimePassingNotifier(fake_time, clock)
    seen = poll_coach.view(USER)
    view = wait_for_change(poll_coach, USER, seen, 30, monotonic=fake_time.monotonic)
    assert notifier.waits[0] == pytest.approx(2.0 + 10.0, abs=0.05)  # lead-in + hold, not 30
    assert view.phase.value == "completed"
    assert view.version == seen.version + 1


def test_a_change_already_published_returns_at_once(poll_coach: Coach, fake_time: FakeTime) -> None:
    seen = poll_coach.view(USER)
    poll_coach.apply(USER, Event.START)  # published before the poll began to wait
    view = wait_for_change(poll_coach, USER, seen, 30, monotonic=fake_time.monotonic)
    assert view.version == seen.version + 1
    assert fake_time.now == 0.0


def test_a_stopping_server_answers_a_waiting_poll_at_once(
    poll_coach: Coach, fake_time: FakeTime
) -> None:
    poll_coach.notifier = notifier = FakeNotifier(fake_time, wakes=[True])
    notifier.close()  # SIGTERM: the notifier wakes every waiter
    seen = poll_coach.view(USER)
    view = wait_for_change(
        poll_coach, USER, seen, 25, monotonic=fake_time.monotonic, pause=fake_time.pause
    )
    assert view.version == seen.version
    assert fake_time.pauses == []  # no falling back to re-reading the store until the end
    assert fake_time.now == 0.0


TWO_STEPS = ONE_STEP.replace('hold = { seconds = 10, side = "none" }', "hold = { seconds = 10 }")


def test_a_hands_free_reply_wakes_the_poll_when_it_reaches_its_next_step(
    tmp_path: Path, fake_time: FakeTime, clock: ManualClock
) -> None:
    """A hands-free reply goes from step to step by the clock, with no new version: the poll
    must still answer then, so the face shows the step being said."""
    engine = RoutineEngine(parse_routine(TWO_STEPS))  # "only", left then right
    coach = Coach(SQLiteStore(tmp_path / "poll.sqlite3"), engine, clock)
    coach.change_settings(USER, flow="hands_free")

    def two_in_a_row(announcement: Announcement) -> tuple[Said, ...]:
        return (Said(0.0, 2.0), Said(15.0, 17.0))  # step 2 begins 3 s after step 1's hold

    coach.apply(USER, Event.START, two_in_a_row)
    coach.notifier = notifier = TimePassingNotifier(fake_time, clock)
    seen = coach.view(USER)
    assert seen.step_index == 0
    view = wait_for_change(coach, USER, seen, 30, monotonic=fake_time.monotonic)
    assert notifier.waits[0] == pytest.approx(15.0, abs=0.05)  # when step 2 begins, not 30
    assert view.step_index == 1
    assert view.version == seen.version  # nothing was saved: the clock moved the reply on
    assert etag_for(USER, view) != etag_for(USER, seen)
