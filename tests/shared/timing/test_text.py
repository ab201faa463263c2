"""What a voice spends time on: numbers read out, syllables, pauses inside a stretch."""

from __future__ import annotations

import pytest

from shared.timing.text import Features, features, normalized, number_words, spoken_words, syllables


@pytest.mark.parametrize(
    ("n", "said"),
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (30, "thirty"),
        (45, "forty five"),
        (100, "one hundred"),
        (1780, "one thousand seven hundred eighty"),
        (-2, "minus two"),
    ],
)
def test_numbers_are_read_as_words(n: int, said: str) -> None:
    assert " ".join(number_words(n)) == said


@pytest.mark.parametrize(
    ("word", "count"),
    [("take", 1), ("gentle", 2), ("knee", 1), ("eased", 1), ("rested", 2), ("piriformis", 4)],
)
def test_syllables_follow_the_vowel_groups_less_silent_endings(word: str, count: int) -> None:
    assert syllables(word) == count


def test_a_stretch_is_counted_as_spoken_with_its_inner_pauses_only() -> None:
    counted = features("Hold for 30 seconds, then relax.")
    assert spoken_words("Hold for 30 seconds") == ["hold", "for", "thirty", "seconds"]
    # The closing full stop is where the next silence starts, not a pause inside.
    assert counted == Features(syllables=9, words=6, commas=1, stops=0)


def test_spelled_text_is_one_syllable_a_letter_but_w() -> None:
    assert features("4 8 w", spell=True).syllables == 5


def test_case_and_spacing_do_not_make_a_different_text() -> None:
    assert normalized("  Time's   UP. ") == normalized("time's up.")
