"""How long a speaker takes to say an SSML string, so a hold can start when the words end."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field

_TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z:-]+)([^>]*?)(/?)\s*>")
_ATTR = re.compile(r"([a-zA-Z:-]+)\s*=\s*(\"[^\"]*\"|'[^']*')")
_TIME = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)\s*$", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)*")
_DIGIT_RUN = re.compile(r"\d+")

# Alexa's own break strengths (its SSML reference gives the medium default as a comma).
_BREAK_STRENGTH = {
    "none": 0.0,
    "x-weak": 0.0,
    "weak": 0.35,
    "medium": 0.5,
    "strong": 0.75,
    "x-strong": 1.0,
}
#: Alexa's reference: a paragraph pauses like an x-strong break, a sentence like a strong one.
_STRUCTURE_PAUSE = {"p": _BREAK_STRENGTH["x-strong"], "s": _BREAK_STRENGTH["strong"]}
#: Alexa plays at most ten seconds for one <break>.
MAX_BREAK_SECONDS = 10.0


def _default_punctuation() -> dict[str, float]:
    return {",": 0.25, ";": 0.35, ":": 0.35, ".": 0.45, "?": 0.45, "!": 0.45, "\u2014": 0.3}


@dataclass(frozen=True)
class SpeechTimingModel:
    """Words at a rate, breaks counted exactly, pauses at punctuation, paragraphs and sentences."""

    words_per_minute: float = 160.0
    punctuation_pause_s: dict[str, float] = field(default_factory=_default_punctuation)
    #: Delay between the response leaving the server and the first word being heard.
    start_delay_s: float = 0.0

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
        for kind, value in _tokens(ssml):
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
        return self.start_delay_s + words * 60.0 / self.words_per_minute + pauses


def _count_words(text: str, *, spell: bool) -> float:
    if spell:
        return float(sum(1 for ch in text if ch.isalnum()))
    count = 0.0
    for word in _WORD.findall(text):
        # Long numbers are read as several words ("four thousand eight hundred...").
        count += max(1, len(word) // 2) if word.isdigit() else 1
    return count


def _tokens(ssml: str) -> list[tuple[str, object]]:
    """Split SSML into text, break, edge and spell markers; unknown tags are ignored.

    A <sub alias="..."> is heard as its alias, so its own content is left out.
    """
    tokens: list[tuple[str, object]] = []
    pos = 0
    spell_stack: list[bool] = []
    sub_stack: list[bool] = []

    def text(chunk: str) -> None:
        if chunk and not any(sub_stack):
            tokens.append(("text", html.unescape(chunk)))

    for match in _TAG.finditer(ssml):
        text(ssml[pos : match.start()])
        pos = match.end()
        closing, name, attrs, self_closing = match.groups()
        name = name.lower()
        attributes = {k.lower(): html.unescape(v[1:-1]) for k, v in _ATTR.findall(attrs)}
        if name == "break":
            # <break .../> and <break ...></break> are one break; the closing tag is not another.
            if not closing:
                tokens.append(("break", break_seconds(attributes)))
        elif name in _STRUCTURE_PAUSE:
            tokens.append(("edge", _STRUCTURE_PAUSE[name]))
        elif name == "sub":
            if closing:
                if sub_stack:
                    sub_stack.pop()
            elif "alias" in attributes:
                text(attributes["alias"])
                if not self_closing:
                    sub_stack.append(True)
            elif not self_closing:
                sub_stack.append(False)
        elif name == "say-as" and not closing:
            spell = attributes.get("interpret-as", "") in {"digits", "characters", "spell-out"}
            if not self_closing:
                spell_stack.append(spell)
                if spell:
                    tokens.append(("spell+", None))
        elif name == "say-as" and closing and spell_stack and spell_stack.pop():
            tokens.append(("spell-", None))
    text(ssml[pos:])
    return tokens


def break_seconds(attributes: dict[str, str]) -> float:
    """A break's length as Alexa plays it: time wins over strength, capped at ten seconds."""
    if "time" in attributes:
        match = _TIME.match(attributes["time"])
        if not match:
            return 0.0
        value = float(match.group(1)) / (1000.0 if match.group(2).lower() == "ms" else 1.0)
        return min(value, MAX_BREAK_SECONDS)
    return _BREAK_STRENGTH.get(attributes.get("strength", "medium"), 0.5)


def silence_ssml(seconds: float) -> str:
    """A silence of any length as chained breaks, since one break stops at ten seconds."""
    if seconds < 0:
        raise ValueError("silence cannot be negative")
    parts = []
    left_ms = round(seconds * 1000)
    cap_ms = int(MAX_BREAK_SECONDS * 1000)
    while left_ms > 0:
        chunk = min(left_ms, cap_ms)
        parts.append(f'<break time="{chunk}ms"/>')
        left_ms -= chunk
    return "".join(parts)
