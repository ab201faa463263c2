"""The whole routine by voice, on a hand-moved clock: what is said, and what the wrist gets."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from sciatica_coach.app import coach_of
from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock
from shared.routine.cues import CueKind
from shared.routine.engine import Phase
from shared.timing import MAX_BREAK_SECONDS
from tests.support.speech import hold_silence_s

BREAK = re.compile(r'<break time="(\d+)ms"/>')


def test_whole_routine_by_voice_keeps_voice_and_wrist_together(
    app: Flask, speaker: AlexaSimulator, clock: ManualClock
) -> None:
    routine = coach_of(app).routine
    user = speaker.user_id
    turn = speaker.launch()
    assert turn.status == 200
    assert "not medical advice" in turn.ssml
    turn = speaker.says("AMAZON.YesIntent")
    spoken_steps = []
    for index, step in enumerate(routine.steps):
        assert turn.status == 200, turn.body
        assert f"Step {index + 1} of {len(routine)}" in turn.ssml
        assert step.say in turn.ssml
        spoken_steps.append(step.id)
        view = coach_of(app).view(user)
        assert view.step_index == index
        if step.hold is not None:
            # The hold is spoken as chained breaks of at most ten seconds each...
            breaks = [int(ms) for ms in BREAK.findall(turn.ssml)]
            assert all(ms <= MAX_BREAK_SECONDS * 1000 for ms in breaks)
            assert hold_silence_s(turn.ssml) == pytest.approx(step.hold.seconds)
            assert "Time's up" in turn.ssml
            # ...and the core's hold starts where the words before it end.
            lead_in = turn.ssml.split("<break")[0] + "</speak>"
            timing = coach_of(app).engine.timing
            assert view.hold.start == pytest.approx(clock.now() + timing.estimate(lead_in))
            kinds = [cue.kind for cue in view.cues]
            assert kinds == [CueKind.HOLD_START, CueKind.HOLD_WARNING, CueKind.HOLD_END]
            assert view.cues[-1].at == pytest.approx(view.hold.end)
            assert not turn.ends_session
            assert turn.reprompt
        if index == routine.last_index:
            assert turn.ends_session
            assert [cue.kind for cue in view.cues] == [CueKind.ROUTINE_COMPLETE]
            break
        clock.set(view.state.step_end + 3)
        turn = speaker.says("AMAZON.NextIntent")
    assert spoken_steps == [step.id for step in routine.steps]
    clock.advance(60)
    assert coach_of(app).view(user).phase is Phase.COMPLETED
    assert len(coach_of(app).history(user)) == 1


def test_switching_sides_is_said_between_left_and_right(
    speaker: AlexaSimulator, clock: ManualClock
) -> None:
    first = speaker.says("StartRoutineIntent")
    assert "left side" in first.ssml
    assert "Switch sides" in first.ssml
    second = speaker.says("AMAZON.NextIntent")
    assert "right side" in second.ssml
    assert "Switch sides" not in second.ssml
