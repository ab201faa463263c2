"""The handlers that move the routine, in each state of the user's run."""

from __future__ import annotations

import ast

import pytest

from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.engine import Phase
from skill import speech
from tests.support.paths import REPO
from tests.support.speech import hold_silence_s
from tests.support.voice import into_first_hold


class TestNavigation:
    def test_next_before_starting_offers_to_start(self, speaker: AlexaSimulator) -> None:
        turn = speaker.says("AMAZON.NextIntent")
        assert "haven't started" in turn.ssml
        assert turn.reprompt
        assert not turn.ends_session

    def test_previous_from_the_first_step_says_so_and_repeats_it(
        self, speaker: AlexaSimulator
    ) -> None:
        speaker.says("StartRoutineIntent")
        turn = speaker.says("AMAZON.PreviousIntent")
        assert "That was the first step" in turn.ssml
        assert "Step 1 of 6" in turn.ssml

    def test_previous_goes_back_one_step(self, speaker: AlexaSimulator) -> None:
        speaker.says("StartRoutineIntent")
        speaker.says("AMAZON.NextIntent")
        turn = speaker.says("AMAZON.PreviousIntent")
        assert "Step 1 of 6" in turn.ssml
        assert "first step" not in turn.ssml

    def test_repeat_during_a_hold_restarts_the_hold(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=20)
        turn = speaker.says("AMAZON.RepeatIntent")
        view = coach.view(speaker.user_id)
        assert "Step 1 of 6" in turn.ssml
        assert view.phase is Phase.ANNOUNCING
        assert view.hold.remaining == pytest.approx(30)

    def test_start_while_running_repeats_the_current_step(self, speaker: AlexaSimulator) -> None:
        speaker.says("StartRoutineIntent")
        speaker.says("AMAZON.NextIntent")
        turn = speaker.says("StartRoutineIntent")
        assert "Step 2 of 6" in turn.ssml

    def test_next_after_the_last_step_says_the_routine_is_done(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        speaker.says("StartRoutineIntent")
        for _ in range(5):
            speaker.says("AMAZON.NextIntent")
        clock.advance(120)
        turn = speaker.says("AMAZON.NextIntent")
        assert "already finished" in turn.ssml
        assert turn.reprompt

    def test_start_over_begins_a_new_run_at_step_one(
        self, speaker: AlexaSimulator, coach: Coach
    ) -> None:
        speaker.says("StartRoutineIntent")
        first_run = coach.view(speaker.user_id).state.run_id
        speaker.says("AMAZON.NextIntent")
        turn = speaker.says("AMAZON.StartOverIntent")
        view = coach.view(speaker.user_id)
        assert "Step 1 of 6" in turn.ssml
        assert view.step_index == 0
        assert view.state.run_id != first_run


class TestPauseAndTime:
    def test_pause_mid_hold_then_resume_speaks_only_what_was_left(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=18)
        speaker.says("AMAZON.PauseIntent")
        clock.advance(600)
        assert "12 seconds" in speaker.says("TimeLeftIntent").ssml
        turn = speaker.says("AMAZON.ResumeIntent")
        assert speech.say("hold_resume") in turn.ssml
        assert hold_silence_s(turn.ssml) == pytest.approx(12)
        view = coach.view(speaker.user_id)
        timing = coach.engine.timing
        lead_in = turn.ssml.split("<break")[0] + "</speak>"
        assert view.hold.end == pytest.approx(clock.now() + timing.estimate(lead_in) + 12)

    def test_paused_again_while_a_resumed_hold_is_picked_up_the_hold_time_is_told(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=18)
        speaker.says("AMAZON.PauseIntent")
        speaker.says("AMAZON.ResumeIntent")  # "Picking up your hold" is still being said
        speaker.says("AMAZON.PauseIntent")
        turn = speaker.says("TimeLeftIntent")
        assert "paused with 12 seconds left on this hold" in turn.ssml
        assert "before the hold" not in turn.ssml

    def test_pause_ends_the_session_and_says_how_to_resume(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        # An open session would time out in seconds; the user comes back by name instead.
        into_first_hold(speaker, coach, clock, into=18)
        paused = speaker.says("AMAZON.PauseIntent")
        assert paused.ends_session
        assert paused.reprompt is None
        assert f"{speech.RESUME_PHRASE}." in paused.ssml
        assert coach.view(speaker.user_id).phase is Phase.PAUSED

    def test_the_resume_phrase_picks_up_the_hold_in_a_new_session(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=18)
        speaker.says("AMAZON.PauseIntent")
        clock.advance(3600)
        # "Alexa, tell sciatica coach to resume the routine": a one-shot, new session.
        turn = speaker.says("AMAZON.ResumeIntent")
        assert turn.envelope["session"]["new"] is True
        assert speech.say("hold_resume") in turn.ssml
        assert hold_silence_s(turn.ssml) == pytest.approx(12)
        assert coach.view(speaker.user_id).phase is Phase.ANNOUNCING

    def test_opening_the_skill_after_a_pause_offers_to_carry_on_the_hold(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=18)
        speaker.says("AMAZON.PauseIntent")
        clock.advance(600)
        assert "carry on" in speaker.launch().ssml
        turn = speaker.says("AMAZON.YesIntent")
        assert speech.say("hold_resume") in turn.ssml
        assert hold_silence_s(turn.ssml) == pytest.approx(12)

    @pytest.mark.parametrize(
        ("setup", "reprompt"),
        [
            (["StartRoutineIntent", "AMAZON.PauseIntent"], "Say resume to carry on"),
            (["StartRoutineIntent", "AMAZON.StopIntent"], "Say resume to pick up"),
            (["StartRoutineIntent"], "say next"),
        ],
        ids=["paused", "stopped", "announcing"],
    )
    def test_time_left_reprompts_with_what_carries_the_run_on(
        self, speaker: AlexaSimulator, setup: list[str], reprompt: str
    ) -> None:
        for intent in setup:
            speaker.says(intent)
        turn = speaker.says("TimeLeftIntent")
        assert reprompt in turn.reprompt
        assert not turn.ends_session

    def test_resume_when_not_paused_keeps_the_hold_going(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=10)
        end_before = coach.view(speaker.user_id).hold.end
        turn = speaker.says("AMAZON.ResumeIntent")
        assert "not paused" in turn.ssml
        assert "Time's up" in turn.ssml
        assert coach.view(speaker.user_id).hold.end == end_before

    def test_time_left_mid_hold_answers_and_carries_the_rest_of_the_hold(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=10)
        turn = speaker.says("TimeLeftIntent")
        assert "20 seconds left" in turn.ssml
        spoken = coach.engine.timing.estimate(turn.ssml.split("<break")[0] + "</speak>")
        assert hold_silence_s(turn.ssml) == pytest.approx(20 - spoken, abs=0.001)
        assert "Time's up" in turn.ssml

    @pytest.mark.parametrize(
        ("setup", "expected"),
        [
            ([], "haven't started"),
            (["StartRoutineIntent"], "starts once you're in position"),
            (["StartRoutineIntent", "AMAZON.PauseIntent"], "paused before the hold"),
            (["StartRoutineIntent", "AMAZON.StopIntent"], "stopped at step 1 of 6"),
        ],
    )
    def test_time_left_in_every_state(
        self, speaker: AlexaSimulator, setup: list[str], expected: str
    ) -> None:
        for intent in setup:
            speaker.says(intent)
        assert expected in speaker.says("TimeLeftIntent").ssml

    def test_time_left_after_the_hold_says_the_step_is_done(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=31)
        assert "This step is done" in speaker.says("TimeLeftIntent").ssml


class TestRouting:
    """'Start my routine' means what the run's phase makes of it; each handler claims its own."""

    def test_start_while_paused_resumes_the_hold_instead_of_a_new_run(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=18)
        run_id = coach.view(speaker.user_id).state.run_id
        speaker.says("AMAZON.PauseIntent")
        turn = speaker.says("StartRoutineIntent")
        assert speech.say("hold_resume") in turn.ssml
        assert hold_silence_s(turn.ssml) == pytest.approx(12)
        assert coach.view(speaker.user_id).state.run_id == run_id

    def test_start_after_a_stop_gives_the_step_again_from_its_start(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=18)
        run_id = coach.view(speaker.user_id).state.run_id
        speaker.says("AMAZON.StopIntent")
        turn = speaker.says("StartRoutineIntent")
        assert "Step 1 of 6" in turn.ssml
        assert hold_silence_s(turn.ssml) == pytest.approx(30)
        assert coach.view(speaker.user_id).state.run_id == run_id

    def test_start_after_the_routine_is_done_begins_a_new_run(
        self, speaker: AlexaSimulator, coach: Coach
    ) -> None:
        speaker.says("StartRoutineIntent")
        first = coach.view(speaker.user_id).state.run_id
        for _ in range(6):
            speaker.says("AMAZON.NextIntent")
        assert coach.view(speaker.user_id).phase is Phase.COMPLETED
        turn = speaker.says("StartRoutineIntent")
        assert "Step 1 of 6" in turn.ssml
        assert coach.view(speaker.user_id).state.run_id not in (None, first)

    def test_no_handler_hands_a_request_to_another(self) -> None:
        """Routing lives in can_handle, as in the SDK's samples; a handle never builds a handler."""
        for path in (REPO / "skill" / "handlers").glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    made = node.func.id
                    allowed = path.name == "__init__.py"  # request_handlers builds them all
                    assert allowed or not made.endswith("Handler"), f"{path.name} makes {made}"
