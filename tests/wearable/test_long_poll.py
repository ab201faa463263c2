"""The long poll's waiting rules, on a fake notifier and a fake monotonic clock: no real waits."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.clock import ManualClock
from shared.coach import Coach
from shared.engine import Event, RoutineEngine
from shared.routine import parse_routine
from shared.sqlite_store import SQLiteStore
from wearable.long_poll import FALLBACK_POLL_S, wait_for_change

USER = "amzn1.ask.account.POLLER"
ONE_STEP = """
id = "one-step"
title = "One step"
safety_note = "Gently."

[[steps]]
id = "only"
title = "The only stretch"
say = "Hold."
hold = { seconds = 10 }
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
    """Never really blocks: records each wait; a wake is at once, a timeout lets time pass."""

    def __init__(self, time: FakeTime, woke: bool = False) -> None:
        self.time = time
        self.woke = woke
        self.waits: list[float] = []
        self.closed = False

    def publish(self, user_id: str, version: int) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def wait(self, user_id: str, seen_version: int, timeout: float) -> bool:
        self.waits.append(timeout)
        if not self.woke:
            self.time.now += timeout
        return self.woke


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


def test_a_notifier_that_wakes_without_a_change_is_not_spun_on(
    poll_coach: Coach, fake_time: FakeTime
) -> None:
    poll_coach.notifier = notifier = FakeNotifier(fake_time, woke=True)
    seen = poll_coach.view(USER)
    wait_for_change(
        poll_coach, USER, seen, 10, monotonic=fake_time.monotonic, pause=fake_time.pause
    )
    assert len(notifier.waits) == 1  # trusted once, then the store is read on a timer
    assert fake_time.pauses == [FALLBACK_POLL_S] * round(10 / FALLBACK_POLL_S)


def test_a_run_on_its_last_step_is_woken_when_it_completes(
    poll_coach: Coach, fake_time: FakeTime, clock: ManualClock
) -> None:
    poll_coach.apply(USER, Event.START, lead_in=2.0)
    poll_coach.notifier = notifier = FakeNotifier(fake_time)
    seen = poll_coach.view(USER)

    def wait_and_let_the_hold_run_out(user_id: str, seen_version: int, timeout: float) -> bool:
        notifier.waits.append(timeout)
        clock.advance(timeout)
        return False

    notifier.wait = wait_and_let_the_hold_run_out  # type: ignore[method-assign]
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
    poll_coach.notifier = notifier = FakeNotifier(fake_time, woke=True)
    notifier.close()  # SIGTERM: the notifier wakes every waiter
    seen = poll_coach.view(USER)
    view = wait_for_change(
        poll_coach, USER, seen, 25, monotonic=fake_time.monotonic, pause=fake_time.pause
    )
    assert view.version == seen.version
    assert fake_time.pauses == []  # no falling back to re-reading the store until the end
    assert fake_time.now == 0.0
