"""Reading SSML with the XML pull parser: what a speaker plays, and a clear error for junk."""

from __future__ import annotations

import pytest

from shared.timing import SpeechTimingModel, VoiceProfile, WordPrices
from shared.timing.ssml import (
    MAX_BREAK_SECONDS,
    PIECE_BREAK,
    STRUCTURE_PAUSE,
    Silence,
    Speech,
    SSMLError,
    pieces,
    silence_ssml,
    tokens,
)
from tests.support.speech import ALEXA_BREAK_STRENGTHS

PARAGRAPH = ("edge", STRUCTURE_PAUSE["p"])
SENTENCE = ("edge", STRUCTURE_PAUSE["s"])


# -- structure ------------------------------------------------------------------------------


def test_a_whole_document_and_a_fragment_read_alike() -> None:
    assert tokens("<speak>Lie down.</speak>") == tokens("Lie down.") == [("text", "Lie down.")]
    assert tokens("") == []


def test_text_and_tags_side_by_side_keep_their_order() -> None:
    ssml = f"Lie down.{PIECE_BREAK}Knee up.<break/>Breathe."
    assert tokens(ssml) == [
        ("text", "Lie down."),
        ("break", 0.3),
        ("text", "Knee up."),
        ("break", 0.5),
        ("text", "Breathe."),
    ]


def test_nested_paragraphs_sentences_and_unknown_tags() -> None:
    ssml = (
        "<speak><p><s>One <emphasis level='strong'>two</emphasis> three.</s>"
        "<s><prosody rate='slow'>Four <break time='1s'/>five.</prosody></s></p>After.</speak>"
    )
    assert tokens(ssml) == [
        PARAGRAPH,
        SENTENCE,
        ("text", "One "),
        ("text", "two"),
        ("text", " three."),
        SENTENCE,
        SENTENCE,
        ("text", "Four "),
        ("break", 1.0),
        ("text", "five."),
        SENTENCE,
        PARAGRAPH,
        ("text", "After."),
    ]
    assert pieces(ssml) == [
        Speech("One two three."),
        Silence(STRUCTURE_PAUSE["s"]),
        Speech("Four"),
        Silence(1.0),
        Speech("five."),
        Silence(STRUCTURE_PAUSE["p"]),
        Speech("After."),
    ]


def test_tag_and_attribute_names_are_read_in_any_case() -> None:
    assert tokens('<BREAK TIME="2s"/><Sub Alias="ess">s</Sub>') == [
        ("break", 2.0),
        ("text", "ess"),
    ]


def test_namespaced_tags_alexas_own_included_are_read_by_their_local_name() -> None:
    ssml = (
        '<speak xmlns="http://www.w3.org/2001/10/synthesis">'
        '<amazon:effect name="whispered">Quietly<break time="500ms"/>now.</amazon:effect>'
        "<p>Done.</p></speak>"
    )
    assert tokens(ssml) == [
        ("text", "Quietly"),
        ("break", 0.5),
        ("text", "now."),
        PARAGRAPH,
        ("text", "Done."),
        PARAGRAPH,
    ]


def test_comments_are_not_heard() -> None:
    assert pieces("One <!-- not said --> two.") == [Speech("One  two.")]


# -- entities -------------------------------------------------------------------------------


def test_xml_entities_are_read_as_the_characters_they_stand_for() -> None:
    ssml = "<speak>R&amp;D &lt;3 &gt; &quot;so&quot; it&apos;s it&#8217;s it&#x2019;s</speak>"
    assert tokens(ssml) == [("text", 'R&D <3 > "so" it\'s it\u2019s it\u2019s')]


def test_entities_in_attributes_are_read_too() -> None:
    assert tokens('<sub alias="R&amp;D">RnD</sub>') == [("text", "R&D")]


def test_cdata_is_text() -> None:
    assert tokens("<![CDATA[a < b]]>") == [("text", "a < b")]


# -- breaks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time", "seconds"),
    [
        ("2s", 2.0),
        ("2S", 2.0),
        (".5s", 0.5),
        ("2.s", 2.0),
        ("1.25s", 1.25),
        ("500ms", 0.5),
        ("500MS", 0.5),
        ("1500Ms", 1.5),
        (" 3s ", 3.0),
        ("0ms", 0.0),
        ("10000ms", 10.0),
        ("10001ms", MAX_BREAK_SECONDS),
        ("25s", MAX_BREAK_SECONDS),
        ("3", 0.0),
        ("3 min", 0.0),
        ("-1s", 0.0),
        ("soon", 0.0),
    ],
)
def test_a_break_time_in_seconds_or_milliseconds(time: str, seconds: float) -> None:
    assert tokens(f'<break time="{time}"/>') == [("break", seconds)]


