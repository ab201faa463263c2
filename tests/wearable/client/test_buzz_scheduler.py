"""The watch's timing: an NTP-style offset estimate, and a scheduler that fires each cue once."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import pytest

from wearable.client.buzz_scheduler import Buzz, BuzzScheduler

# -- clock offset -------------------------------------------------------------------------------


# -- the scheduler ------------------------------------------------------------------------------


@pytest.fixture
def fired() -> queue.Queue[Buzz[str]]:
    return queue.Queue()


@pytest.fixture
def scheduler(fired: queue.Queue[Buzz[str]]) -> Iterator[BuzzScheduler[str]]:
    scheduler: BuzzScheduler[str] = BuzzScheduler(time.monotonic, fired.put)
    scheduler.start()
    yield scheduler
    scheduler.stop()


def test_a_due_cue_fires_once_even_if_the_next_answer_repeats_it(
    scheduler: BuzzScheduler[str], fired: queue.Queue[Buzz[str]]
) -> None:
    now = time.monotonic()
    scheduler.replace([(now, "hold_start")])
    assert fired.get(timeout=5).cue == "hold_start"
    scheduler.replace([(now, "hold_start")])  # the same cue in a later poll answer
    assert scheduler.pending() == []
    assert fired.empty()


def test_a_new_schedule_replaces_the_old_one(
    scheduler: BuzzScheduler[str], fired: queue.Queue[Buzz[str]]
) -> None:
    now = time.monotonic()
    scheduler.replace([(now + 3600, "hold_end")])
    scheduler.replace([(now, "routine_complete")])  # "next" moved everything
    assert fired.get(timeout=5).cue == "routine_complete"
    assert scheduler.pending() == []


def test_a_cue_far_too_late_is_skipped(
    scheduler: BuzzScheduler[str], fired: queue.Queue[Buzz[str]]
) -> None:
    now = time.monotonic()
    scheduler.replace([(now - 60, "stale"), (now, "fresh")])
    assert fired.get(timeout=5).cue == "fresh"
    assert fired.empty()


def test_cues_fire_in_time_order(
    scheduler: BuzzScheduler[str], fired: queue.Queue[Buzz[str]]
) -> None:
    now = time.monotonic()
    scheduler.replace([(now - 0.01, "second"), (now - 0.02, "first")])
    assert [fired.get(timeout=5).cue for _ in range(2)] == ["first", "second"]


class SteppedClock:
    """A test clock that moves only when told, or by `step` at every reading."""

    def __init__(self, now: float, step: float = 0.0) -> None:
        self.now = now
        self.step = step
        self.reads = 0
        self.read_often = threading.Event()
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.reads += 1
            if self.reads >= 200:
                self.read_often.set()
            self.now += self.step
            return self.now

    def set(self, now: float) -> None:
        with self._lock:
            self.now = now


def test_the_last_moments_before_a_cue_are_spun_and_it_never_fires_early(
    fired: queue.Queue[Buzz[str]],
) -> None:
    clock = SteppedClock(100.0, step=0.0001)  # 0.1 ms a reading: 2 ms of spin is 20 readings
    scheduler: BuzzScheduler[str] = BuzzScheduler(clock, fired.put, spin_s=0.003)
    scheduler.start()
    try:
        scheduler.replace([(100.002, "hold_end")])
        buzz = fired.get(timeout=5)
    finally:
        scheduler.stop()
    assert buzz.fired >= buzz.due
    assert buzz.fired - buzz.due < 0.001
    assert clock.reads > 10  # it spun on the clock instead of sleeping past the moment


def test_a_clock_that_stalls_just_before_a_cue_does_not_fire_it_early(
    fired: queue.Queue[Buzz[str]],
) -> None:
    clock = SteppedClock(100.0)
    scheduler: BuzzScheduler[str] = BuzzScheduler(clock, fired.put, spin_s=0.003)
    scheduler.start()
    try:
        scheduler.replace([(100.001, "hold_end")])
        assert clock.read_often.wait(timeout=5)  # spun, gave up, and sleeps in short waits
        assert fired.empty()
        clock.set(100.001)
        assert fired.get(timeout=5).cue == "hold_end"
    finally:
        scheduler.stop()


def test_a_schedule_replaced_while_spinning_fires_the_new_cue_only(
    fired: queue.Queue[Buzz[str]],
) -> None:
    clock = SteppedClock(100.0)
    scheduler: BuzzScheduler[str] = BuzzScheduler(clock, fired.put, spin_s=0.003)
    scheduler.start()
    try:
        scheduler.replace([(100.001, "moved")])
        assert clock.read_often.wait(timeout=5)
        scheduler.replace([(100.5, "later"), (100.0, "now")])
        assert fired.get(timeout=5).cue == "now"
        clock.set(100.5)
        assert fired.get(timeout=5).cue == "later"
        assert fired.empty()
    finally:
        scheduler.stop()
