"""Reading what Alexa heard in a slot: a number, or one of a custom slot type's values.

AMAZON.NUMBER sends digits ("45") or "?" when it heard a number it could not make out. A
custom slot type is read through entity resolution, the way Home Assistant's Alexa
integration reads it: only an ER_SUCCESS_MATCH with exactly one value counts, so a synonym
("left leg") gives its value's id ("left") and anything else is not understood rather than
guessed at. A request with no resolutions at all (one built by hand) is read by its words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from enum import StrEnum

from ask_sdk_model import Slot
from ask_sdk_model.slu.entityresolution import StatusCode

#: What AMAZON.NUMBER sends for a number it heard but could not make out.
_NOT_UNDERSTOOD_NUMBER = "?"
#: A number as AMAZON.NUMBER writes it: digits, perhaps a sign and a decimal part.
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


class Unheard(StrEnum):
    """Why a slot gave no usable value; the names match the speech keys' endings."""

    MISSING = "missing"  # nothing was said for it
    NOT_UNDERSTOOD = "not_understood"  # something was said, but not a value we know
    OUT_OF_RANGE = "out_of_range"  # a value, but not one the setting allows


def heard_number(slot: Slot | None) -> float | Unheard:
    """The number in an AMAZON.NUMBER slot (any size: a range check comes after), or why not."""
    value = _words(slot)
    if value is None:
        return Unheard.MISSING
    if value == _NOT_UNDERSTOOD_NUMBER or not _NUMBER.fullmatch(value):
        return Unheard.NOT_UNDERSTOOD
    return float(value)  # never an error for digits; a huge one is inf, out of any range


def heard_whole(slot: Slot | None, low: int, high: int) -> int | Unheard:
    """A whole number from `low` to `high` in an AMAZON.NUMBER slot, or why not."""
    return whole_in(heard_number(slot), low, high)


def whole_in(number: float | Unheard, low: int, high: int) -> int | Unheard:
    """`number` if it is whole and from `low` to `high`, else why not."""
    if isinstance(number, Unheard):
        return number
    if not math.isfinite(number) or number != int(number) or not low <= number <= high:
        return Unheard.OUT_OF_RANGE
    return int(number)


def heard_choice(slot: Slot | None, choices: Collection[str]) -> str | Unheard:
    """Which of `choices` (a custom slot type's value ids) the slot resolved to, or why none."""
    value = _words(slot)
    if value is None:
        return Unheard.MISSING
    assert slot is not None
    authorities = slot.resolutions.resolutions_per_authority if slot.resolutions else None
    if not authorities:
        word = value.lower()
        return word if word in choices else Unheard.NOT_UNDERSTOOD
    matches = [
        wrapper.value
        for authority in authorities
        if authority.status is not None and authority.status.code == StatusCode.ER_SUCCESS_MATCH
        for wrapper in authority.values or ()
        if wrapper.value is not None
    ]
    if len(matches) != 1:
        return Unheard.NOT_UNDERSTOOD
    key = (matches[0].id or matches[0].name or "").lower()
    return key if key in choices else Unheard.NOT_UNDERSTOOD


def _words(slot: Slot | None) -> str | None:
    """The slot's value as said, stripped; None when nothing was said."""
    if slot is None or slot.value is None:
        return None
    value = slot.value.strip()
    return value or None
