"""A person's own settings: how long they hold, how often per side, which side first, and more.

Kept per user, as JSON, and read by both sides: the voice changes them ("make my holds 45
seconds"), the watch shows and changes them, and a run takes them from the next step that
has not started (the engine's plan). Every value is checked here, once, so the voice, the
watch API and the store all refuse the same things with the same words.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .definition import Side

#: The hold lengths a person may choose, in whole seconds.
HOLD_SECONDS_RANGE = (15, 60)
#: How many holds a person may do on each side of an exercise.
HOLDS_PER_SIDE_RANGE = (1, 3)
#: Longest time zone name accepted (IANA names are far shorter).
_MAX_ZONE = 64


class Flow(StrEnum):
    """How the routine moves on after a hold."""

    HANDS_FREE = "hands_free"  # the voice carries on by itself, step after step
    ON_NEXT = "on_next"  # each step waits for "next"


class SettingsError(ValueError):
    """A setting out of range or of the wrong kind; the message names the setting."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Settings:
    """What a person chose; None means "as the routine file says" (or, for flow, not asked).

    `time_zone` is where the person is (an IANA name, read from their Alexa device), so a
    streak counts their own days.
    """

    hold_seconds: int | None = None
    holds_per_side: int = 1
    first_side: Side | None = None
    warning_buzz: bool = True
    flow: Flow | None = None
    time_zone: str | None = None

    def __post_init__(self) -> None:
        _check(self)

    def changed(self, **changes: Any) -> Settings:
        """These settings with `changes` applied, each checked (SettingsError if wrong)."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise SettingsError(unknown[0], "no such setting")
        return replace(self, **{name: _coerce(name, value) for name, value in changes.items()})

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["first_side"] = None if self.first_side is None else self.first_side.value
        data["flow"] = None if self.flow is None else self.flow.value
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Settings:
        """Settings from their JSON form; SettingsError names the first wrong field.

        A field this release does not know is ignored, so a newer release's record still
        reads; a known field with a wrong value is refused.
        """
        if not isinstance(data, Mapping):
            raise SettingsError("settings", "must be an object")
        known = {f.name for f in fields(cls)}
        return cls().changed(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def loads(cls, raw: str | None) -> Settings:
        """Stored settings; the defaults for none."""
        if raw is None:
            return cls()
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SettingsError("settings", f"not JSON: {exc.msg}") from exc
        return cls.from_json(data)


def _coerce(name: str, value: Any) -> Any:
    """A JSON value as the field holds it (sides and flows by their names)."""
    if value is None:
        return None
    if name == "first_side":
        if value not in (Side.LEFT.value, Side.RIGHT.value):
            raise SettingsError(name, "must be 'left' or 'right'")
        return Side(value)
    if name == "flow":
        try:
            return Flow(value)
        except ValueError:
            raise SettingsError(name, f"must be one of {[f.value for f in Flow]}") from None
    return value


def _whole(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(name, "must be a whole number")
    # A float only: an int past a float's range (10**400 from a JSON body) overflows there.
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise SettingsError(name, "must be a whole number")
    if not low <= value <= high:
        raise SettingsError(name, f"must be from {low} to {high}")


def _check(settings: Settings) -> None:
    if settings.hold_seconds is not None:
        _whole("hold_seconds", settings.hold_seconds, *HOLD_SECONDS_RANGE)
        object.__setattr__(settings, "hold_seconds", int(settings.hold_seconds))
    _whole("holds_per_side", settings.holds_per_side, *HOLDS_PER_SIDE_RANGE)
    object.__setattr__(settings, "holds_per_side", int(settings.holds_per_side))
    if settings.first_side is not None and settings.first_side not in (Side.LEFT, Side.RIGHT):
        raise SettingsError("first_side", "must be 'left' or 'right'")
    if not isinstance(settings.warning_buzz, bool):
        raise SettingsError("warning_buzz", "must be true or false")
    if settings.flow is not None and not isinstance(settings.flow, Flow):
        raise SettingsError("flow", f"must be one of {[f.value for f in Flow]}")
    if settings.time_zone is not None:
        check_time_zone(settings.time_zone)


def check_time_zone(name: Any) -> str:
    """`name` if it is a time zone this machine knows (IANA, e.g. "Europe/Berlin")."""
    if not isinstance(name, str) or not 0 < len(name) <= _MAX_ZONE:
        raise SettingsError("time_zone", "must be a time zone name such as Europe/Berlin")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError("time_zone", f"unknown time zone {name!r}") from None
    return name
