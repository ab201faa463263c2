"""The default speech timing: words at a rate, breaks exact, pauses at punctuation and edges.

It needs no recording of the voice, so it is what a deployment without a voice profile uses;
shared/timing/profile.py does better once a voice has been measured.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .ssml import tokens

#: The most a nudge may move every cue, either way, in seconds.
MAX_OFFSET_S = 2.0

_WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)*")


def _default_punctuation() -> dict[str, float]:
    return {",": 0.25, ";": 0.35, ":": 0.35, ".": 0.45, "?": 0.45, "!": 0.45, "\u2014": 0.3}


@dataclass(frozen=True)
class SpeechTimingModel:
    """Words at a rate, breaks counted exactly, pauses at punctuation, paragraphs and sentences."""

    words_per_minute: float = 160.0
    punctuation_pause_s: dict[str, float] = field(default_factory=_default_punctuation)
    #: Delay between the response leaving the server and the first word being heard.
    start_delay_s: float = 0.0
    #: A person's nudge ("the buzz was early"), added to every time this model gives.
    offset_s: float = 0.0

    def __post_init__(self) -> None:
        # isfinite, because NaN slips through every comparison and poisons every deadline.
        if not math.isfinite(self.words_per_minute) or self.words_per_minute <= 0:
            raise ValueError(
                f"words_per_minute must be a positive number, not {self.words_per_minute!r}"
            )
        if not math.isfinite(self.start_delay_s) or self.start_delay_s < 0:
            raise ValueError(
                f"start_delay_s must be a number not below 0, not {self.start_delay_s!r}"
            )
        if not math.isfinite(self.offset_s) or abs(self.offset_s) > MAX_OFFSET_S:
            raise ValueError(f"offset_s must be within ±{MAX_OFFSET_S:g} s, not {self.offset_s!r}")
        for mark, seconds in self.punctuation_pause_s.items():
            if not math.isfinite(seconds) or seconds < 0:
                raise ValueError(f"punctuation_pause_s[{mark!r}] must be a number not below 0")

    def estimate(self, ssml: str) -> float:
        """Seconds from the response to the end of its last sound."""
        words = 0.0
        pauses = 0.0
        spell_depth = 0
        # A paragraph or sentence edge pauses once, however many edges meet, and no more
        # than that if the words before it already ended on a full stop.
        edge = 0.0
        said_pause = 0.0
        spoken = False
        for kind, value in tokens(ssml):
            if kind == "break":
                pauses += float(value)  # type: ignore[arg-type]
            elif kind == "edge":
                if spoken:
                    edge = max(edge, float(value))  # type: ignore[arg-type]
            elif kind == "spell+":
                spell_depth += 1
            elif kind == "spell-":
                spell_depth = max(0, spell_depth - 1)
            else:
                text = str(value)
                count = _count_words(text, spell=spell_depth > 0)
                if count:
                    pauses += max(0.0, edge - said_pause)
                    edge = said_pause = 0.0
                    spoken = True
                    words += count
                pauses += sum(
                    text.count(mark) * seconds for mark, seconds in self.punctuation_pause_s.items()
                )
                stripped = text.rstrip()
                if stripped:
                    said_pause = self.punctuation_pause_s.get(stripped[-1], 0.0)
        pauses += max(0.0, edge - said_pause)
        spoken = self.start_delay_s + words * 60.0 / self.words_per_minute + pauses
        return max(0.0, spoken + self.offset_s)

    def break_for_silence(self, seconds: float, after: str = "") -> float:
        """This model takes a break to be heard exactly as long as it is written, after
        any text."""
        return max(0.0, seconds)


def _count_words(text: str, *, spell: bool) -> float:
    if spell:
        return float(sum(1 for ch in text if ch.isalnum()))
    count = 0.0
    for word in _WORD.findall(text):
        # Long numbers are read as several words ("four thousand eight hundred...").
        count += max(1, len(word) // 2) if word.isdigit() else 1
    return count
