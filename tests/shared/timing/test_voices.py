"""Whose voice: a user's own profile and nudges win over the deployment's timing."""

from __future__ import annotations

import logging

import pytest

from shared.stores.base import UserVoice
from shared.stores.sqlite import SQLiteStore
from shared.timing import SpeechTimingModel
from shared.timing.fit import Take
from shared.timing.script import CalibrationScript
from shared.timing.voices import MAX_NUDGE_S, NUDGE_STEP_S, Voices
from tests.support.timing import recording_of

ALICE = "amzn1.ask.account.ALICE"
BOB = "amzn1.ask.account.BOB"
NOW = 1_780_000_000.0
DOC = "<speak>Hold for 30 seconds.</speak>"
SCRIPT = CalibrationScript.of(["Hold for 30 seconds.", "Starting now.", "Time's up."])


def whole(sounds: list[tuple[float, float]]) -> Take:
    """The whole script heard in one take, its recording started with the response."""
    return Take((0, len(SCRIPT.parts)), sounds, response_at=0.0)


@pytest.fixture
def voices(store: SQLiteStore) -> Voices:
    return Voices(store, SpeechTimingModel(start_delay_s=0.3))


def test_a_user_with_nothing_of_their_own_gets_the_deployments_timing(voices: Voices) -> None:
    assert voices.timing_for(ALICE) is voices.default


def test_a_calibrated_user_is_timed_by_their_own_profile_and_no_one_else(
    voices: Voices,
) -> None:
    profile = voices.calibrate(ALICE, SCRIPT, [whole(recording_of(SCRIPT, start=1.2))], NOW)
    assert profile.start_delay_s == pytest.approx(1.2)
    assert voices.timing_for(ALICE).estimate(DOC) == pytest.approx(profile.estimate(DOC))
    assert voices.timing_for(ALICE).estimate(DOC) != voices.default.estimate(DOC)
    assert voices.timing_for(BOB) is voices.default


def test_nudges_add_up_in_small_steps_and_stop_at_the_bound(voices: Voices) -> None:
    before = voices.timing_for(ALICE).estimate(DOC)
    first = voices.nudge(ALICE, NUDGE_STEP_S, NOW)
    assert (first.offset_s, first.at_limit) == (NUDGE_STEP_S, False)
    assert voices.timing_for(ALICE).estimate(DOC) == pytest.approx(before + NUDGE_STEP_S)
    for _ in range(round(MAX_NUDGE_S / NUDGE_STEP_S) + 3):
        last = voices.nudge(ALICE, NUDGE_STEP_S, NOW)
    assert (last.offset_s, last.at_limit) == (MAX_NUDGE_S, True)
    assert voices.nudge(ALICE, -NUDGE_STEP_S, NOW).offset_s == pytest.approx(MAX_NUDGE_S - 0.1)
    assert voices.timing_for(BOB) is voices.default


def test_calibrating_starts_the_nudges_over_and_reset_drops_both(voices: Voices) -> None:
    voices.nudge(ALICE, -NUDGE_STEP_S, NOW)
    voices.calibrate(ALICE, SCRIPT, [whole(recording_of(SCRIPT))], NOW)
    assert voices.store.load_voice(ALICE).offset_s == 0.0
    voices.reset(ALICE, NOW)
    assert voices.store.load_voice(ALICE) == UserVoice()


def test_a_stored_profile_that_cannot_be_read_falls_back_and_says_so(
    voices: Voices, caplog: pytest.LogCaptureFixture
) -> None:
    voices.store.save_voice(ALICE, UserVoice('{"format": 99}', 0.2), NOW)
    with caplog.at_level(logging.ERROR):
        timing = voices.timing_for(ALICE)
    assert timing.estimate(DOC) == pytest.approx(voices.default.estimate(DOC) + 0.2)
    assert "cannot be read" in caplog.text


def test_a_nudge_must_be_a_number(voices: Voices) -> None:
    with pytest.raises(ValueError, match="finite"):
        voices.nudge(ALICE, float("nan"), NOW)
