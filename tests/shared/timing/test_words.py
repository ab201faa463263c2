"""Speech timing: how long Alexa talks, so a hold starts when the words end."""

from __future__ import annotations

import math
import re

import pytest

from shared.timing import (
    MAX_BREAK_SECONDS,
    SpeechTimingModel,
    break_seconds,
    silence_ssml,
)
from tests.support.speech import ALEXA_BREAK_STRENGTHS

#: A model that only counts words and breaks, so expected lengths are easy to state.
PLAIN = SpeechTimingModel(words_per_minute=120.0, punctuation_pause_s={})
WORD_S = 0.5  # 60 / 120


@pytest.mark.parametrize(
    ("ssml", "seconds"),
    [
        ('<break time="1500ms"/>', 1.5),
        ('<break time="250ms"/>', 0.25),
        ('<break time="2s"/>', 2.0),
        ('<break time="0.5s"/>', 0.5),
        ('<break time="10s"/>', 10.0),
        ('<break time="10001ms"/>', MAX_BREAK_SECONDS),
        ('<break time="25s"/>', MAX_BREAK_SECONDS),
        ('<break time = "3s" />', 3.0),
        ("<break time='3s'/>", 3.0),
        ('<break time="soon"/>', 0.0),
        ('<break time="1500ms"/><break time="2s"/>', 3.5),
        ('<break time=".5s"/>', 0.5),
        ('<break time="1S"/>', 1.0),
        ('<break time="500ms"/>', 0.5),
        ('<break time="500MS"/>', 0.5),
        ('<break time="2.s"/>', 2.0),
        ('<break time="." />', 0.0),
        ('<break time="-1s"/>', 0.0),
    ],
)
def test_breaks_are_counted_exactly(ssml: str, seconds: float) -> None:
    assert PLAIN.estimate(ssml) == seconds


@pytest.mark.parametrize(("strength", "seconds"), ALEXA_BREAK_STRENGTHS)
def test_break_strength_has_alexas_length(strength: str, seconds: float) -> None:
    assert PLAIN.estimate(f'<break strength="{strength}"/>') == seconds


def test_break_without_attributes_is_a_medium_break() -> None:
    assert PLAIN.estimate("<break/>") == 0.5


@pytest.mark.parametrize(
    ("ssml", "seconds"),
    [
        ('<break time="2s"></break>', 2.0),
        ("<break></break>", 0.5),
        ('<break strength="strong"> </break>', 0.75),
    ],
)
def test_a_closing_break_tag_is_not_another_break(ssml: str, seconds: float) -> None:
    assert PLAIN.estimate(ssml) == seconds


def test_break_time_wins_over_strength() -> None:
    assert break_seconds({"time": "2s", "strength": "x-strong"}) == 2.0


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("one two three four", 4),
        ("Don't stop, it\u2019s fine", 4),
        ("   ", 0),
        ("Lie down on your back", 5),
    ],
)
def test_words_take_the_configured_rate(text: str, words: int) -> None:
    assert PLAIN.estimate(text) == pytest.approx(words * WORD_S)


def test_doubling_the_rate_halves_the_time_for_words() -> None:
    text = "Draw your left knee up toward your chest"
    slow = SpeechTimingModel(words_per_minute=150.0, punctuation_pause_s={})
    fast = SpeechTimingModel(words_per_minute=300.0, punctuation_pause_s={})
    assert fast.estimate(text) == pytest.approx(slow.estimate(text) / 2)
    assert slow.estimate(text) == pytest.approx(8 * 60 / 150)


def test_rate_does_not_change_breaks() -> None:
    slow = SpeechTimingModel(words_per_minute=100.0)
    fast = SpeechTimingModel(words_per_minute=200.0)
    assert slow.estimate('<break time="3s"/>') == fast.estimate('<break time="3s"/>') == 3.0


def test_punctuation_adds_its_pause() -> None:
    model = SpeechTimingModel(words_per_minute=120.0)
    # 2 words, a comma (0.25) and a full stop (0.45).
    assert model.estimate("Hello, world.") == pytest.approx(2 * WORD_S + 0.25 + 0.45)


def test_punctuation_pauses_are_configurable() -> None:
    model = SpeechTimingModel(words_per_minute=120.0, punctuation_pause_s={"!": 2.0})
    assert model.estimate("Stop! Now.") == pytest.approx(2 * WORD_S + 2.0)


def test_say_as_digits_counts_every_digit() -> None:
    assert PLAIN.estimate('<say-as interpret-as="digits">482913</say-as>') == 6 * WORD_S


@pytest.mark.parametrize("interpret_as", ["digits", "characters", "spell-out"])
def test_spelled_out_text_counts_each_character(interpret_as: str) -> None:
    ssml = f'code <say-as interpret-as="{interpret_as}">ab12</say-as> please'
    assert PLAIN.estimate(ssml) == pytest.approx((1 + 4 + 1) * WORD_S)


def test_a_plain_long_number_is_read_as_a_few_words() -> None:
    # "482913" read as a number is about three words, not six digits.
    assert PLAIN.estimate("482913") == 3 * WORD_S


def test_other_say_as_reads_normally() -> None:
    assert PLAIN.estimate('<say-as interpret-as="cardinal">12</say-as> times') == 2 * WORD_S


