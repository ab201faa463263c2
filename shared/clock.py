"""Clocks the core is handed, so tests and demos decide what time it is."""

from __future__ import annotations

import math
import time
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the time in epoch seconds; the core never reads the wall clock."""

    def now(self) -> float: ...


class SystemClock:
    """The real wall clock, for the server."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told, so a whole routine runs in milliseconds."""

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self._now = _finite(start, "start")

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        # NaN would pass a plain `< 0` test and then make every later time NaN.
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(
                f"a manual clock only moves forward by a finite amount, not {seconds!r}"
            )
        self._now += seconds
        return self._now

    def set(self, when: float) -> None:
        self._now = _finite(when, "when")


class ScaledClock:
    """Wall time running `speed` times faster from `anchor`, for time-compressed demos.

    Every process given the same speed and anchor reads the same time, so a demo's server,
    speaker and watch agree without talking to each other.
    """

    def __init__(self, speed: float, anchor: float | None = None) -> None:
        if not math.isfinite(speed) or speed <= 0:
            raise ValueError(f"speed must be a positive number, not {speed!r}")
        self.speed = speed
        self.anchor = time.time() if anchor is None else _finite(anchor, "anchor")

    def now(self) -> float:
        return self.anchor + (time.time() - self.anchor) * self.speed

    def real_seconds(self, scaled_seconds: float) -> float:
        """How long to really wait for `scaled_seconds` of routine time to pass."""
        return scaled_seconds / self.speed


def _finite(value: float, name: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite time, not {value!r}")
    return value
