"""Reading a pairing code as Alexa heard it: digits and digit words, "double four"."""

from __future__ import annotations

import re

from shared.pairing.protocol import USER_CODE_DIGITS

_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
# "double four" is how many en-GB, en-AU and en-IN speakers read a repeated digit.
_REPEATS = {"double": 2, "triple": 3}
_SEPARATORS = re.compile(r"[\s,.;:/\-]+")


def heard_nothing(value: str | None) -> bool:
    """True when Alexa filled the slot with nothing: no value, blank, or "?" (not understood)."""
    return value is None or value.strip() in {"", "?"}


def parse_spoken_code(value: str | None) -> str | None:
    """The six digits in a slot value ("48 29 13", "four eight two nine one three"), or None.

    Digits and digit words may be mixed; "oh" is zero; "double"/"triple" repeat the next
    digit. Homophones such as "for" or "to" are not guessed at: anything else gives None.
    """
    if value is None:
        return None
    digits: list[str] = []
    repeat = 1
    for word in _SEPARATORS.split(value.strip().lower()):
        if not word:
            continue
        if word in _REPEATS and repeat == 1:
            repeat = _REPEATS[word]
            continue
        spelled = word if word.isascii() and word.isdigit() else _DIGIT_WORDS.get(word)
        if spelled is None:
            return None
        digits.append(spelled[0] * repeat + spelled[1:])
        repeat = 1
    code = "".join(digits)
    if repeat != 1 or len(code) != USER_CODE_DIGITS:
        return None
    return code
