"""Haptic patterns: one platform-neutral shape per cue, and how each watch platform plays it.

A pattern is a list of segments, each a buzz (`on_ms` at `intensity`) followed by a pause
(`off_ms`). The limits are the tightest ones among the platforms we ship to, so a pattern that
validates here plays the same everywhere (see docs/HAPTICS.md for the sources):

* at most 8 segments, and at most 8 Garmin VibeProfiles once rendered — Connect IQ's
  `Attention.vibrate` takes 1 to 8 profiles, and each pulse and each non-zero pause is one;
* no single buzz or pause over 10 000 ms — browsers clamp `navigator.vibrate` entries there;
* the last segment's pause is 0 — a trailing pause is never felt, and the Web drops it anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from shared.routine.cues import CueKind

MAX_SEGMENTS = 8
MAX_GARMIN_PROFILES = 8
MAX_SEGMENT_MS = 10_000
WEAR_OS_MAX_AMPLITUDE = 255
GARMIN_MAX_DUTY_CYCLE = 100

#: WKHapticType cases (WatchKit); watchOS plays only these named haptics, never raw timings.
WATCHOS_HAPTIC_TYPES = frozenset(
    {
        "notification",
        "directionUp",
        "directionDown",
        "success",
        "failure",
        "retry",
        "start",
        "stop",
        "click",
    }
)

#: Fitbit `vibration.start()` pattern names (Haptics API); like watchOS, names only.
FITBIT_VIBRATION_PATTERNS = frozenset(
    {
        "alert",
        "bump",
        "confirmation",
        "confirmation-max",
        "nudge",
        "nudge-max",
        "ping",
        "ring",
    }
)

_CUE_NAMES = tuple(kind.value for kind in CueKind)
_SEGMENT_FIELDS = ("on_ms", "off_ms", "intensity")
_PATTERN_FIELDS = ("name", "segments")


class Platform(StrEnum):
    """Keys of `all_platforms`, so the watch API and the watch apps agree on spelling."""

    WEAR_OS = "wear_os"
    WEB = "web"
    GARMIN = "garmin"
    WATCHOS = "watchos"
    FITBIT = "fitbit"


class HapticPatternError(ValueError):
    """A pattern some platform could not play as written; `field` says exactly where."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"haptic pattern: {field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Segment:
    """One buzz and the pause after it; checked by the pattern that holds it."""

    on_ms: int
    off_ms: int
    intensity: float

    def to_dict(self) -> dict[str, Any]:
        return {"on_ms": self.on_ms, "off_ms": self.off_ms, "intensity": self.intensity}


@dataclass(frozen=True, slots=True)
class HapticPattern:
    """A cue's feel in the neutral shape; validated on creation so every mapping is total."""

    name: CueKind
    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        _check_pattern(self)

    @property
    def duration_ms(self) -> int:
        """From the first buzz starting to the last one stopping."""
        return sum(s.on_ms + s.off_ms for s in self.segments)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name.value, "segments": [s.to_dict() for s in self.segments]}

    @classmethod
    def from_dict(cls, data: object) -> HapticPattern:
        """Parse JSON-shaped data, rejecting anything a watch could not play as written."""
        if not isinstance(data, Mapping):
            raise HapticPatternError("pattern", f"must be an object; got {_type(data)}")
        _check_keys(data, _PATTERN_FIELDS, "")
        name = data["name"]
        if not isinstance(name, str) or name not in _CUE_NAMES:
            allowed = ", ".join(_CUE_NAMES)
            raise HapticPatternError("name", f"must be one of {allowed}; got {name!r}")
        raw_segments = data["segments"]
        if not isinstance(raw_segments, list):
            raise HapticPatternError(
                "segments", f"must be a list of segments; got {_type(raw_segments)}"
            )
        segments = []
        for i, raw in enumerate(raw_segments):
            where = f"segments[{i}]"
            if not isinstance(raw, Mapping):
                raise HapticPatternError(where, f"must be an object; got {_type(raw)}")
            _check_keys(raw, _SEGMENT_FIELDS, f"{where}.")
            segments.append(Segment(raw["on_ms"], raw["off_ms"], raw["intensity"]))
        return cls(CueKind(name), tuple(segments))


