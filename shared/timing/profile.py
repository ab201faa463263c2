"""A measured voice: how long it takes to say what it was recorded saying, and a fitted rest.

A profile is learned from one recording of the calibration script (shared/timing/fit.py). It
keeps the length of every part it heard, measured from the first sound to the last, so the
routine's own texts are timed exactly; anything else is timed from the most similar part it
heard, corrected by the fitted price of the words that differ ("Hold for 45 seconds" from
"Hold for 30 seconds"), or by the fitted prices alone when nothing similar was heard. Between
two stretches of speech a break of L seconds is heard as `gap_s + L * (1 + gap_per_s)` of
silence, since a voice trails off and takes a breath around it, so a hold's silence is
written that much shorter for "Time's up" to start when the hold ends. The short break the
skill puts between the pieces before a hold is measured on its own (`piece_gap_s`): a voice
runs pieces together more tightly than it does lines read with long pauses between them.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ssml import PIECE_BREAK_S, Silence, Speech, pieces
from .text import Features, features, normalized, spoken_words
from .words import MAX_OFFSET_S

PROFILE_FORMAT = 1
#: How alike (difflib's ratio over the words) a heard part must be to stand in for a text.
SIMILAR_ENOUGH = 0.6
#: A profile's limits, so a corrupt or hostile file cannot make a hold start an hour late.
MAX_PARTS = 1000
MAX_PART_TEXT = 4000
MAX_PART_S = 120.0
_UNKNOWN_CACHE = 512


#: Joins the texts of a run of pieces (said with piece breaks between) into one part's key.
RUN_JOIN = " | "


def run_key(texts: Iterable[str]) -> str:
    """The key under which a profile keeps a run of pieces measured as a whole."""
    return RUN_JOIN.join(normalized(t) for t in texts)


class ProfileError(ValueError):
    """A voice profile that cannot be used, with the field that is wrong."""


@dataclass(frozen=True, slots=True)
class WordPrices:
    """Seconds a stretch of speech costs: a fixed part, and each syllable, word and pause."""

    fixed_s: float = 0.25
    per_syllable_s: float = 0.2
    per_word_s: float = 0.0
    per_comma_s: float = 0.25
    per_stop_s: float = 0.45

    def of(self, counted: Features) -> float:
        row = counted.as_row()
        prices = (
            self.fixed_s,
            self.per_syllable_s,
            self.per_word_s,
            self.per_comma_s,
            self.per_stop_s,
        )
        return sum(n * price for n, price in zip(row, prices, strict=True))

    def difference(self, counted: Features) -> float:
        """The price of a difference in counts: the fixed part cancels out."""
        return self.of(counted) - self.fixed_s

    def to_json(self) -> dict[str, float]:
        return {
            "fixed_s": self.fixed_s,
            "per_syllable_s": self.per_syllable_s,
            "per_word_s": self.per_word_s,
            "per_comma_s": self.per_comma_s,
            "per_stop_s": self.per_stop_s,
        }


@dataclass(frozen=True)
class VoiceProfile:
    """One voice, measured: its parts' lengths, its word prices, and how it plays silence."""

    name: str
    parts: Mapping[str, float]
    prices: WordPrices
    gap_s: float = 0.0
    gap_per_s: float = 0.0
    #: What a piece break (PIECE_BREAK_S, between the pieces before a hold) costs in this
    #: voice, its neighbours' running together included; None: as any break of that length.
    piece_gap_s: float | None = None
    #: From the response leaving to the first sound; None when the recording could not tell
    #: (the deployment's SCIATICA_VOICE_START_DELAY_S applies then).
    start_delay_s: float | None = None
    #: A person's nudge ("the buzz was early"), added to every time this profile gives.
    offset_s: float = 0.0
    #: For a part heard first in its response (an opening): how much later than the start
    #: delay its first sound came. A soft first sound ("Step" begins with a hiss) is heard
    #: later than a hard one, so a reply opening with that part is timed from it.
    onsets: Mapping[str, float] = field(default_factory=dict)
    #: For a text said just before a hold's end ("Starting now.", "21 seconds left on this
    #: hold."): how much longer than the break line the silence after it is heard.
    ends: Mapping[str, float] = field(default_factory=dict)
    #: How well the fit went, as `voice calibrate` printed it; for people, not for timing.
    fit: Mapping[str, Any] = field(default_factory=dict)
    _heard: dict[str, tuple[list[str], Features, float]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _unknown: dict[tuple[str, bool], float] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        _check(self)
        for text, seconds in self.parts.items():
            if RUN_JOIN not in text:
                self._heard[text] = (spoken_words(text), features(text), seconds)

    # -- timing -------------------------------------------------------------------------

    def estimate(self, ssml: str) -> float:
        """Seconds from the response leaving to the end of the document's last sound."""
        total = (self.start_delay_s or 0.0) + self.offset_s
        played = pieces(ssml)
        index = 0
        while index < len(played):
            piece = played[index]
            if isinstance(piece, Speech):
                opens = index == 0
                seconds, index, key = self._longest_run(played, index)
                total += seconds + (self.onsets.get(key, 0.0) if opens and key else 0.0)
                continue
            if 0 < index < len(played) - 1:
                total += self.silence_heard(piece.seconds)
            else:
                total += piece.seconds  # before the first sound or after the last
            index += 1
        return max(0.0, total)  # a nudge earlier cannot make words end before they start

    def _longest_run(
        self, played: list[Speech | Silence], start: int
    ) -> tuple[float, int, str | None]:
        """The longest run of pieces from `start` (joined by piece breaks) heard as one, else
        the piece alone; with the index of what follows, and the part's key if it was heard."""
        ends = [start]
        i = start
        while (
            i + 2 < len(played)
            and isinstance(played[i + 1], Silence)
            and math.isclose(played[i + 1].seconds, PIECE_BREAK_S)  # type: ignore[union-attr]
            and isinstance(played[i + 2], Speech)
        ):
            i += 2
            ends.append(i)
        for end in reversed(ends[1:]):
            key = run_key(p.text for p in played[start : end + 1 : 2])  # type: ignore[union-attr]
            if key in self.parts:
                return self.parts[key], end + 1, key
        first = played[start]
        assert isinstance(first, Speech)
        key = normalized(first.text)
        heard = key if not first.spell and key in self.parts else None
        return self.speech_seconds(first.text, spell=first.spell), start + 1, heard

    def speech_seconds(self, text: str, *, spell: bool = False) -> float:
        """One stretch of speech: measured if heard, else from its likeness to what was."""
        key = normalized(text)
        if not spell and key in self.parts:
            return self.parts[key]
        cached = self._unknown.get((key, spell))
        if cached is None:
            cached = self._unheard(text, key, spell)
            if len(self._unknown) >= _UNKNOWN_CACHE:
                self._unknown.clear()
            self._unknown[(key, spell)] = cached
        return cached

    def silence_heard(self, seconds: float) -> float:
        """How long a break of `seconds` between two stretches of speech is heard as."""
        if self.piece_gap_s is not None and math.isclose(seconds, PIECE_BREAK_S):
            return self.piece_gap_s
        return self.gap_s + seconds * (1.0 + self.gap_per_s)

    def break_for_silence(self, seconds: float, after: str = "") -> float:
        """The break to write so that `seconds` pass from the end of `after` to the next sound.

        After a text heard before a hold's end (or one alike), its own trailing silence
        counts; any other text gets the break line alone.
        """
        return max(0.0, (seconds - self.gap_s - self.end_after(after)) / (1.0 + self.gap_per_s))

    def end_after(self, text: str) -> float:
        """The silence a hold's end adds after `text` beyond the break line (0 if unknown)."""
        if not text or not self.ends:
            return 0.0
        key = normalized(text)
        if key in self.ends:
            return self.ends[key]
        words = spoken_words(text)
        best = max(
            self.ends,
            key=lambda k: difflib.SequenceMatcher(None, words, spoken_words(k)).ratio(),
        )
        alike = difflib.SequenceMatcher(None, words, spoken_words(best)).ratio()
        return self.ends[best] if alike >= SIMILAR_ENOUGH else 0.0

    def _unheard(self, text: str, key: str, spell: bool) -> float:
        counted = features(text, spell=spell)
        own = self.prices.of(counted)
        if spell:
            return max(0.0, own)
        words = spoken_words(text)
        best: tuple[float, float] | None = None  # (likeness, seconds)
        for heard_words, heard_features, seconds in self._heard.values():
            likeness = difflib.SequenceMatcher(None, words, heard_words, autojunk=False).ratio()
            if likeness >= SIMILAR_ENOUGH and (best is None or likeness > best[0]):
                best = (likeness, seconds + self.prices.difference(counted - heard_features))
        return max(0.0, best[1] if best is not None else own)

    # -- files --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "name": self.name,
            "start_delay_s": self.start_delay_s,
            "offset_s": self.offset_s,
            "gap_s": self.gap_s,
            "gap_per_s": self.gap_per_s,
            "piece_gap_s": self.piece_gap_s,
            "prices": self.prices.to_json(),
            "parts": [{"text": text, "seconds": seconds} for text, seconds in self.parts.items()],
            "onsets": [{"text": text, "seconds": seconds} for text, seconds in self.onsets.items()],
            "ends": [{"text": text, "seconds": seconds} for text, seconds in self.ends.items()],
            "fit": dict(self.fit),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, data: Any) -> VoiceProfile:
        """A profile from its JSON form; any problem is a ProfileError naming the field."""
        if not isinstance(data, dict):
            raise ProfileError("a voice profile must be a JSON object")
        if data.get("format") != PROFILE_FORMAT:
            raise ProfileError(f"format: must be {PROFILE_FORMAT}, not {data.get('format')!r}")
        prices = data.get("prices")
        if not isinstance(prices, dict):
            raise ProfileError("prices: must be an object")
        measured = _texts_and_seconds(data.get("parts"), "parts")
        onsets = _texts_and_seconds(data.get("onsets", []), "onsets")
        ends = _texts_and_seconds(data.get("ends", []), "ends")
        start_delay = data.get("start_delay_s")
        piece_gap = data.get("piece_gap_s")
        fit = data.get("fit", {})
        name = data.get("name", "")
        if not isinstance(name, str) or len(name) > 200:
            raise ProfileError("name: must be a string of at most 200 characters")
        return cls(
            name=name,
            parts=measured,
            prices=WordPrices(
                **{key: _number(prices.get(key), f"prices.{key}") for key in WordPrices().to_json()}
            ),
            gap_s=_number(data.get("gap_s", 0.0), "gap_s"),
            gap_per_s=_number(data.get("gap_per_s", 0.0), "gap_per_s"),
            piece_gap_s=None if piece_gap is None else _number(piece_gap, "piece_gap_s"),
            start_delay_s=None if start_delay is None else _number(start_delay, "start_delay_s"),
            offset_s=_number(data.get("offset_s", 0.0), "offset_s"),
            onsets=onsets,
            ends=ends,
            fit=fit if isinstance(fit, dict) else {},
        )

    @classmethod
    def loads(cls, text: str) -> VoiceProfile:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ProfileError(f"not JSON: {exc}") from None
        return cls.from_json(data)

    @classmethod
    def load(cls, path: str | Path) -> VoiceProfile:
        try:
            text = Path(path).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileError(f"cannot read {path}: {exc}") from None
        return cls.loads(text)


