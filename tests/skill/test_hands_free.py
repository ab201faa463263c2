"""Hands-free: the voice says step after step by itself, and the watch buzzes with it."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from sciatica_coach.app import coach_of
from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.cues import CueKind
from shared.routine.engine import Phase
from skill import speech
from skill.hands_free import LISTEN_S, MAX_REPLY_S, MAX_SSML_CHARS
from tests.support.voice import into_first_hold, past_first_step

BREAK = re.compile(r'<break time="(\d+)ms"/>')


@pytest.fixture
def hands_free(app: Flask, speaker: AlexaSimulator) -> Coach:
    coach = coach_of(app)
    coach.change_settings(speaker.user_id, flow="hands_free")
    return coach


def test_start_says_the_routine_in_one_reply_and_its_reprompt(
    hands_free: Coach, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    turn = speaker.says("StartRoutineIntent")
    assert "Step 1 of 6" in turn.ssml
    assert "Step 2 of 6" in turn.ssml
    assert turn.reprompt is not None
    assert "Step 6 of 6" in turn.reprompt
    assert speech.say("next_prompt") not in turn.ssml + turn.reprompt
    assert not turn.ends_session
    for document in (turn.ssml, turn.reprompt):
        assert len(document) <= MAX_SSML_CHARS
        assert hands_free.engine.timing.estimate(document) <= MAX_REPLY_S
        assert all(int(ms) <= 10_000 for ms in BREAK.findall(document))


def test_the_run_follows_the_reply_step_by_step_by_the_clock(
    hands_free: Coach, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    speaker.says("StartRoutineIntent")
    view = hands_free.view(speaker.user_id)
    holds = [cue for cue in view.cues if cue.kind is CueKind.HOLD_END]
    assert len(holds) == 4  # every hold of the routine is scheduled by one reply
    seen = []
    for cue in view.cues:
        clock.set(cue.at + 0.01)
        now = hands_free.view(speaker.user_id)
        seen.append((cue.step_index, now.step_index))
    assert all(step == at for step, at in seen)
    assert hands_free.view(speaker.user_id).phase is Phase.COMPLETED


def test_pausing_mid_reply_pauses_the_step_being_spoken(
    hands_free: Coach, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    speaker.says("StartRoutineIntent")
    view = hands_free.view(speaker.user_id)
    third_hold = [c for c in view.cues if c.kind is CueKind.HOLD_START][2]
    clock.set(third_hold.at + 10)
    speaker.says("AMAZON.PauseIntent")
    paused = hands_free.view(speaker.user_id)
    assert paused.phase is Phase.PAUSED
    assert paused.step_index == third_hold.step_index
    assert paused.hold is not None
    assert paused.hold.remaining == pytest.approx(20)
    assert paused.cues == ()


def test_resume_picks_the_hold_up_and_carries_on_by_itself(
    hands_free: Coach, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    into_first_hold(speaker, hands_free, clock, into=12)
    speaker.says("AMAZON.PauseIntent")
    clock.advance(60)
    turn = speaker.says("AMAZON.ResumeIntent")
    assert speech.say("hold_resume") in turn.ssml
    assert "Step 2 of 6" in turn.ssml
    view = hands_free.view(speaker.user_id)
    assert view.hold.end - view.hold.start == pytest.approx(18)
    assert [c.step_index for c in view.cues if c.kind is CueKind.HOLD_END] == [0, 1, 3, 4]


def test_the_gap_before_the_reprompt_is_in_the_schedule(
    hands_free: Coach, speaker: AlexaSimulator
) -> None:
    turn = speaker.says("StartRoutineIntent")
    timing = hands_free.engine.timing
    first_part = timing.estimate(turn.ssml)
    view = hands_free.view(speaker.user_id)
    reprompt_steps = [s for s in range(6) if f"Step {s + 1} of 6" in turn.reprompt]
    first_of_reprompt = reprompt_steps[0]
    starts = {c.step_index: c.at for c in view.cues if c.kind is CueKind.HOLD_START}
    if first_of_reprompt in starts:
        lead = turn.reprompt.split("<break")[0] + "</speak>"
        expected = view.now + first_part + LISTEN_S + timing.estimate(lead)
        assert starts[first_of_reprompt] == pytest.approx(expected)


def test_asking_how_long_is_left_mid_hold_carries_the_routine_on(
    hands_free: Coach, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    hold = into_first_hold(speaker, hands_free, clock, into=10).hold
    turn = speaker.says("TimeLeftIntent")
    assert "20 seconds left" in turn.ssml
    assert "Step 2 of 6" in turn.ssml  # the person's words cut the reply off: it goes on
    view = hands_free.view(speaker.user_id)
    assert view.hold.end == pytest.approx(hold.end)  # the hold under way keeps its end
    starts = [c for c in view.cues if c.kind is CueKind.HOLD_START]
    assert [c.step_index for c in starts] == [1, 3, 4]
    lead = turn.ssml.split("Step 2 of 6")[0] + "</speak>"
    timing = hands_free.engine.timing
    # Step 2's words start once everything before them in this answer has been said.
    assert view.state.chain[0].started_at >= clock.now() + timing.estimate(lead) - 1e-6


def test_a_nudge_between_two_steps_goes_on_to_the_next(
    hands_free: Coach, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    past_first_step(speaker, hands_free, clock)  # after "Time's up", in the quiet before step 2
    turn = speaker.says("BuzzEarlyIntent")
    assert speech.say("nudge_later") in turn.ssml
    assert "Step 2 of 6" in turn.ssml
    assert hands_free.view(speaker.user_id).step_index == 1


def test_repeat_mid_reply_says_the_step_being_spoken_again_and_goes_on(
    hands_free: Coach, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    speaker.says("StartRoutineIntent")
    view = hands_free.view(speaker.user_id)
    second = view.state.chain[0]
    clock.set(second.hold_start + 5)
    turn = speaker.says("AMAZON.RepeatIntent")
    assert turn.ssml.count("Step 2 of 6") == 1
    assert "Step 3 of 6" in turn.ssml
    again = hands_free.view(speaker.user_id)
    assert again.step_index == 1
    assert again.phase is Phase.ANNOUNCING


def test_next_mode_stays_for_those_who_want_it(
    app: Flask, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    coach = coach_of(app)
    coach.change_settings(speaker.user_id, flow="on_next")
    turn = speaker.says("StartRoutineIntent")
    assert "Step 2 of 6" not in turn.ssml
    assert speech.say("next_prompt") in turn.ssml
    assert coach.view(speaker.user_id).state.chain == ()


def test_switching_to_hands_free_mid_run_carries_on_from_the_next_reply(
    app: Flask, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    coach = coach_of(app)
    coach.change_settings(speaker.user_id, flow="on_next")
    speaker.says("StartRoutineIntent")
    coach.change_settings(speaker.user_id, flow="hands_free")
    clock.set(coach.view(speaker.user_id).state.step_end + 1)
    turn = speaker.says("AMAZON.NextIntent")
    assert "Step 2 of 6" in turn.ssml
    assert "Step 3 of 6" in turn.ssml


def test_resuming_a_pause_between_two_steps_goes_on_to_the_next(
    hands_free: Coach, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    past_first_step(speaker, hands_free, clock)  # "Time's up", then quiet
    speaker.says("AMAZON.PauseIntent")
    paused = hands_free.view(speaker.user_id)
    assert paused.phase is Phase.PAUSED
    assert paused.hold is None  # that hold is done: what is left starts with the next step
    turn = speaker.says("AMAZON.ResumeIntent")
    assert "Step 2 of 6" in turn.ssml
    assert "Step 3 of 6" in turn.ssml
    assert hands_free.view(speaker.user_id).step_index == 1
