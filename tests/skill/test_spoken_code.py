"""What Alexa heard for a pairing code, read as its six digits (or as nothing heard)."""

from __future__ import annotations

import pytest

from skill.spoken_code import heard_nothing, parse_spoken_code


@pytest.mark.parametrize(
    ("spoken", "code"),
    [
        ("482913", "482913"),
        ("48 29 13", "482913"),
        ("4 8 2 9 1 3", "482913"),
        ("four eight two nine one three", "482913"),
        ("Four Eight Two Nine One Three", "482913"),
        ("four 8 two 9 one 3", "482913"),
        ("four-eight-two, nine-one-three", "482913"),
        ("one oh two three four five", "102345"),
        ("one zero two three four five", "102345"),
        ("double four eight two nine one", "448291"),
        ("triple seven one two three", "777123"),
        ("  482913  ", "482913"),
        ("012345", "012345"),  # parses; bind refuses it (codes never start with 0)
    ],
)
def test_a_spoken_code_becomes_six_digits(spoken: str, code: str) -> None:
    assert parse_spoken_code(spoken) == code


@pytest.mark.parametrize(
    "spoken",
    [
        None,
        "",
        "?",
        "48291",
        "4829134",
        "four eight two nine one",
        "four eight two nine one three four",
        "four eight to nine one three",  # homophones are not guessed at
        "pair code 482913",
        "48291three3",
        "double",
        "four eight two nine one double",
        "\uff14\uff18\uff12\uff19\uff11\uff13",  # full-width digits: not what Alexa sends
        "48.2913e0",
    ],
)
def test_anything_but_exactly_six_digits_is_no_code(spoken: str | None) -> None:
    assert parse_spoken_code(spoken) is None


@pytest.mark.parametrize("spoken", [None, "", "  ", "?"])
def test_a_blank_or_not_understood_slot_is_nothing_heard(spoken: str | None) -> None:
    assert heard_nothing(spoken)


@pytest.mark.parametrize("spoken", ["4", "four", "482913", "pair code"])
def test_any_word_heard_is_something_heard(spoken: str) -> None:
    assert not heard_nothing(spoken)
