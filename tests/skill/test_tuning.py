"""'The buzz was early / late': a small, bounded nudge of that user's cues, kept with them."""

from __future__ import annotations

import pytest
from flask import Flask
from speech_support import hold_silence_s

from sciatica_coach.app import coach_of
from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock
from shared.stores.base import UserVoice
from shared.timing.voices import MAX_NUDGE_S, NUDGE_STEP_S


def lead_in_s(app: Flask, speaker: AlexaSimulator, clock: ManualClock, intent: str) -> float:
    """How long after the request the hold of the step `intent` announces starts."""
    asked = clock.now()
    speaker.says(intent)
    hold = coach_of(app).view(speaker.user_id).hold
    assert hold is not None
    return hold.start - asked


def test_an_early_buzz_moves_the_next_holds_later_by_one_step(
    app: Flask, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    speaker.says("StartRoutineIntent")
    speaker.says("AMAZON.StopIntent")
    before = lead_in_s(app, speaker, clock, "AMAZON.StartOverIntent")
    speaker.says("AMAZON.StopIntent")

    turn = speaker.says("BuzzEarlyIntent")

    assert "buzz a little later" in turn.ssml
    assert turn.ends_session
    after = lead_in_s(app, speaker, clock, "AMAZON.StartOverIntent")
    assert after - before == pytest.approx(NUDGE_STEP_S)


def test_a_late_buzz_moves_them_earlier(
    app: Flask, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    turn = speaker.says("BuzzLateIntent")
    assert "buzz a little earlier" in turn.ssml
    voice = coach_of(app).store.load_voice(speaker.user_id)
    assert voice.offset_s == pytest.approx(-NUDGE_STEP_S)


def test_nudges_stop_at_the_bound_and_say_so(app: Flask, speaker: AlexaSimulator) -> None:
    for _ in range(round(MAX_NUDGE_S / NUDGE_STEP_S)):
        speaker.says("BuzzEarlyIntent")
    turn = speaker.says("BuzzEarlyIntent")
    assert "as far as I can move the buzz" in turn.ssml
    assert coach_of(app).store.load_voice(speaker.user_id).offset_s == MAX_NUDGE_S


def test_a_nudge_mid_hold_carries_the_rest_of_the_hold(
    speaker: AlexaSimulator, clock: ManualClock
) -> None:
    speaker.says("StartRoutineIntent")
    clock.advance(60)  # well into the first hold (the safety note and step take ~40 s)
    turn = speaker.says("BuzzEarlyIntent")
    assert "buzz a little later" in turn.ssml
    assert "Time's up" in turn.ssml
    assert 0 < hold_silence_s(turn.ssml) < 30
    assert not turn.ends_session


def test_a_nudge_is_forgotten_with_the_user(app: Flask, speaker: AlexaSimulator) -> None:
    speaker.says("BuzzEarlyIntent")
    speaker.disables_skill()
    assert coach_of(app).store.load_voice(speaker.user_id) == UserVoice()
