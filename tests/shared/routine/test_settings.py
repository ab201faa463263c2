"""A person's own settings: every value checked once, kept as JSON, read back the same."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.routine.definition import Side
from shared.routine.settings import Flow, Settings, SettingsError


def test_the_defaults_leave_everything_to_the_routine_and_ask_about_the_flow() -> None:
    settings = Settings()
    assert settings.hold_seconds is None
    assert settings.first_side is None
    assert settings.holds_per_side == 1
    assert settings.warning_buzz is True
    assert settings.flow is None
    assert settings.time_zone is None


def test_settings_round_trip_through_their_json() -> None:
    settings = Settings(45, 2, Side.RIGHT, False, Flow.HANDS_FREE, "Europe/Berlin")
    assert Settings.loads(settings.dumps()) == settings
    assert json.loads(settings.dumps()) == {
        "hold_seconds": 45,
        "holds_per_side": 2,
        "first_side": "right",
        "warning_buzz": False,
        "flow": "hands_free",
        "time_zone": "Europe/Berlin",
    }


def test_nothing_stored_reads_as_the_defaults() -> None:
    assert Settings.loads(None) == Settings()


def test_a_field_from_a_newer_release_is_ignored() -> None:
    assert Settings.from_json({"hold_seconds": 20, "voice": "calm"}) == Settings(hold_seconds=20)


def test_a_change_is_checked_and_leaves_the_rest() -> None:
    settings = Settings(hold_seconds=45).changed(first_side="right", holds_per_side=3)
    assert settings == Settings(hold_seconds=45, holds_per_side=3, first_side=Side.RIGHT)


def test_a_whole_float_is_kept_as_a_whole_number() -> None:
    assert Settings().changed(hold_seconds=45.0).hold_seconds == 45


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hold_seconds": 14}, "hold_seconds"),
        ({"hold_seconds": 61}, "hold_seconds"),
        ({"hold_seconds": 30.5}, "hold_seconds"),
        ({"hold_seconds": "30"}, "hold_seconds"),
        ({"hold_seconds": True}, "hold_seconds"),
        ({"hold_seconds": float("nan")}, "hold_seconds"),
        ({"hold_seconds": float("inf")}, "hold_seconds"),
        ({"hold_seconds": 10**400}, "hold_seconds"),
        ({"holds_per_side": -(10**400)}, "holds_per_side"),
        ({"holds_per_side": 0}, "holds_per_side"),
        ({"holds_per_side": 4}, "holds_per_side"),
        ({"holds_per_side": None}, "holds_per_side"),
        ({"first_side": "both"}, "first_side"),
        ({"first_side": "middle"}, "first_side"),
        ({"warning_buzz": "yes"}, "warning_buzz"),
        ({"warning_buzz": None}, "warning_buzz"),
        ({"flow": "sometimes"}, "flow"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"time_zone": 3}, "time_zone"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_setting(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings().changed(**changes)
    assert caught.value.name == field
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize("raw", ["not json", "[]", '"text"', '{"hold_seconds": 5}'])
def test_a_stored_record_that_cannot_be_settings_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError):
        Settings.loads(raw)


@pytest.mark.parametrize("bound", [15, 60])
def test_the_bounds_of_the_hold_are_allowed(bound: int) -> None:
    assert Settings(hold_seconds=bound).hold_seconds == bound
