"""The wrist and the voice drive one run: what the watch does, the next voice turn says.

The watch acts over POST /api/v1/actions and the speaker sends signed envelopes to /alexa,
both through the same app on the same hand-moved clock, as one person would use them.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock
from shared.pairing.service import PairingService
from shared.routine.coach import Coach
from shared.routine.engine import Phase
from tests.support.speech import hold_silence_s
from tests.support.watch import WatchActions


@pytest.fixture
def wrist(client: FlaskClient, pairing: PairingService, speaker: AlexaSimulator) -> WatchActions:
    """The speaker's user's watch, paired by saying its code to Alexa."""
    helper = WatchActions(client, pairing)
    helper.pair_by_voice(speaker)
    return helper


def says_step(ssml: str, coach: Coach, index: int) -> bool:
    step = coach.routine.step(index)
    return f"Step {index + 1} of {len(coach.routine)}" in ssml and step.say in ssml


def test_next_on_the_wrist_is_where_the_next_voice_turn_carries_on(
    wrist: WatchActions, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
) -> None:
    assert says_step(speaker.says("StartRoutineIntent").ssml, coach, 0)
    clock.advance(5)
    moved = wrist.act("next")
    assert moved.status_code == 200
    assert moved.get_json()["step"]["index"] == 1

    again = speaker.says("AMAZON.RepeatIntent")  # "Alexa, repeat": the step the wrist chose
    assert again.status == 200
    assert says_step(again.ssml, coach, 1)
    assert not says_step(again.ssml, coach, 0)
    following = speaker.says("AMAZON.NextIntent")  # "Alexa, next": on from there
    assert says_step(following.ssml, coach, 2)
    assert wrist.poll().get_json()["step"]["index"] == 2  # and the wrist hears the voice


def test_a_hold_paused_on_the_wrist_is_resumed_by_voice_with_the_time_it_had_left(
    wrist: WatchActions, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
) -> None:
    speaker.says("StartRoutineIntent")
    view = coach.view(speaker.user_id)
    assert view.hold is not None
    clock.set(view.hold.start + 10)  # ten seconds into the hold
    paused = wrist.act("pause").get_json()
    assert paused["state"] == "paused"
    left_s = paused["hold"]["remaining_ms"] / 1000
    assert left_s == pytest.approx(view.hold.seconds - 10)

    clock.advance(120)  # a long pause: the hold waits
    resumed = speaker.says("AMAZON.ResumeIntent")  # "Alexa, ask sciatica coach to resume"
    assert resumed.status == 200
    assert hold_silence_s(resumed.ssml) == pytest.approx(left_s)  # the rest of the hold, spoken
    after = coach.view(speaker.user_id)
    assert after.phase in (Phase.ANNOUNCING, Phase.HOLDING)
    assert after.step_index == 0
    assert after.hold is not None
    assert after.hold.remaining == pytest.approx(left_s)
    cues = wrist.poll().get_json()["cues"]
    assert [cue["kind"] for cue in cues][-1] == "hold_end"
    assert cues[-1]["at_ms"] == round(after.hold.end * 1000)