@pytest.mark.parametrize(("strength", "seconds"), [*ALEXA_BREAK_STRENGTHS, ("unheard-of", 0.5)])
def test_a_break_strength_plays_as_alexa_plays_it(strength: str, seconds: float) -> None:
    assert tokens(f"<break strength='{strength}'/>") == [("break", seconds)]


def test_time_wins_over_strength_and_no_attribute_is_medium() -> None:
    assert tokens('<break strength="x-strong" time="2s"/><break/>') == [
        ("break", 2.0),
        ("break", 0.5),
    ]


def test_an_open_and_closed_break_is_one_break() -> None:
    assert tokens('<break time="2s"></break>') == [("break", 2.0)]


def test_chained_breaks_add_up_to_the_silence_they_were_written_for() -> None:
    assert pieces(f"Go.{silence_ssml(25)}Stop.") == [Speech("Go."), Silence(25.0), Speech("Stop.")]


# -- sub and say-as -------------------------------------------------------------------------


def test_a_sub_is_heard_as_its_alias_and_its_text_is_not() -> None:
    assert tokens('Press <sub alias="control">ctrl</sub> now') == [
        ("text", "Press "),
        ("text", "control"),
        ("text", " now"),
    ]


def test_a_sub_without_an_alias_is_heard_as_its_text() -> None:
    assert tokens("<sub>plain</sub>") == [("text", "plain")]


def test_a_self_closed_sub_is_its_alias() -> None:
    assert tokens('a<sub alias="bee"/>c') == [("text", "a"), ("text", "bee"), ("text", "c")]


def test_nothing_said_inside_an_aliased_sub_is_heard_not_even_a_nested_alias() -> None:
    ssml = '<sub alias="one"><emphasis>two</emphasis><sub alias="three">four</sub></sub>five'
    assert tokens(ssml) == [("text", "one"), ("text", "five")]


@pytest.mark.parametrize("interpret_as", ["digits", "characters", "spell-out"])
def test_spelled_text_is_marked(interpret_as: str) -> None:
    ssml = f'Code <say-as interpret-as="{interpret_as}">482913</say-as>.'
    assert tokens(ssml) == [
        ("text", "Code "),
        ("spell+", None),
        ("text", "482913"),
        ("spell-", None),
        ("text", "."),
    ]
    assert pieces(ssml) == [Speech("Code"), Speech("482913.", spell=True)]


def test_other_say_as_is_not_spelled_even_around_a_spelled_one() -> None:
    ssml = (
        '<say-as interpret-as="cardinal">12 <say-as interpret-as="digits">34</say-as> 56</say-as>'
    )
    assert tokens(ssml) == [
        ("text", "12 "),
        ("spell+", None),
        ("text", "34"),
        ("spell-", None),
        ("text", " 56"),
    ]


# -- malformed ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ssml", "problem", "line", "column"),
    [
        ("<speak>Step one.", "<speak> is not closed", 1, 17),
        ("<speak><p>One.</speak>", "a closing tag does not match <p>", 1, 17),
        ("</break>", "a closing tag has no opening tag", 1, 3),
        ("<speak>\n<p>One.\n</speak>", "a closing tag does not match <p>", 3, 3),
        ("<p>One<s>two", "<s> is not closed", 1, 13),
        ("Tom & Jerry", "not well-formed (invalid token)", 1, 6),
        ("it&rsquo;s", "undefined entity", 1, 3),
        ('<break time=2s"/>', "not well-formed (invalid token)", 1, 13),
        ("<break time='1s' time='2s'/>", "duplicate attribute", 1, 18),
        ("<foo:bar/>", "unbound prefix", 1, 1),
        ('<?xml version="1.0"?><speak/>', "XML or text declaration not at start", 1, 1),
        ("<!DOCTYPE speak><speak/>", "not well-formed", 1, 3),
    ],
)
def test_ssml_that_is_not_well_formed_is_refused_saying_what_and_where(
    ssml: str, problem: str, line: int, column: int
) -> None:
    with pytest.raises(SSMLError) as caught:
        tokens(ssml)
    assert problem in caught.value.problem
    assert (caught.value.line, caught.value.column) == (line, column)
    assert str(caught.value).startswith("SSML is not well-formed: ")
    assert f"at line {line}, column {column}" in str(caught.value)


def test_an_undefined_entity_is_told_which_entities_there_are() -> None:
    with pytest.raises(SSMLError, match="&amp;"):
        tokens("it&rsquo;s")


def test_a_refusal_is_a_value_error_and_every_timing_raises_it() -> None:
    profile = VoiceProfile(
        name="test voice",
        parts={"lie down.": 1.0},
        prices=WordPrices(fixed_s=0.3, per_syllable_s=0.2, per_word_s=0.0),
    )
    for timing in (SpeechTimingModel(), profile):
        with pytest.raises(ValueError, match="not well-formed"):
            timing.estimate("<speak>Lie down.")
    with pytest.raises(SSMLError):
        pieces("<speak>Lie down.")