#: The most a reply's opening part may start later (or earlier) than the start delay.
MAX_ONSET_S = 2.0


def _texts_and_seconds(items: Any, name: str) -> dict[str, float]:
    """A list of {"text", "seconds"} objects, as `parts`, `onsets` and `ends` are written."""
    if not isinstance(items, list):
        raise ProfileError(f"{name}: must be a list")
    if len(items) > MAX_PARTS:
        raise ProfileError(f"{name}: at most {MAX_PARTS}")
    out: dict[str, float] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise ProfileError(f"{name}[{i}]: must be an object with a text")
        out[normalized(item["text"])] = _number(item.get("seconds"), f"{name}[{i}].seconds")
    return out


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"{name}: must be a number, not {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ProfileError(f"{name}: must be finite")
    return number


def _check(profile: VoiceProfile) -> None:
    """Refuse figures no real voice has, whoever built the profile."""

    def within(name: str, value: float, low: float, high: float) -> None:
        if not (math.isfinite(value) and low <= value <= high):
            raise ProfileError(f"{name}: must be from {low:g} to {high:g}, not {value!r}")

    if len(profile.parts) > MAX_PARTS:
        raise ProfileError(f"parts: at most {MAX_PARTS}")
    for text, seconds in profile.parts.items():
        if not text or len(text) > MAX_PART_TEXT:
            raise ProfileError(f"parts: a text must have 1 to {MAX_PART_TEXT} characters")
        within(f"parts[{text[:30]!r}].seconds", seconds, 0.0, MAX_PART_S)
    within("gap_s", profile.gap_s, -1.0, 3.0)
    within("gap_per_s", profile.gap_per_s, -0.2, 0.5)
    if profile.piece_gap_s is not None:
        within("piece_gap_s", profile.piece_gap_s, -1.0, 2.0)
    within("offset_s", profile.offset_s, -MAX_OFFSET_S, MAX_OFFSET_S)
    if profile.start_delay_s is not None:
        within("start_delay_s", profile.start_delay_s, 0.0, 10.0)
    for text, seconds in profile.onsets.items():
        if text not in profile.parts:
            raise ProfileError(f"onsets: {text[:30]!r} is not one of the parts")
        within(f"onsets[{text[:30]!r}]", seconds, -MAX_ONSET_S, MAX_ONSET_S)
    if len(profile.ends) > MAX_PARTS:
        raise ProfileError(f"ends: at most {MAX_PARTS}")
    for text, seconds in profile.ends.items():
        if not text or len(text) > MAX_PART_TEXT:
            raise ProfileError(f"ends: a text must have 1 to {MAX_PART_TEXT} characters")
        within(f"ends[{text[:30]!r}]", seconds, -MAX_ONSET_S, MAX_ONSET_S)
    for name, price in profile.prices.to_json().items():
        within(f"prices.{name}", price, -1.0, 5.0)
