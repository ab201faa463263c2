"""Everything the product speaks is in our own words: no run of 8 words from the seed article."""

from __future__ import annotations

import pytest

from shared.routine.definition import Routine, load_routine
from skill import speech
from tests.support.own_words import RUN_WORDS, article_fingerprints, run_hashes


def spoken_texts(routine: Routine) -> dict[str, str]:
    texts = {"routine.title": routine.title, "routine.safety_note": routine.safety_note}
    for step in routine.steps:
        texts[f"{step.id}.title"] = step.title
        texts[f"{step.id}.say"] = step.say
    texts.update({f"speech.{key}": phrase for key, phrase in speech.PHRASES.items()})
    return texts


@pytest.mark.parametrize(("where", "text"), sorted(spoken_texts(load_routine()).items()))
def test_no_spoken_text_copies_the_article(where: str, text: str) -> None:
    copied = [run for digest, run in run_hashes(text).items() if digest in article_fingerprints()]
    assert not copied, f"{where} copies the article: {copied[0]!r}"


def test_the_check_finds_a_copied_run_however_it_is_punctuated() -> None:
    source = "One two three, four five six seven eight nine ten."
    borrowed = "We say: ONE two three four five six seven EIGHT, then more."
    ours = "One two three four five six seven, and then something else entirely."
    assert set(run_hashes(source)) & set(run_hashes(borrowed))
    assert not set(run_hashes(source)) & set(run_hashes(ours))
    assert RUN_WORDS == 8


def test_the_fingerprints_are_there() -> None:
    assert len(article_fingerprints()) > 500
