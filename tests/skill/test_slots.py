"""Reading slots as Alexa fills them: AMAZON.NUMBER's digits and "?", entity resolution."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ask_sdk_core.serialize import DefaultSerializer
from ask_sdk_model import Slot

from sciatica_coach.demo.simulator import resolved
from skill.slots import Unheard, heard_choice, heard_number, heard_whole, whole_in

SIDES = frozenset({"left", "right"})


def slot(value: str | None = None, **more: Any) -> Slot:
    """A Slot read from its JSON, the way the SDK reads a request."""
    data = {"name": "s", "confirmationStatus": "NONE", **more}
    if value is not None:
        data["value"] = value
    return DefaultSerializer().deserialize(json.dumps(data), Slot)


class TestNumbers:
    @pytest.mark.parametrize(("value", "number"), [("45", 45), ("0", 0), ("-5", -5), ("4.5", 4.5)])
    def test_digits_are_a_number(self, value: str, number: float) -> None:
        assert heard_number(slot(value)) == number

    @pytest.mark.parametrize("value", [None, "", "   "])
    def test_nothing_said_is_missing(self, value: str | None) -> None:
        assert heard_number(slot(value)) is Unheard.MISSING
        assert heard_number(None) is Unheard.MISSING

    @pytest.mark.parametrize("value", ["?", "forty", "nan", "inf", "1e3", "4 5", "0x10"])
    def test_what_is_not_digits_is_not_understood(self, value: str) -> None:
        assert heard_number(slot(value)) is Unheard.NOT_UNDERSTOOD

    def test_a_number_of_any_length_is_read_without_error(self) -> None:
        assert heard_whole(slot("9" * 5000), 15, 60) is Unheard.OUT_OF_RANGE

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("15", 15),
            ("60", 60),
            ("14", Unheard.OUT_OF_RANGE),
            ("61", Unheard.OUT_OF_RANGE),
            ("30.5", Unheard.OUT_OF_RANGE),
            ("30.0", 30),
            ("?", Unheard.NOT_UNDERSTOOD),
        ],
    )
    def test_a_whole_number_in_range(self, value: str, expected: int | Unheard) -> None:
        got = heard_whole(slot(value), 15, 60)
        assert got == expected
        assert type(got) is type(expected)

    def test_whole_in_refuses_infinity(self) -> None:
        assert whole_in(float("inf"), 1, 3) is Unheard.OUT_OF_RANGE
        assert whole_in(Unheard.MISSING, 1, 3) is Unheard.MISSING


class TestChoices:
    def test_one_match_gives_its_id(self) -> None:
        assert heard_choice(slot(**resolved("right leg", "right")), SIDES) == "right"

    def test_no_match_is_not_understood(self) -> None:
        assert heard_choice(slot(**resolved("sideways")), SIDES) is Unheard.NOT_UNDERSTOOD

    def test_two_matches_are_not_guessed_between(self) -> None:
        both = slot(**resolved("either", "left", "right"))
        assert heard_choice(both, SIDES) is Unheard.NOT_UNDERSTOOD

    @pytest.mark.parametrize("code", ["ER_ERROR_TIMEOUT", "ER_ERROR_EXCEPTION"])
    def test_a_failed_resolution_is_not_understood(self, code: str) -> None:
        failed = slot(**resolved("right", "right", code=code))
        assert heard_choice(failed, SIDES) is Unheard.NOT_UNDERSTOOD

    def test_a_match_outside_the_choices_is_not_understood(self) -> None:
        assert heard_choice(slot(**resolved("up", "up")), SIDES) is Unheard.NOT_UNDERSTOOD

    def test_a_match_is_found_past_another_authority(self) -> None:
        # Dynamic entities come first when a skill has them; the static match still counts.
        static = resolved("right", "right")["resolutions"]["resolutionsPerAuthority"]
        dynamic = {
            "authority": "amzn1.er-authority.echo-sdk.dynamic",
            "status": {"code": "ER_SUCCESS_NO_MATCH"},
        }
        found = slot("right", resolutions={"resolutionsPerAuthority": [dynamic, *static]})
        assert heard_choice(found, SIDES) == "right"

    def test_without_resolutions_the_words_themselves_count(self) -> None:
        assert heard_choice(slot("Right"), SIDES) == "right"
        assert heard_choice(slot("middle"), SIDES) is Unheard.NOT_UNDERSTOOD

    def test_nothing_said_is_missing(self) -> None:
        assert heard_choice(slot(), SIDES) is Unheard.MISSING
        assert heard_choice(None, SIDES) is Unheard.MISSING
