"""What every speech timing offers the rest of the core: the default model and measured voices."""

from __future__ import annotations

import dataclasses
import math
from typing import Protocol, TypeVar


class SpeechTiming(Protocol):
    """How long a voice takes to say SSML, and how to write a silence it plays exactly."""

    @property
    def offset_s(self) -> float:
        """A person's nudge, added to every time this timing gives."""
        ...

    def estimate(self, ssml: str) -> float:
        """Seconds from the response leaving to the end of the document's last sound."""
        ...

    def break_for_silence(self, seconds: float, after: str = "") -> float:
        """The break to write after `after` (a stretch of speech) so the next sound starts
        `seconds` later."""
        ...


T = TypeVar("T", bound=SpeechTiming)


def shifted(timing: T, offset_s: float) -> T:
    """The same timing with every time moved by `offset_s` more (a nudge, or a test's skew)."""
    if not math.isfinite(offset_s):
        raise ValueError(f"an offset must be a finite number of seconds, not {offset_s!r}")
    if offset_s == 0:
        return timing
    return dataclasses.replace(timing, offset_s=timing.offset_s + offset_s)  # type: ignore[type-var]
