"""The watch's estimate of the server's clock, NTP-style, from its answers' four timestamps."""

from __future__ import annotations

import random

import pytest

from wearable.client.clock_sync import TOLERANCE, ClockSync, sample


class Path:
    """A network and a watch clock: server time in, the four stamps of one exchange out."""

    def __init__(self, offset_s: float, drift: float = 0.0, seed: int = 1) -> None:
        self.offset_s = offset_s  # watch minus server at server time 0
        self.drift = drift  # watch seconds gained per server second
        self.rng = random.Random(seed)

    def watch(self, server_s: float) -> float:
        return server_s + self.offset_s + self.drift * server_s

    def true_offset(self, server_s: float) -> float:
        """Server minus watch at that moment: what the filter should say."""
        return server_s - self.watch(server_s)

    def exchange(
        self, sync: ClockSync, at_s: float, up_s: float, down_s: float, hold_s: float = 0.0
    ) -> float:
        """One request and its answer; the server time it came back at."""
        t1 = at_s + up_s
        t2 = t1 + hold_s
        back = t2 + down_s
        sync.add(
            self.watch(at_s), round(t1 * 1000) / 1000, round(t2 * 1000) / 1000, self.watch(back)
        )
        return back


def test_a_symmetric_round_trip_gives_the_exact_offset() -> None:
    # Watch 7 s fast; 20 ms each way; the server held the request 3 s (a long poll).
    t0 = 1_007.000
    t1 = 1_000.020
    t2 = 1_003.020
    t3 = 1_010.040
    estimate = sample(t0, t1, t2, t3)
    assert estimate.offset_s == pytest.approx(-7.0)
    assert estimate.delay_s == pytest.approx(0.040)  # the long poll's 3 s is not counted


def test_a_long_polls_wait_on_the_server_does_not_widen_the_estimate() -> None:
    sync = ClockSync()
    Path(offset_s=7.0).exchange(sync, 1_000.0, 0.020, 0.020, hold_s=25.0)
    assert sync.offset_s == pytest.approx(-7.0, abs=1e-6)
    assert sync.error_s == pytest.approx(0.0205, abs=1e-6)  # 20 ms each way, plus rounding


def test_an_asymmetric_trip_errs_by_at_most_half_the_delay() -> None:
    # 5 ms out, 95 ms back: the estimate is off by 45 ms, within delay / 2 = 50 ms.
    estimate = sample(100.000, 100.005, 100.005, 100.100)
    assert abs(estimate.offset_s - 0.0) <= estimate.delay_s / 2


def test_a_path_always_slower_one_way_errs_by_half_its_asymmetry() -> None:
    # 80 ms up, 20 ms back on every trip: no filter can tell, and the error is (80 - 20) / 2.
    path = Path(offset_s=-3.0)
    sync = ClockSync()
    for i in range(20):
        path.exchange(sync, 100.0 + 10 * i, 0.080, 0.020)
    assert abs(sync.offset_s - 3.0) == pytest.approx(0.030, abs=0.001)
    assert abs(sync.offset_s - 3.0) <= sync.error_s


def test_the_quickest_way_up_and_the_quickest_way_back_combine() -> None:
    # Neither trip is quick both ways, but one was quick up and the other quick back.
    path = Path(offset_s=4.0)
    sync = ClockSync()
    path.exchange(sync, 10.0, 0.010, 0.190)
    path.exchange(sync, 20.0, 0.190, 0.010)
    assert sync.offset_s == pytest.approx(-4.0, abs=0.001)
    assert sync.best.delay_s == pytest.approx(0.2, abs=0.002)  # each alone was 90 ms off


def test_the_estimate_sharpens_with_samples_under_jitter() -> None:
    path = Path(offset_s=10.0, seed=5)
    sync = ClockSync()
    errors = []
    for i in range(32):
        path.exchange(
            sync, 100.0 + 3 * i, path.rng.uniform(0.025, 0.2), path.rng.uniform(0.025, 0.2)
        )
        error = abs(sync.offset_s - path.true_offset(100.0 + 3 * i))
        assert error <= sync.error_s + 1e-9  # the bound always holds
        errors.append(error)
    assert errors[-1] <= 0.010  # 32 samples of 25-200 ms each way: within 10 ms


def test_a_sample_with_a_huge_delay_does_not_move_the_estimate() -> None:
    path = Path(offset_s=2.0)
    sync = ClockSync()
    path.exchange(sync, 10.0, 0.010, 0.012)
    before = sync.offset_s
    path.exchange(sync, 20.0, 4.0, 3.0)  # stuck in queues for seconds both ways
    path.exchange(sync, 30.0, 0.5, 6.0)
    assert sync.offset_s == pytest.approx(before, abs=1e-9)


