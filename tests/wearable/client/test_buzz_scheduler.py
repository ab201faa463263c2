"""The watch's timing: an NTP-style offset estimate, and a scheduler that fires each cue once."""

from __future__ import annotations

import queue
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
