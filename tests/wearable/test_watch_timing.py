"""The watch's timing: an NTP-style offset estimate, and a scheduler that fires each cue once."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator

import pytest

from wearable.client.buzz_scheduler import Buzz, BuzzScheduler
from wearable.client.clock_sync import ClockSync, sample

# -- clock offset -------------------------------------------------------------------------------


def test_a_symmetric_round_trip_gives_the_exact_offset() -> None:
    # Watch 7 s fast; 20 ms each way; the server held the request 3 s (a long poll).
    t0 = 1_007.000
    t1 = 1_000.020
    t2 = 1_003.020
    t3 = 1_010.040
    estimate = sample(t0, t1, t2, t3)
    assert estimate.offset_s == pytest.approx(-7.0)
    assert estimate.delay_s == pytest.approx(0.040)  # the long poll's 3 s is not counted


def test_an_asymmetric_trip_errs_by_at_most_half_the_delay() -> None:
    # 5 ms out, 95 ms back: the estimate is off by 45 ms, within delay / 2 = 50 ms.
    estimate = sample(100.000, 100.005, 100.005, 100.100)
    assert abs(estimate.offset_s - 0.0) <= estimate.delay_s / 2


def test_the_quickest_recent_sample_is_trusted() -> None:
    sync = ClockSync(size=3)
    sync.add(0.0, 10.55, 10.55, 0.60)  # 600 ms round trip, lopsided: reads +10.25
    sync.add(1.0, 11.01, 11.01, 1.02)  # 20 ms: offset +10.0 exactly
    assert sync.offset_s == pytest.approx(10.0)
    assert sync.best.delay_s == pytest.approx(0.02)


def test_old_samples_are_forgotten() -> None:
    sync = ClockSync(size=2)
    sync.add(0.0, 5.0, 5.0, 0.0)  # instant, offset 5
    sync.add(1.0, 3.1, 3.1, 1.2)  # the clock was corrected: offset 2
    sync.add(2.0, 4.1, 4.1, 2.2)
    assert sync.offset_s == pytest.approx(2.0)


def test_with_no_sample_the_offset_is_zero() -> None:
    sync = ClockSync()
    assert not sync.known
    assert sync.offset_s == 0.0


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