def _type(value: object) -> str:
    return type(value).__name__


def _check_keys(data: Mapping[Any, Any], expected: tuple[str, ...], prefix: str) -> None:
    for key in expected:
        if key not in data:
            raise HapticPatternError(f"{prefix}{key}", "is missing")
    for key in data:
        if key not in expected:
            raise HapticPatternError(f"{prefix}{key}", "is not a known field")


def _check_ms(value: object, where: str, minimum: int) -> None:
    # bool is an int subclass; `true` in JSON is a typo, not one millisecond.
    if isinstance(value, bool) or not isinstance(value, int):
        raise HapticPatternError(where, f"must be a whole number of ms; got {_type(value)}")
    if value < minimum:
        raise HapticPatternError(where, f"must be at least {minimum} ms; got {value}")
    if value > MAX_SEGMENT_MS:
        raise HapticPatternError(
            where, f"must be at most {MAX_SEGMENT_MS} ms (the Web's per-entry cap); got {value}"
        )


def _check_segment(segment: object, index: int, is_last: bool) -> None:
    where = f"segments[{index}]"
    if not isinstance(segment, Segment):
        raise HapticPatternError(where, f"must be a Segment; got {_type(segment)}")
    _check_ms(segment.on_ms, f"{where}.on_ms", minimum=1)
    _check_ms(segment.off_ms, f"{where}.off_ms", minimum=0)
    if is_last and segment.off_ms != 0:
        raise HapticPatternError(
            f"{where}.off_ms",
            f"must be 0 on the last segment: a trailing pause is never felt; got {segment.off_ms}",
        )
    intensity = segment.intensity
    if isinstance(intensity, bool) or not isinstance(intensity, int | float):
        raise HapticPatternError(
            f"{where}.intensity", f"must be a number in (0, 1]; got {_type(intensity)}"
        )
    if not 0 < intensity <= 1:
        raise HapticPatternError(
            f"{where}.intensity",
            f"must be in (0, 1] (pause with off_ms, not intensity 0); got {intensity}",
        )


def _check_pattern(pattern: HapticPattern) -> None:
    if not isinstance(pattern.name, CueKind):
        raise HapticPatternError("name", f"must be a CueKind; got {pattern.name!r}")
    segments = pattern.segments
    if not isinstance(segments, tuple):
        raise HapticPatternError("segments", f"must be a tuple; got {_type(segments)}")
    if not 1 <= len(segments) <= MAX_SEGMENTS:
        raise HapticPatternError(
            "segments", f"must hold 1 to {MAX_SEGMENTS} segments; got {len(segments)}"
        )
    for i, segment in enumerate(segments):
        _check_segment(segment, i, is_last=i == len(segments) - 1)
    profiles = garmin_profile_count(pattern)
    if profiles > MAX_GARMIN_PROFILES:
        raise HapticPatternError(
            "segments",
            f"renders to {profiles} Garmin VibeProfiles (one per buzz and per non-zero pause) "
            f"but Attention.vibrate takes at most {MAX_GARMIN_PROFILES}",
        )


def garmin_profile_count(pattern: HapticPattern) -> int:
    """How many VibeProfiles `to_garmin` emits, the number Connect IQ caps at 8."""
    return sum(1 + (s.off_ms > 0) for s in pattern.segments)


def _scale(intensity: float, top: int) -> int:
    # Never round a real buzz down to 0: that would silently turn it into a pause.
    return max(1, round(intensity * top))


def _pattern(name: CueKind, *segments: tuple[int, int, float]) -> HapticPattern:
    return HapticPattern(name, tuple(Segment(*s) for s in segments))


# Told apart by count first (1, 2, 3, a long swell), so they stay distinct where intensity is
# lost: on the Web, on Forerunners (fixed duty cycle), and to a wrist resting on a mat.
_PATTERNS: Mapping[CueKind, HapticPattern] = MappingProxyType(
    {
        # One firm, medium buzz: "go, start holding".
        CueKind.HOLD_START: _pattern(CueKind.HOLD_START, (400, 0, 0.6)),
        # Two light ticks: "five seconds left", noticeable without startling.
        CueKind.HOLD_WARNING: _pattern(CueKind.HOLD_WARNING, (100, 150, 0.4), (100, 0, 0.4)),
        # Three strong pulses: "release / switch sides".
        CueKind.HOLD_END: _pattern(
            CueKind.HOLD_END, (250, 150, 1.0), (250, 150, 1.0), (250, 0, 1.0)
        ),
        # A one-second swell, a beat, then a long full buzz: "all done".
        CueKind.ROUTINE_COMPLETE: _pattern(
            CueKind.ROUTINE_COMPLETE,
            (250, 0, 0.25),
            (250, 0, 0.5),
            (250, 0, 0.75),
            (250, 250, 1.0),
            (600, 0, 1.0),
        ),
    }
)

