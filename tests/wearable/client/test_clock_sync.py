"""The watch's estimate of the server's clock, NTP-style, from its polls' round trips."""

from __future__ import annotations

import pytest

from wearable.client.clock_sync import ClockSync, sample


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
