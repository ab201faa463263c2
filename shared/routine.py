"""The routine as data: loaded from a TOML or JSON file and validated before anyone hears it."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_HOLD_SECONDS = 30.0
DEFAULT_ROUTINE = "sciatica.toml"

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Speakable text must survive being dropped into SSML unescaped.
_SSML_UNSAFE = re.compile(r"[<>&]")
_MAX_HOLD_SECONDS = 600.0
_MAX_TEXT = 2000


class Side(StrEnum):
    """Which side of the body a hold works; BOTH only exists in files, before expansion."""

    LEFT = "left"
    RIGHT = "right"
    BOTH = "both"

    @property
    def other(self) -> Side:
        return {Side.LEFT: Side.RIGHT, Side.RIGHT: Side.LEFT}[self]


class RoutineError(ValueError):
    """A routine file that cannot be used; the message names the field and where it sits."""

    def __init__(self, where: str, problem: str, source: str = "routine") -> None:
        super().__init__(f"{source}: {where}: {problem}")
        self.where = where
        self.problem = problem
        self.source = source


@dataclass(frozen=True, slots=True)
class Hold:
    """A timed hold that starts once the instruction has been spoken."""

    seconds: float
    side: Side | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One announced step; `say` is plain text that is safe to embed in SSML."""

    id: str
    title: str
    say: str
    hold: Hold | None = None

    @property
    def side(self) -> Side | None:
        return self.hold.side if self.hold else None


@dataclass(frozen=True, slots=True)
class Routine:
    """An ordered list of steps plus the safety note every new user hears first."""

    id: str
    title: str
    safety_note: str
    steps: tuple[Step, ...]

    def __len__(self) -> int:
        return len(self.steps)

    def step(self, index: int) -> Step:
        return self.steps[index]

    @property
    def last_index(self) -> int:
        return len(self.steps) - 1


def load_routine(path: str | Path | None = None) -> Routine:
    """Load a routine file (TOML or JSON by suffix); None loads the packaged sciatica routine."""
    if path is None:
        text = resources.files("shared").joinpath("routines", DEFAULT_ROUTINE).read_text("utf-8")
        return parse_routine(text, fmt="toml", source=DEFAULT_ROUTINE)
    path = Path(path)
    fmt = "json" if path.suffix.lower() == ".json" else "toml"
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise RoutineError("file", f"cannot read: {exc.strerror}", str(path)) from exc
    return parse_routine(text, fmt=fmt, source=str(path))


def parse_routine(text: str, *, fmt: str = "toml", source: str = "routine") -> Routine:
    """Parse and validate routine text, so a bad file fails at start-up, not mid-stretch."""
    try:
        data = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise RoutineError("file", f"not valid {fmt.upper()}: {exc}", source) from exc
    if not isinstance(data, Mapping):
        raise RoutineError("file", "the top level must be a table/object", source)
    return _Validator(source).routine(data)


class _Validator:
    """Turns raw mappings into a Routine, naming the exact field that is wrong."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> RoutineError:
        return RoutineError(where, problem, self.source)

    def routine(self, data: Mapping[str, Any]) -> Routine:
        known = {"id", "title", "safety_note", "first_side", "hold_seconds", "steps"}
        self._no_unknown(data, known, "")
        routine_id = self._ident(data, "id", "id")
        title = self._text(data, "title", "title")
        safety = self._text(data, "safety_note", "safety_note")
        first = self._side(data.get("first_side", "left"), "first_side")
        if first is Side.BOTH:
            raise self.fail("first_side", "must be 'left' or 'right'")
        default_hold = self._seconds(data.get("hold_seconds", DEFAULT_HOLD_SECONDS), "hold_seconds")
        raw_steps = data.get("steps")
        if not isinstance(raw_steps, list) or not raw_steps:
            raise self.fail("steps", "must be a non-empty list of steps")
        steps: list[Step] = []
        seen: set[str] = set()
        for index, raw in enumerate(raw_steps):
            # Name the entry in the file, not its place after sides were expanded.
            for step in self._steps(raw, f"steps[{index}]", first, default_hold):
                if step.id in seen:
                    raise self.fail(f"steps[{index}].id", f"duplicate step id {step.id!r}")
                seen.add(step.id)
                steps.append(step)
        return Routine(routine_id, title, safety, tuple(steps))

    def _steps(self, raw: Any, where: str, first: Side, default_hold: float) -> list[Step]:
        if not isinstance(raw, Mapping):
            raise self.fail(where, "must be a table/object")
        self._no_unknown(raw, {"id", "title", "say", "hold"}, where)
        step_id = self._ident(raw, "id", f"{where}.id")
        title = self._text(raw, "title", f"{where}.title")
        say = self._text(raw, "say", f"{where}.say")
        hold_raw = raw.get("hold")
        if hold_raw is None:
            return [Step(step_id, self._fill(title, None), self._fill(say, None))]
        hold_where = f"{where}.hold"
        if not isinstance(hold_raw, Mapping):
            raise self.fail(hold_where, "must be a table/object with seconds and side")
        self._no_unknown(hold_raw, {"seconds", "side"}, hold_where)
        seconds = self._seconds(hold_raw.get("seconds", default_hold), f"{hold_where}.seconds")
        side_raw = hold_raw.get("side")
        side = None if side_raw is None else self._side(side_raw, f"{hold_where}.side")
        if side is not Side.BOTH:
            return [
                Step(step_id, self._fill(title, side), self._fill(say, side), Hold(seconds, side))
            ]
        return [
            Step(
                f"{step_id}-{one.value}",
                self._fill(title, one),
                self._fill(say, one),
                Hold(seconds, one),
            )
            for one in (first, first.other)
        ]

    @staticmethod
    def _fill(text: str, side: Side | None) -> str:
        if side is None or side is Side.BOTH:
            return text
        return text.replace("{side}", side.value).replace("{other_side}", side.other.value)

    def _no_unknown(self, data: Mapping[str, Any], known: set[str], where: str) -> None:
        unknown = sorted(set(data) - known)
        if unknown:
            prefix = f"{where}." if where else ""
            raise self.fail(
                f"{prefix}{unknown[0]}", f"unknown field (expected one of {sorted(known)})"
            )

    def _ident(self, data: Mapping[str, Any], key: str, where: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not _ID_RE.match(value):
            raise self.fail(where, "must be a lower-case id of letters, digits and dashes")
        return value

    def _text(self, data: Mapping[str, Any], key: str, where: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, "must be non-empty text")
        if len(value) > _MAX_TEXT:
            raise self.fail(where, f"is longer than {_MAX_TEXT} characters")
        if _SSML_UNSAFE.search(value):
            raise self.fail(where, "must not contain <, > or & (it is spoken through SSML)")
        return " ".join(value.split())

    def _side(self, value: Any, where: str) -> Side:
        try:
            return Side(value)
        except ValueError:
            raise self.fail(where, "must be 'left', 'right' or 'both'") from None

    def _seconds(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, "must be a number of seconds")
        if not 0 < value <= _MAX_HOLD_SECONDS:
            raise self.fail(where, f"must be more than 0 and at most {_MAX_HOLD_SECONDS:g}")
        return float(value)
