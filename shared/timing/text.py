"""What a stretch of speech is made of, as a voice says it: words, syllables, pauses.

A fitted voice model prices these features (shared/timing/profile.py); they are counted the
way a text-to-speech engine reads the text, so "30" is "thirty" (two syllables) and a comma
inside a sentence is a pause while the full stop at its end is not (the next silence starts
there). The counts are approximate on purpose: a profile fits their prices to one voice, and
any text it has heard is taken as measured, not counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"[A-Za-z]+(?:['\u2019][A-Za-z]+)*|\d+")
_VOWEL_GROUP = re.compile(r"[aeiouy]+")
_COMMA_MARKS = ",;:\u2014\u2013"
_STOP_MARKS = ".?!"
_SPACE = re.compile(r"\s+")

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((1_000_000_000, "billion"), (1_000_000, "million"), (1_000, "thousand"))
#: Letters whose names take more than one syllable when spelled out ("double-u").
_LETTER_SYLLABLES = {"w": 3}


def number_words(n: int) -> list[str]:
    """How an English voice reads a whole number: 1780 is one thousand seven hundred eighty."""
    if n < 0:
        return ["minus", *number_words(-n)]
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        tens, ones = divmod(n, 10)
        return [_TENS[tens]] + ([_ONES[ones]] if ones else [])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return [_ONES[hundreds], "hundred"] + (number_words(rest) if rest else [])
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return [*number_words(high), name] + (number_words(rest) if rest else [])
    raise AssertionError("unreachable")  # pragma: no cover


def syllables(word: str) -> int:
    """A word's syllables by its vowel groups, with English's silent endings taken off."""
    w = word.lower().replace("\u2019", "'").split("'")[0]
    if not w:
        return 0
    count = len(_VOWEL_GROUP.findall(w))
    if count > 1 and w.endswith("e") and not w.endswith(("le", "ee", "ye")):
        count -= 1  # "take", "case"; not "gentle", "knee"
    elif count > 1 and w.endswith("ed") and not w.endswith(("ted", "ded")):
        count -= 1  # "eased", "pressed"; not "rested"
    return max(1, count)


def spoken_words(text: str, *, spell: bool = False) -> list[str]:
    """The words a voice says for `text`: numbers read out, spelled text letter by letter."""
    if spell:
        return [ch.lower() for ch in text if ch.isalnum()]
    words: list[str] = []
    for token in _TOKEN.findall(text):
        words.extend(number_words(int(token)) if token.isdigit() else [token.lower()])
    return words


def normalized(text: str) -> str:
    """The form under which a profile keeps a measured text: case and spacing do not count."""
    return _SPACE.sub(" ", text).strip().lower()


@dataclass(frozen=True, slots=True)
class Features:
    """The countable parts of one stretch of speech between two silences."""

    syllables: float
    words: float
    commas: float
    stops: float

    def as_row(self) -> tuple[float, float, float, float, float]:
        """With a leading 1 for the fixed cost every stretch has (its onset and its fall)."""
        return (1.0, self.syllables, self.words, self.commas, self.stops)

    def __sub__(self, other: Features) -> Features:
        return Features(
            self.syllables - other.syllables,
            self.words - other.words,
            self.commas - other.commas,
            self.stops - other.stops,
        )


def features(text: str, *, spell: bool = False) -> Features:
    """Count what a voice spends time on in `text`; punctuation at its very end is not a pause."""
    words = spoken_words(text, spell=spell)
    if spell:
        syllable_count = sum(_LETTER_SYLLABLES.get(ch, 1) for ch in words)
    else:
        syllable_count = sum(syllables(word) for word in words)
    inner = text.rstrip().rstrip(_STOP_MARKS + _COMMA_MARKS + "\"')")
    commas = sum(inner.count(mark) for mark in _COMMA_MARKS)
    stops = sum(inner.count(mark) for mark in _STOP_MARKS)
    return Features(float(syllable_count), float(len(words)), float(commas), float(stops))
