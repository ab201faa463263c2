"""How far a watch's clock is from the server's, estimated as NTP does from four timestamps.

Each answer gives t0 (watch sends), t1 (server receives), t2 (server answers), t3 (watch
receives). The offset is ((t1 - t0) + (t2 - t3)) / 2 and its error is at most half the round
trip spent on the network, (t3 - t0) - (t2 - t1); a long poll's wait on the server does not
count against it.

One exchange is off by half its asymmetry, but it also bounds the offset for sure: the request
cannot arrive before it was sent, so offset <= t1 - t0, and the answer cannot arrive before it
left, so offset >= t2 - t3. Every sample is such an interval, and the true offset lies in all of
them at once, so the filter keeps a long window (RFC 5905 section 10 keeps the best of its
samples; here the best bound on each side), intersects the intervals and answers with the
middle. The quickest way up and the quickest way back may come from different exchanges, so
with n samples the error is half the difference of the two fastest one-way trips, not half
of one trip's asymmetry. Each sample's interval widens with its age by the watch clock's
frequency tolerance (NTP's dispersion), so a watch whose clock drifts within that tolerance
keeps a true interval. Samples that no longer agree with newer ones (the watch's clock was
set, or drifted faster than the tolerance) are dropped, and a single sample that disagrees
with all the rest is held back once, as NTP's popcorn spike suppressor does, in case it is a
fluke.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

#: How many recent samples the filter intersects.
SAMPLES = 64
#: Samples older than this (seconds on the watch clock) are forgotten.
MAX_AGE_S = 900.0
#: How fast the watch's clock may drift from the server's (seconds per second): 100 ppm, a
#: cheap watch crystal over its temperature range (RFC 5905 assumes 15 ppm for a computer).
#: Within it the interval stays true; a clock drifting faster loses its older samples.
TOLERANCE = 100e-6
#: The server's stamps are whole milliseconds, rounded: each is off by up to half of one.
RESOLUTION_S = 0.0005


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One exchange's estimate: `offset_s` is server clock minus watch clock."""

    offset_s: float
    delay_s: float


@dataclass(frozen=True, slots=True)
class _Bound:
    """One exchange as the interval the offset must lie in, taken at watch time `at`."""

    low: float
    high: float
    at: float
    sample: ClockSample

    def aged(self, now: float, tolerance: float) -> tuple[float, float]:
        """The interval at watch time `now`: older samples say less about the clock now."""
        spread = tolerance * max(0.0, now - self.at)
        return self.low - spread, self.high + spread


def sample(t0: float, t1: float, t2: float, t3: float) -> ClockSample:
    """The estimate from one exchange; all four times in seconds."""
    return ClockSample(((t1 - t0) + (t2 - t3)) / 2, max(0.0, (t3 - t0) - (t2 - t1)))


class ClockSync:
    """Intersects the offset bounds of recent exchanges and answers with the middle.

    Thread-safe: the poll loop and the watch's buttons (actions) both add samples.
    """

    def __init__(
        self,
        size: int = SAMPLES,
        *,
        max_age_s: float = MAX_AGE_S,
        tolerance: float = TOLERANCE,
        resolution_s: float = RESOLUTION_S,
    ) -> None:
        self.max_age_s = max_age_s
        self.tolerance = tolerance
        self.resolution_s = resolution_s
        #: Samples held back as possible spikes (popcorn), in all.
        self.spikes = 0
        self._bounds: deque[_Bound] = deque(maxlen=size)
        self._suspect: _Bound | None = None
        self._interval: tuple[float, float] | None = None
        self._lock = threading.Lock()

    def add(self, t0: float, t1: float, t2: float, t3: float) -> ClockSample:
        """Take one exchange's four times (seconds) and re-estimate; the sample it gave."""
        taken = sample(t0, t1, t2, t3)
        margin = self.resolution_s
        bound = _Bound(t2 - t3 - margin, t1 - t0 + margin, t3, taken)
        with self._lock:
            if self._interval is not None and not self._agrees(bound):
                suspect = self._suspect
                if suspect is None or not _overlap(suspect, bound, self.tolerance):
                    # The first to disagree, or one that agrees with neither: hold it back.
                    self._suspect = bound
                    self.spikes += 1
                    return taken
                self._bounds.append(suspect)  # two in a row agree: the clock moved
            self._suspect = None
            self._bounds.append(bound)
            self._estimate()
        return taken

    def _agrees(self, bound: _Bound) -> bool:
        """Whether a new sample's interval meets the current one, aged to its time."""
        if self._interval is None:
            return True
        spread = self.tolerance * max(0.0, bound.at - self._bounds[-1].at)
        low, high = self._interval
        return bound.low <= high + spread and low - spread <= bound.high

    def _estimate(self) -> None:
        """Intersect from the newest sample back, dropping those too old or out of line."""
        now = self._bounds[-1].at
        low, high = float("-inf"), float("inf")
        kept = 0
        for bound in reversed(self._bounds):
            if now - bound.at > self.max_age_s:
                break
            b_low, b_high = bound.aged(now, self.tolerance)
            if b_low > high or b_high < low:
                break  # this one and all older disagree with the newer ones
            low, high = max(low, b_low), min(high, b_high)
            kept += 1
        while len(self._bounds) > kept:
            self._bounds.popleft()
        self._interval = (low, high)

    @property
    def known(self) -> bool:
        with self._lock:
            return self._interval is not None

    @property
    def best(self) -> ClockSample:
        """The kept sample with the least delay, as a single exchange would have it."""
        with self._lock:
            if not self._bounds:
                return ClockSample(0.0, float("inf"))
            return min((b.sample for b in self._bounds), key=lambda s: s.delay_s)

    @property
    def samples(self) -> int:
        """How many samples the estimate rests on."""
        with self._lock:
            return len(self._bounds)

    @property
    def offset_s(self) -> float:
        """Server minus watch: add it to a watch time to get a server time."""
        with self._lock:
            if self._interval is None:
                return 0.0
            low, high = self._interval
            return (low + high) / 2

    @property
    def error_s(self) -> float:
        """The most the offset can be off by (while the clock drifts within tolerance)."""
        with self._lock:
            if self._interval is None:
                return float("inf")
            low, high = self._interval
            return (high - low) / 2


def _overlap(older: _Bound, newer: _Bound, tolerance: float) -> bool:
    """Whether two samples' intervals meet, the older aged to the newer's time."""
    low, high = older.aged(newer.at, tolerance)
    return low <= newer.high and newer.low <= high
