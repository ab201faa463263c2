"""A user's own voice profile times their replies: the hold starts as their speaker finishes."""

from __future__ import annotations

import pytest
from flask import Flask

from sciatica_coach.app import coach_of, services_of
from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock
from shared.stores.base import UserVoice
from shared.timing import VoiceProfile, WordPrices
from tests.support.speech import hold_silence_s

#: A slow speaker that draws every break out by a fifth of a second and some.
SLOW = VoiceProfile(
    name="slow speaker",
    parts={},
    prices=WordPrices(fixed_s=0.5, per_syllable_s=0.4),
    gap_s=0.2,
    gap_per_s=0.01,
    start_delay_s=1.5,
)


def test_a_user_with_a_profile_gets_holds_timed_and_silences_written_for_it(
    app: Flask, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    coach = coach_of(app)
    coach.store.save_voice(speaker.user_id, UserVoice(SLOW.dumps(), 0.0), clock.now())
    asked = clock.now()

    turn = speaker.says("StartRoutineIntent")

    hold = coach.view(speaker.user_id).hold
    assert hold is not None
    lead_in = turn.ssml.split('<break time="10000ms"')[0]
    assert hold.start - asked == pytest.approx(SLOW.estimate(lead_in + "</speak>"), abs=0.002)
    assert hold_silence_s(turn.ssml) == pytest.approx(SLOW.break_for_silence(30.0), abs=0.001)
    assert hold_silence_s(turn.ssml) < 30.0


def test_a_nudged_user_has_every_cue_moved_and_no_one_else(
    app: Flask, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    coach = coach_of(app)
    voices = services_of(app).voices
    speaker.says("StartRoutineIntent")  # the safety note, once
    plain_start = clock.now()
    speaker.says("AMAZON.StartOverIntent")
    plain = coach.view(speaker.user_id).hold
    assert plain is not None

    voices.nudge(speaker.user_id, 0.3, clock.now())
    nudged_start = clock.now()
    speaker.says("AMAZON.StartOverIntent")
    nudged = coach.view(speaker.user_id).hold
    assert nudged is not None
    assert (nudged.start - nudged_start) - (plain.start - plain_start) == pytest.approx(0.3)
    assert voices.timing_for("amzn1.ask.account.SOMEONE-ELSE") is voices.default
