"""Routine files: the packaged routine says the right things, and a bad file says what is wrong."""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from shared.routine import Routine, RoutineError, Side, load_routine, parse_routine

PACKAGED_TOML = resources.files("shared").joinpath("routines", "sciatica.toml").read_text("utf-8")


def packaged_data() -> dict[str, Any]:
    return tomllib.loads(PACKAGED_TOML)


def write_json(tmp_path: Path, data: Any, name: str = "routine.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), "utf-8")
    return path


# -- the packaged routine ----------------------------------------------------------------


def test_packaged_routine_releases_both_sides_then_sets_up_then_stretches_then_closes(
    routine: Routine,
) -> None:
    assert [step.id for step in routine.steps] == [
        "release-left",
        "release-right",
        "setup",
        "stretch-left",
        "stretch-right",
        "close",
    ]


def test_packaged_routine_holds_every_side_for_thirty_seconds_left_first(
    routine: Routine,
) -> None:
    holds = [(step.id, step.hold.seconds, step.side) for step in routine.steps if step.hold]
    assert holds == [
        ("release-left", 30.0, Side.LEFT),
        ("release-right", 30.0, Side.RIGHT),
        ("stretch-left", 30.0, Side.LEFT),
        ("stretch-right", 30.0, Side.RIGHT),
    ]


@pytest.mark.parametrize("step_id", ["setup", "close"])
def test_packaged_routine_setup_and_close_have_no_hold(routine: Routine, step_id: str) -> None:
    (step,) = [step for step in routine.steps if step.id == step_id]
    assert step.hold is None
    assert step.side is None


def test_packaged_routine_fills_in_the_side_everywhere(routine: Routine) -> None:
    for step in routine.steps:
        assert "{" not in step.title + step.say, step.id
    by_id = {step.id: step for step in routine.steps}
    assert by_id["release-right"].title == "Ball release, right side"
    assert "under your right buttock" in by_id["release-right"].say
    assert "hold your left ankle with your right hand" in by_id["stretch-left"].say
    assert "hold your right ankle with your left hand" in by_id["stretch-right"].say


@pytest.mark.parametrize("phrase", ["not medical advice", "sharp pain", "numbness"])
def test_packaged_safety_note_warns_about(routine: Routine, phrase: str) -> None:
    assert phrase in routine.safety_note


def test_packaged_text_is_one_line_of_plain_words(routine: Routine) -> None:
    for text in [routine.safety_note, *(s.say for s in routine.steps)]:
        assert text == " ".join(text.split())


def test_json_routine_with_the_same_content_loads_the_same(
    tmp_path: Path, routine: Routine
) -> None:
    assert load_routine(write_json(tmp_path, packaged_data())) == routine


def test_toml_file_on_disk_loads_like_the_packaged_one(tmp_path: Path, routine: Routine) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(PACKAGED_TOML, "utf-8")
    assert load_routine(path) == routine


def test_first_side_right_puts_the_right_side_first(tmp_path: Path) -> None:
    data = packaged_data()
    data["first_side"] = "right"
    routine = load_routine(write_json(tmp_path, data))
    assert [step.id for step in routine.steps] == [
        "release-right",
        "release-left",
        "setup",
        "stretch-right",
        "stretch-left",
        "close",
    ]
    assert routine.steps[0].title == "Ball release, right side"
    assert "hold your right ankle with your left hand" in routine.steps[3].say


def test_hold_seconds_default_applies_to_holds_without_their_own(tmp_path: Path) -> None:
    data = packaged_data()
    data["hold_seconds"] = 45
    data["steps"][2]["hold"]["seconds"] = 20
    routine = load_routine(write_json(tmp_path, data))
    assert [step.hold.seconds for step in routine.steps if step.hold] == [45, 45, 20, 20]


# -- bad files ---------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting `a.b[2].c`-style `path` (as a list of keys) to `value`."""
    keys: list[str | int] = [int(k) if k.isdigit() else k for k in path.split(".")]

    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    keys: list[str | int] = [int(k) if k.isdigit() else k for k in path.split(".")]

    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return mutate


def _add_step(step: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["steps"].append(step)


def _insert_step(step: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda data: data["steps"].insert(0, step)


BAD_ROUTINES = [
    pytest.param(_delete("steps.2.say"), "steps[2].say", "non-empty text", id="missing-say"),
    pytest.param(_set("steps.2.say", "   "), "steps[2].say", "non-empty text", id="blank-say"),
    pytest.param(
        _set("steps.1.colour", "red"), "steps[1].colour", "unknown field", id="step-field"
    ),
    pytest.param(_set("author", "me"), "author", "unknown field", id="top-level-field"),
    pytest.param(
        _set("steps.0.hold.reps", 3), "steps[0].hold.reps", "unknown field", id="hold-field"
    ),
    *(
        pytest.param(
            _set("steps.0.hold.seconds", value),
            "steps[0].hold.seconds",
            problem,
            id=f"hold-seconds-{value!r}",
        )
        for value, problem in [
            (0, "more than 0"),
            (-1, "more than 0"),
            (601, "at most 600"),
            ("30", "number of seconds"),
            (True, "number of seconds"),
        ]
    ),
    pytest.param(_set("hold_seconds", 0), "hold_seconds", "more than 0", id="default-hold-0"),
    pytest.param(_set("steps.2.hold", 30), "steps[2].hold", "table/object", id="hold-not-table"),
    pytest.param(_set("steps.0.hold.side", "up"), "steps[0].hold.side", "'left'", id="side-up"),
    pytest.param(_set("first_side", "both"), "first_side", "'left' or 'right'", id="first-both"),
    pytest.param(_set("first_side", "up"), "first_side", "'left'", id="first-up"),
    # Where names the entry in the file, not its place once "both" sides were expanded.
    pytest.param(
        _add_step({"id": "stretch-left", "title": "Again", "say": "Once more."}),
        "steps[4].id",
        "duplicate step id 'stretch-left'",
        id="duplicate-of-an-expanded-step",
    ),
    pytest.param(
        _insert_step({"id": "release-right", "title": "Warm up", "say": "Walk about."}),
        "steps[1].id",
        "duplicate step id 'release-right'",
        id="expansion-duplicates-an-earlier-step",
    ),
    pytest.param(
        _set("steps.1.id", "close"), "steps[3].id", "duplicate step id 'close'", id="duplicate"
    ),
    pytest.param(_set("steps.1.id", "Setup Step"), "steps[1].id", "lower-case id", id="bad-id"),
    pytest.param(_set("steps.0.say", "Lie <down>"), "steps[0].say", "<, > or &", id="lt-in-say"),
    pytest.param(_set("title", "Stretch & go"), "title", "<, > or &", id="amp-in-title"),
    pytest.param(_set("safety_note", "x" * 2001), "safety_note", "longer than", id="too-long"),
    pytest.param(_set("steps", []), "steps", "non-empty list", id="empty-steps"),
    pytest.param(_delete("steps"), "steps", "non-empty list", id="no-steps"),
    pytest.param(_set("steps.3", "close"), "steps[3]", "table/object", id="step-not-table"),
]


@pytest.mark.parametrize(("mutate", "where", "problem"), BAD_ROUTINES)
def test_bad_routine_names_the_field_and_where_it_is(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], where: str, problem: str
) -> None:
    data = copy.deepcopy(packaged_data())
    mutate(data)
    path = write_json(tmp_path, data)
    with pytest.raises(RoutineError) as caught:
        load_routine(path)
    assert caught.value.where == where
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}: {where}: ")


def test_bad_toml_routine_names_the_step_too() -> None:
    text = PACKAGED_TOML.replace(
        'hold = { side = "both" }', 'hold = { side = "both", seconds = 0 }'
    )
    with pytest.raises(RoutineError) as caught:
        parse_routine(text, fmt="toml", source="mine.toml")
    assert caught.value.where == "steps[0].hold.seconds"
    assert str(caught.value).startswith("mine.toml: steps[0].hold.seconds: ")


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("broken.toml", 'id = "x"\ntitle = ', "not valid TOML"),
        ("broken.json", '{"id": "x", ', "not valid JSON"),
        ("list.json", "[1, 2]", "top level must be a table/object"),
    ],
)
def test_unparsable_file_is_refused(tmp_path: Path, name: str, text: str, problem: str) -> None:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    with pytest.raises(RoutineError) as caught:
        load_routine(path)
    assert caught.value.where == "file"
    assert problem in caught.value.problem
    assert caught.value.source == str(path)


def test_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(RoutineError) as caught:
        load_routine(path)
    assert caught.value.where == "file"
    assert "cannot read" in caught.value.problem
    assert caught.value.source == str(path)


def test_routine_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="steps"):
        parse_routine('id = "x"\ntitle = "X"\nsafety_note = "Careful."\nsteps = []')
