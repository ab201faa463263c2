"""How far a watch's clock is from the server's, estimated as NTP does from four timestamps.

Each poll gives t0 (watch sends), t1 (server receives), t2 (server answers), t3 (watch
receives). The offset is ((t1 - t0) + (t2 - t3)) / 2 and its error is at most half the round
trip spent on the network, (t3 - t0) - (t2 - t1); a long poll's wait on the server does not
count against it. Like NTP's clock filter, the sample with the least delay among the last few
is trusted, since the quickest round trip is the least skewed by one slow direction.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

#: How many recent samples the filter chooses among.
SAMPLES = 8


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One poll's estimate: `offset_s` is server clock minus watch clock."""

    offset_s: float
    delay_s: float


def sample(t0: float, t1: float, t2: float, t3: float) -> ClockSample:
    """The estimate from one exchange; all four times in seconds."""
    return ClockSample(((t1 - t0) + (t2 - t3)) / 2, max(0.0, (t3 - t0) - (t2 - t1)))


class ClockSync:
    """Keeps recent samples and answers with the offset of the quickest one."""

    def __init__(self, size: int = SAMPLES) -> None:
        self._samples: deque[ClockSample] = deque(maxlen=size)

    def add(self, t0: float, t1: float, t2: float, t3: float) -> ClockSample:
        self._samples.append(sample(t0, t1, t2, t3))
        return self.best

    @property
    def known(self) -> bool:
        return bool(self._samples)

    @property
    def best(self) -> ClockSample:
        if not self._samples:
            return ClockSample(0.0, float("inf"))
        return min(self._samples, key=lambda s: s.delay_s)

    @property
    def offset_s(self) -> float:
        """Server minus watch: add it to a watch time to get a server time."""
        return self.best.offset_s