def test_a_trip_slow_one_way_only_brings_the_estimate_closer() -> None:
    path = Path(offset_s=2.0)
    sync = ClockSync()
    path.exchange(sync, 10.0, 0.010, 0.040)  # 15 ms off
    path.exchange(sync, 20.0, 4.0, 0.010)  # slow up, but the quickest way back yet
    assert abs(sync.offset_s + 2.0) < 0.001


def test_one_sample_out_of_line_is_held_back_as_a_spike() -> None:
    path = Path(offset_s=2.0)
    sync = ClockSync()
    for i in range(5):
        path.exchange(sync, 10.0 * i, 0.010, 0.010)
    sync.add(50.0 + 2.0, 50.5, 50.5, 50.0 + 2.0)  # says the offset is +0.5 s: impossible
    assert sync.offset_s == pytest.approx(-2.0, abs=0.001)
    assert sync.spikes == 1
    path.exchange(sync, 60.0, 0.010, 0.010)  # the next agrees with the rest
    assert sync.offset_s == pytest.approx(-2.0, abs=0.001)


def test_a_clock_set_on_the_watch_is_followed_after_two_samples() -> None:
    path = Path(offset_s=2.0)
    sync = ClockSync()
    for i in range(5):
        path.exchange(sync, 10.0 * i, 0.010, 0.010)
    path.offset_s = -1.0  # the person set the watch's clock
    path.exchange(sync, 60.0, 0.010, 0.010)
    assert sync.offset_s == pytest.approx(-2.0, abs=0.001)  # one sample: maybe a spike
    path.exchange(sync, 70.0, 0.012, 0.009)
    assert sync.offset_s == pytest.approx(1.0, abs=0.002)
    assert sync.samples == 2  # the samples from before the change are gone


@pytest.mark.parametrize("drift", [-TOLERANCE * 0.9, -20e-6, 0.0, 20e-6, TOLERANCE * 0.9])
def test_a_clock_drifting_within_the_tolerance_stays_inside_its_bound(drift: float) -> None:
    path = Path(offset_s=-6.0, drift=drift, seed=3)
    sync = ClockSync()
    at = 1_000.0
    errors = []
    for _ in range(200):  # about an hour of long polls
        back = path.exchange(
            sync, at, path.rng.uniform(0.005, 0.1), path.rng.uniform(0.005, 0.1), hold_s=10.0
        )
        error = abs(sync.offset_s - path.true_offset(back))
        assert error <= sync.error_s + 1e-6
        errors.append(error)
        at = back + path.rng.uniform(1.0, 15.0)
    assert max(errors[20:]) <= 0.035  # delays of 5-100 ms each way: half of 70 ms
    assert sync.spikes == 0


@pytest.mark.parametrize("drift", [-500e-6, 500e-6])
def test_a_clock_drifting_past_the_tolerance_is_still_followed(drift: float) -> None:
    # 500 ppm is 45 ms a minute and a half: the old samples drop out as they disagree.
    path = Path(offset_s=1.0, drift=drift, seed=4)
    sync = ClockSync()
    at = 1_000.0
    errors = []
    for _ in range(200):
        back = path.exchange(sync, at, path.rng.uniform(0.005, 0.1), path.rng.uniform(0.005, 0.1))
        errors.append(abs(sync.offset_s - path.true_offset(back)))
        at = back + path.rng.uniform(1.0, 25.0)
    assert max(errors[20:]) <= 0.150


def test_samples_older_than_the_window_are_forgotten() -> None:
    path = Path(offset_s=0.0)
    sync = ClockSync(max_age_s=60.0)
    path.exchange(sync, 0.0, 0.001, 0.001)
    path.exchange(sync, 100.0, 0.050, 0.050)
    assert sync.samples == 1
    assert sync.error_s == pytest.approx(0.0505, abs=1e-6)


def test_the_window_keeps_at_most_size_samples() -> None:
    path = Path(offset_s=0.0)
    sync = ClockSync(size=4)
    for i in range(10):
        path.exchange(sync, float(i), 0.01, 0.01)
    assert sync.samples == 4


def test_with_no_sample_the_offset_is_zero_and_unbounded() -> None:
    sync = ClockSync()
    assert not sync.known
    assert sync.offset_s == 0.0
    assert sync.error_s == float("inf")
    assert sync.best.delay_s == float("inf")
