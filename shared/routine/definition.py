"""The routine as data: loaded from a TOML or JSON file and validated before anyone hears it.

The file format (TOML shown; a JSON file has the same keys and must be UTF-8, as TOML is):

    id = "sciatica-release-and-stretch"  # lower-case letters, digits, dashes: 1-63 characters
    title = "Sciatica release and stretch"
    safety_note = "..."                  # spoken before a user's first run and when asked
    first_side = "left"                  # optional, "left" (the default) or "right"
    hold_seconds = 30                    # optional: the length of a hold that names none

    [[steps]]
    id = "stretch"
    title = "Sciatic stretch, {side} side"
    say = "Now the {side} side. ..."
    hold = { seconds = 30, side = "both" }  # optional; both keys optional
    settle_seconds = 5                      # optional: see below

A step without `hold` is spoken, then waits for "next". When the voice carries on by itself
(a person's hands-free flow), it gives `settle_seconds` of quiet before each of the step's
holds, to get into position (DEFAULT_SETTLE_SECONDS if not given). A hold's `side` is one of:

- "both", the default: the step becomes one step per side, `first_side` first, with the id
  suffixed "-left" / "-right" (the suffixed id must still fit in 63 characters);
- "left" or "right": one hold on that side;
- "none": one hold with no side, for something that works the body as a whole.

In a step with a side, "{side}" and "{other_side}" in `title` and `say` name it; any other
brace left after filling (a typo such as "{sid}", or "{side}" in a step without a side) is
refused rather than read aloud. Spoken text (`title`, `say`, `safety_note`) is plain words
of at most 2000 characters: no <, > or & (it goes into SSML unescaped) and no control
characters (not valid in XML); runs of whitespace become one space. Unknown keys, duplicate
keys and bad values are refused with the field and its place ("steps[2].hold.seconds").
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

DEFAULT_HOLD_SECONDS = 30.0
DEFAULT_SETTLE_SECONDS = 5.0
DEFAULT_ROUTINE = "sciatica.toml"
#: Between a step's id and which of its holds a step is ("stretch-left#2"): ids have no "#".
REPEAT_MARK = "#"

_MAX_ID = 63
_ID_RE = re.compile(rf"^[a-z0-9][a-z0-9-]{{0,{_MAX_ID - 1}}}$")
# Speakable text must survive being dropped into SSML unescaped.
_SSML_UNSAFE = re.compile(r"[<>&]")
# Characters XML 1.0 forbids (so SSML cannot carry them) and other control characters; tabs
# and line breaks are fine, since whitespace is collapsed.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_PLACEHOLDERS = {"{side}": "side", "{other_side}": "other_side"}
#: A hold's side in a file: a Side, or "none" for a hold on neither side in particular.
NO_SIDE = "none"
_MAX_HOLD_SECONDS = 600.0
_MAX_SETTLE_SECONDS = 60.0
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
    """One announced step; `say` is plain text that is safe to embed in SSML.

    `exercise` is the id the file gave the step: both sides of one exercise share it (their
    ids are suffixed "-left" and "-right"), so "switch sides" is a fact of the routine.
    """

    id: str
    title: str
    say: str
    hold: Hold | None = None
    exercise: str = ""
    #: Which of this side's holds this step is, and how many the side gets (a person may
    #: ask for up to three holds a side).
    repeat: int = 1
    repeats: int = 1
    #: Quiet before the step when the voice carries on by itself, to get into position.
    settle_seconds: float = DEFAULT_SETTLE_SECONDS

    def __post_init__(self) -> None:
        if not self.exercise:  # a step made by hand is an exercise of its own
            object.__setattr__(self, "exercise", self.id)

    @property
    def side(self) -> Side | None:
        return self.hold.side if self.hold else None


@dataclass(frozen=True, slots=True)
class Exercise:
    """One entry of the routine file: its step on each side it is done on, first side first.

    `both` says the file asked for both sides, so a person's own first side may reorder them.
    """

    id: str
    sides: tuple[Step, ...]
    both: bool = False


@dataclass(frozen=True, slots=True)
class Routine:
    """An ordered list of steps plus the safety note every new user hears first.

    `steps` is the routine as the file gives it. A person's run follows a plan of its own
    (their first side, their holds per side, their hold length): `plan` names its steps by
    key, and `personalised` turns a plan into the steps that run hears.
    """

    id: str
    title: str
    safety_note: str
    steps: tuple[Step, ...]
    exercises: tuple[Exercise, ...] = ()
    #: The file's steps by id, made once: every view of every poll checks its run's plan.
    _by_id: Mapping[str, Step] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.exercises:  # a routine made by hand: each step an exercise of its own
            object.__setattr__(self, "exercises", tuple(Exercise(s.id, (s,)) for s in self.steps))
        by_id = {step.id: step for exercise in self.exercises for step in exercise.sides}
        object.__setattr__(self, "_by_id", MappingProxyType(by_id))

    def __len__(self) -> int:
        return len(self.steps)

    def step(self, index: int) -> Step:
        return self.steps[index]

    @property
    def last_index(self) -> int:
        return len(self.steps) - 1

    # -- a person's own plan -----------------------------------------------------------

    def plan(self, holds_per_side: int = 1, first_side: Side | None = None) -> tuple[str, ...]:
        """The keys of the steps a run does: each hold `holds_per_side` times, in a row, and
        each two-sided exercise from `first_side` (the file's own order if None)."""
        return self._plan(holds_per_side, first_side, {})

    def replan(
        self,
        plan: tuple[str, ...],
        index: int,
        holds_per_side: int = 1,
        first_side: Side | None = None,
    ) -> tuple[str, ...]:
        """`plan` with every step after `index` planned again with new settings.

        What is done (up to and including step `index`) stays; an exercise already begun
        keeps the side it began on, so a new first side changes only exercises to come, and
        a side already begun gets the new number of holds counting those it had.
        """
        done = plan[: index + 1]
        began = {}
        for key in done:
            step = self.keyed(key)
            began.setdefault(step.exercise, step.side)
        fresh = self._plan(holds_per_side, first_side, began)
        current = done[-1]
        if current in fresh:
            at = fresh.index(current)
        else:  # fewer holds than the one under way: carry on after this side's last
            base = _base(current)
            same = [i for i, key in enumerate(fresh) if _base(key) == base]
            at = same[-1] if same else -1
        return done + tuple(key for key in fresh[at + 1 :] if key not in done)

    def _plan(
        self, holds_per_side: int, first_side: Side | None, began: dict[str, Side | None]
    ) -> tuple[str, ...]:
        keys: list[str] = []
        for exercise in self.exercises:
            sides = list(exercise.sides)
            first = began.get(exercise.id, first_side) if exercise.both else None
            if first is not None and sides[0].side is not first:
                sides.reverse()
            for step in sides:
                repeats = holds_per_side if step.hold is not None else 1
                keys.extend(step_key(step.id, repeat) for repeat in range(1, repeats + 1))
        return tuple(keys)

    def keyed(self, key: str) -> Step:
        """The file's step a plan's key names (KeyError if the routine has none)."""
        return self._by_id[_base(key)]

    def knows(self, key: str) -> bool:
        base, _, repeat = key.partition(REPEAT_MARK)
        if base not in self._by_id:
            return False
        return not repeat or (repeat.isdigit() and 1 < int(repeat) <= 9)

    def personalised(self, plan: tuple[str, ...], hold_seconds: float | None) -> Routine:
        """This routine as one run hears it: the plan's steps, each hold `hold_seconds` long
        (the file's own lengths if None)."""
        counts: dict[str, int] = {}
        for key in plan:
            counts[_base(key)] = counts.get(_base(key), 0) + 1
        steps = []
        for key in plan:
            step = self.keyed(key)
            hold = step.hold
            if hold is not None and hold_seconds is not None:
                hold = Hold(float(hold_seconds), hold.side)
            steps.append(
                replace(
                    step,
                    id=key,
                    hold=hold,
                    repeat=_repeat(key),
                    repeats=counts[_base(key)],
                )
            )
        return replace(self, steps=tuple(steps))


def step_key(step_id: str, repeat: int = 1) -> str:
    """A plan's key for the `repeat`-th hold of a step: its id, then "#2", "#3"."""
    return step_id if repeat == 1 else f"{step_id}{REPEAT_MARK}{repeat}"


def _base(key: str) -> str:
    return key.partition(REPEAT_MARK)[0]


def _repeat(key: str) -> int:
    repeat = key.partition(REPEAT_MARK)[2]
    return int(repeat) if repeat else 1


def load_routine(path: str | Path | None = None) -> Routine:
    """Load a routine file (TOML or JSON by suffix); None loads the packaged sciatica routine."""
    if path is None:
        text = (
            resources.files("shared.routine")
            .joinpath("routines", DEFAULT_ROUTINE)
            .read_text("utf-8")
        )
        return parse_routine(text, fmt="toml", source=DEFAULT_ROUTINE)
    path = Path(path)
    fmt = "json" if path.suffix.lower() == ".json" else "toml"
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise RoutineError("file", f"cannot read: {exc.strerror}", str(path)) from exc
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        raise RoutineError("file", problem, str(path)) from exc
    return parse_routine(text, fmt=fmt, source=str(path))


def parse_routine(text: str, *, fmt: str = "toml", source: str = "routine") -> Routine:
    """Parse and validate routine text, so a bad file fails at start-up, not mid-stretch."""
    try:
        data = tomllib.loads(text) if fmt == "toml" else json.loads(text, object_pairs_hook=_Object)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise RoutineError("file", f"not valid {fmt.upper()}: {exc}", source) from exc
    if not isinstance(data, Mapping):
        raise RoutineError("file", "the top level must be a table/object", source)
    return _Validator(source).routine(data)


class _Object(dict[str, Any]):
    """A JSON object that remembers keys given twice, which json.loads would silently drop."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        keys = [key for key, _ in pairs]
        self.duplicates = sorted({key for key in keys if keys.count(key) > 1})


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
        title = self._filled(self._text(data, "title", "title"), None, "title")
        safety = self._filled(self._text(data, "safety_note", "safety_note"), None, "safety_note")
        first_raw = data.get("first_side", Side.LEFT.value)
        if first_raw not in (Side.LEFT.value, Side.RIGHT.value):
            raise self.fail("first_side", "must be 'left' or 'right'")
        first = Side(first_raw)
        default_hold = self._seconds(data.get("hold_seconds", DEFAULT_HOLD_SECONDS), "hold_seconds")
        raw_steps = data.get("steps")
        if not isinstance(raw_steps, list) or not raw_steps:
            raise self.fail("steps", "must be a non-empty list of steps")
        steps: list[Step] = []
        exercises: list[Exercise] = []
        seen: set[str] = set()
        for index, raw in enumerate(raw_steps):
            # Name the entry in the file, not its place after sides were expanded.
            sides = self._steps(raw, f"steps[{index}]", first, default_hold)
            for step in sides:
                if step.id in seen:
                    raise self.fail(f"steps[{index}].id", f"duplicate step id {step.id!r}")
                seen.add(step.id)
                steps.append(step)
            exercises.append(Exercise(sides[0].exercise, tuple(sides), both=len(sides) == 2))
        return Routine(routine_id, title, safety, tuple(steps), tuple(exercises))

    def _steps(self, raw: Any, where: str, first: Side, default_hold: float) -> list[Step]:
        if not isinstance(raw, Mapping):
            raise self.fail(where, "must be a table/object")
        self._no_unknown(raw, {"id", "title", "say", "hold", "settle_seconds"}, where)
        step_id = self._ident(raw, "id", f"{where}.id")
        title = self._text(raw, "title", f"{where}.title")
        say = self._text(raw, "say", f"{where}.say")
        settle = self._settle(raw.get("settle_seconds", DEFAULT_SETTLE_SECONDS), where)
        return [
            replace(step, settle_seconds=settle)
            for step in self._sides(raw, where, step_id, title, say, first, default_hold)
        ]

    def _sides(
        self,
        raw: Mapping[str, Any],
        where: str,
        step_id: str,
        title: str,
        say: str,
        first: Side,
        default_hold: float,
    ) -> list[Step]:
        hold_raw = raw.get("hold")
        if hold_raw is None:
            return [self._step(where, step_id, step_id, title, say, None, None)]
        hold_where = f"{where}.hold"
        if not isinstance(hold_raw, Mapping):
            raise self.fail(hold_where, "must be a table/object with seconds and side")
        self._no_unknown(hold_raw, {"seconds", "side"}, hold_where)
        seconds = self._seconds(hold_raw.get("seconds", default_hold), f"{hold_where}.seconds")
        side = self._side(hold_raw.get("side", Side.BOTH.value), f"{hold_where}.side")
        if side is not Side.BOTH:
            return [self._step(where, step_id, step_id, title, say, seconds, side)]
        return [
            self._step(where, f"{step_id}-{one.value}", step_id, title, say, seconds, one)
            for one in (first, first.other)
        ]

    def _step(
        self,
        where: str,
        step_id: str,
        exercise: str,
        title: str,
        say: str,
        seconds: float | None,
        side: Side | None,
    ) -> Step:
        """One step as heard: its side filled into its words, every placeholder accounted for."""
        if len(step_id) > _MAX_ID:
            raise self.fail(
                f"{where}.id",
                f"{step_id!r} is longer than {_MAX_ID} characters once its side is added",
            )
        hold = None if seconds is None else Hold(seconds, side)
        return Step(
            step_id,
            self._filled(title, side, f"{where}.title"),
            self._filled(say, side, f"{where}.say"),
            hold,
            exercise,
        )

    def _filled(self, text: str, side: Side | None, where: str) -> str:
        """`text` with {side} and {other_side} filled; a brace left over is refused."""
        if side is not None:
            text = text.replace("{side}", side.value).replace("{other_side}", side.other.value)
        brace = re.search(r"\{[^{}]*\}|[{}]", text)
        if brace:
            found = brace.group()
            if found in _PLACEHOLDERS and side is None:
                problem = f"{found} is only filled in a step whose hold has a side"
            else:
                problem = (
                    f"has {found!r} left unfilled (only {{side}} and {{other_side}} are filled,"
                    " and a brace is never spoken)"
                )
            raise self.fail(where, problem)
        return text

    def _no_unknown(self, data: Mapping[str, Any], known: set[str], where: str) -> None:
        prefix = f"{where}." if where else ""
        duplicates = getattr(data, "duplicates", [])
        if duplicates:
            raise self.fail(f"{prefix}{duplicates[0]}", "is given twice (keep one)")
        unknown = sorted(set(data) - known)
        if unknown:
            raise self.fail(
                f"{prefix}{unknown[0]}", f"unknown field (expected one of {sorted(known)})"
            )

    def _ident(self, data: Mapping[str, Any], key: str, where: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not _ID_RE.match(value):
            raise self.fail(
                where, f"must be a lower-case id of letters, digits and dashes (1-{_MAX_ID} long)"
            )
        return value

    def _text(self, data: Mapping[str, Any], key: str, where: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, "must be non-empty text")
        if len(value) > _MAX_TEXT:
            raise self.fail(where, f"is longer than {_MAX_TEXT} characters")
        if _SSML_UNSAFE.search(value):
            raise self.fail(where, "must not contain <, > or & (it is spoken through SSML)")
        control = _CONTROL.search(value)
        if control:
            raise self.fail(
                where,
                f"must not contain control character U+{ord(control.group()):04X}"
                f" at character {control.start()} (not valid in SSML)",
            )
        return " ".join(value.split())

    def _side(self, value: Any, where: str) -> Side | None:
        """A hold's side; None for "none", a hold on neither side in particular."""
        if value == NO_SIDE:
            return None
        try:
            return Side(value)
        except ValueError:
            raise self.fail(where, "must be 'left', 'right', 'both' or 'none'") from None

    def _settle(self, value: Any, where: str) -> float:
        where = f"{where}.settle_seconds"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, "must be a number of seconds")
        if not 0 <= value <= _MAX_SETTLE_SECONDS:
            raise self.fail(where, f"must be from 0 to {_MAX_SETTLE_SECONDS:g}")
        return float(value)

    def _seconds(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, "must be a number of seconds")
        if not 0 < value <= _MAX_HOLD_SECONDS:
            raise self.fail(where, f"must be more than 0 and at most {_MAX_HOLD_SECONDS:g}")
        return float(value)