def test_unknown_tags_are_ignored_but_their_text_is_spoken() -> None:
    ssml = '<speak><prosody rate="slow">one <emphasis>two</emphasis></prosody></speak>'
    assert PLAIN.estimate(ssml) == 2 * WORD_S


# Alexa's SSML reference: <p> pauses like an x-strong break, <s> like a strong one.
PARAGRAPH_S = 1.0
SENTENCE_S = 0.75


@pytest.mark.parametrize(
    ("ssml", "seconds"),
    [
        ("<p>one</p><p>two</p>", 2 * WORD_S + 2 * PARAGRAPH_S),
        ("<s>one</s> <s>two</s>", 2 * WORD_S + 2 * SENTENCE_S),
        # Where a sentence ends a paragraph, the longer pause is heard, once.
        ("<p><s>one</s><s>two</s></p>", 2 * WORD_S + SENTENCE_S + PARAGRAPH_S),
        # Nothing has been said before the first edge, so it adds no pause.
        ("<p><s>one</s></p>", WORD_S + PARAGRAPH_S),
        ("<p></p>", 0.0),
        ("<S>one</S>", WORD_S + SENTENCE_S),
    ],
)
def test_paragraphs_and_sentences_pause_like_alexas_breaks(ssml: str, seconds: float) -> None:
    assert PLAIN.estimate(ssml) == pytest.approx(seconds)


def test_a_sentence_ending_in_a_full_stop_pauses_once_not_twice() -> None:
    model = SpeechTimingModel(words_per_minute=120.0, punctuation_pause_s={".": 0.45})
    # The tag is "the same as ending a sentence with a period": the full stop is not extra.
    assert model.estimate("<s>One.</s><s>Two.</s>") == pytest.approx(2 * WORD_S + 2 * SENTENCE_S)
    assert model.estimate("One. Two.") == pytest.approx(2 * WORD_S + 2 * 0.45)


@pytest.mark.parametrize(
    ("ssml", "words"),
    [
        ('<sub alias="magnesium">Mg</sub>', 1),
        ('<sub alias="World Wide Web Consortium">W3C</sub> rules', 5),
        ('<sub alias="two words"/> and', 3),
        # Without an alias the content is what is read.
        ("<sub>one two three</sub>", 3),
    ],
)
def test_sub_is_heard_as_its_alias_not_its_content(ssml: str, words: int) -> None:
    assert PLAIN.estimate(ssml) == pytest.approx(words * WORD_S)


@pytest.mark.parametrize(
    ("ssml", "seconds"),
    [
        # Unescaped, &apos; joins "it's" into one word.
        ("it&apos;s fine", 2 * WORD_S),
        # An ampersand on its own is not a word.
        ("salt &amp; pepper", 2 * WORD_S),
        # A comma written as an entity still pauses.
        ("one&#44; two", 2 * WORD_S + 0.25),
    ],
)
def test_entities_are_unescaped_before_counting(ssml: str, seconds: float) -> None:
    model = SpeechTimingModel(words_per_minute=120.0, punctuation_pause_s={",": 0.25})
    assert model.estimate(ssml) == pytest.approx(seconds)


@pytest.mark.parametrize("seconds", [0.001, 1.0, 9.999, 10.0, 10.001, 30.0, 61.5, 600.0])
def test_silence_chains_breaks_of_at_most_ten_seconds_summing_exactly(seconds: float) -> None:
    ssml = silence_ssml(seconds)
    chunks = [int(ms) for ms in re.findall(r'<break time="(\d+)ms"/>', ssml)]
    assert "".join(f'<break time="{ms}ms"/>' for ms in chunks) == ssml
    assert all(0 < ms <= MAX_BREAK_SECONDS * 1000 for ms in chunks)
    assert sum(chunks) == round(seconds * 1000)
    assert PLAIN.estimate(ssml) == pytest.approx(seconds, abs=5e-4)


def test_silence_of_thirty_seconds_is_three_full_breaks() -> None:
    assert silence_ssml(30) == '<break time="10000ms"/>' * 3


def test_no_silence_is_empty() -> None:
    assert silence_ssml(0) == ""


def test_negative_silence_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        silence_ssml(-0.5)


def test_start_delay_is_added_once() -> None:
    delayed = SpeechTimingModel(words_per_minute=120.0, punctuation_pause_s={}, start_delay_s=0.3)
    assert delayed.estimate("") == 0.3
    assert delayed.estimate("one two") == pytest.approx(PLAIN.estimate("one two") + 0.3)


@pytest.mark.parametrize(
    "params",
    [
        {"words_per_minute": 0},
        {"words_per_minute": -160},
        {"start_delay_s": -0.1},
        {"words_per_minute": math.nan},
        {"words_per_minute": math.inf},
        {"start_delay_s": math.nan},
        {"start_delay_s": math.inf},
        {"punctuation_pause_s": {",": math.nan}},
        {"punctuation_pause_s": {".": -0.1}},
    ],
    ids=lambda params: "-".join(f"{k}={v!r}" for k, v in params.items()),
)
def test_invalid_model_parameters_are_refused(params: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"words_per_minute|start_delay_s|punctuation_pause_s"):
        SpeechTimingModel(**params)  # type: ignore[arg-type]