# Chosen for what the name means to the platform, since the buzz itself is not ours to shape.
_WATCHOS: Mapping[CueKind, str] = MappingProxyType(
    {
        CueKind.HOLD_START: "start",
        CueKind.HOLD_WARNING: "directionDown",
        CueKind.HOLD_END: "stop",
        CueKind.ROUTINE_COMPLETE: "success",
    }
)

# "alert" may loop until stopped, so the Fitbit app stops every pattern after `duration_ms`.
_FITBIT: Mapping[CueKind, str] = MappingProxyType(
    {
        CueKind.HOLD_START: "confirmation-max",
        CueKind.HOLD_WARNING: "ping",
        CueKind.HOLD_END: "nudge-max",
        CueKind.ROUTINE_COMPLETE: "alert",
    }
)


def pattern_for(kind: CueKind) -> HapticPattern:
    """The one pattern every platform derives its buzz for `kind` from."""
    return _PATTERNS[CueKind(kind)]


def to_wear_os(pattern: HapticPattern) -> dict[str, Any]:
    """Arguments for `VibrationEffect.createWaveform(timings, amplitudes, repeat)`."""
    timings = [0]  # createWaveform starts with an off delay; 0 buzzes at once.
    amplitudes = [0]
    last = len(pattern.segments) - 1
    for i, s in enumerate(pattern.segments):
        timings.append(s.on_ms)
        amplitudes.append(_scale(s.intensity, WEAR_OS_MAX_AMPLITUDE))
        if i < last:
            timings.append(s.off_ms)
            amplitudes.append(0)
    return {"timings": timings, "amplitudes": amplitudes, "repeat": -1}


def to_web_vibration(pattern: HapticPattern) -> list[int]:
    """The `navigator.vibrate` list: buzz, pause, buzz, ... (the Web has no intensity)."""
    out: list[int] = []
    for s in pattern.segments:
        out += [s.on_ms, s.off_ms]
    return out[:-1]  # The last pause is always 0 and the Web would drop it anyway.


def to_garmin(pattern: HapticPattern) -> list[dict[str, int]]:
    """`Attention.VibeProfile(dutyCycle, length)` arguments; a pause is duty cycle 0."""
    profiles: list[dict[str, int]] = []
    for s in pattern.segments:
        duty = _scale(s.intensity, GARMIN_MAX_DUTY_CYCLE)
        profiles.append({"duty_cycle": duty, "length_ms": s.on_ms})
        if s.off_ms > 0:  # Back-to-back buzzes (a ramp) need no 0-length profile between.
            profiles.append({"duty_cycle": 0, "length_ms": s.off_ms})
    return profiles


def to_watchos(pattern: HapticPattern) -> str:
    """The WKHapticType case to play, since watchOS plays only named haptics."""
    return _WATCHOS[pattern.name]


def to_fitbit(pattern: HapticPattern) -> str:
    """The Fitbit `vibration.start()` pattern name, since Fitbit plays only named patterns."""
    return _FITBIT[pattern.name]


def all_platforms(pattern: HapticPattern) -> dict[str, Any]:
    """Every rendering of `pattern`, embedded in each cue so a watch needs no lookup table."""
    return {
        "name": pattern.name.value,
        "duration_ms": pattern.duration_ms,
        "pattern": pattern.to_dict(),
        Platform.WEAR_OS.value: to_wear_os(pattern),
        Platform.WEB.value: to_web_vibration(pattern),
        Platform.GARMIN.value: to_garmin(pattern),
        Platform.WATCHOS.value: to_watchos(pattern),
        Platform.FITBIT.value: to_fitbit(pattern),
    }
