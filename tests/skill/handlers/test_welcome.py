"""Opening the skill and answering its questions: launch, yes and no."""

from __future__ import annotations

import pytest

from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.engine import Phase
from shared.routine.settings import Flow
from skill import speech
from tests.support.speech import hold_silence_s
from tests.support.voice import past_first_step


class TestLaunch:
    def test_a_new_user_hears_welcome_safety_note_and_an_offer(
        self, speaker: AlexaSimulator
    ) -> None:
        turn = speaker.launch()
        assert "Welcome to Sciatica Coach" in turn.ssml
        assert "not medical advice" in turn.ssml
        assert "numbness" in turn.ssml
        assert "Would you like to start" in turn.ssml
        assert turn.reprompt
        assert not turn.ends_session

    def test_yes_after_the_offer_starts_the_routine(self, speaker: AlexaSimulator) -> None:
        speaker.launch()
        turn = speaker.says("AMAZON.YesIntent")
        assert "Step 1 of 6" in turn.ssml

    def test_yes_to_no_question_says_what_can_be_said(self, speaker: AlexaSimulator) -> None:
        turn = speaker.says("AMAZON.YesIntent")
        assert "You can say next" in turn.ssml
        assert turn.reprompt
        assert not turn.ends_session

    def test_the_safety_note_is_not_repeated_on_the_first_step_after_launch(
        self, speaker: AlexaSimulator
    ) -> None:
        speaker.launch()
        turn = speaker.says("AMAZON.YesIntent")
        assert "not medical advice" not in turn.ssml

    def test_a_first_start_without_launch_still_gets_the_safety_note_once(
        self, speaker: AlexaSimulator
    ) -> None:
        assert "not medical advice" in speaker.says("StartRoutineIntent").ssml
        assert "not medical advice" not in speaker.says("AMAZON.StartOverIntent").ssml

    def test_a_user_mid_run_is_offered_their_step(
        self, speaker: AlexaSimulator, clock: ManualClock
    ) -> None:
        speaker.says("StartRoutineIntent")
        speaker.says("AMAZON.NextIntent")
        speaker.says("AMAZON.StopIntent")
        clock.advance(86_400)  # tomorrow
        turn = speaker.launch()
        assert "step 2 of 6" in turn.ssml
        assert "Ball release, right side" in turn.ssml
        assert "continue" in turn.reprompt
        resumed = speaker.says("AMAZON.YesIntent")
        assert "Step 2 of 6" in resumed.ssml
        assert hold_silence_s(resumed.ssml) == pytest.approx(30)

    def test_no_ends_the_session_and_keeps_the_place(
        self, speaker: AlexaSimulator, coach: Coach
    ) -> None:
        speaker.says("StartRoutineIntent")
        speaker.says("AMAZON.StopIntent")
        speaker.launch()
        turn = speaker.says("AMAZON.NoIntent")
        assert turn.ends_session
        assert coach.view(speaker.user_id).phase is Phase.STOPPED


class TestHowToMoveOn:
    """Asked once, where "say next" would go: shall the voice move on by itself?"""

    def test_a_new_persons_first_step_ends_with_the_question(
        self, speaker: AlexaSimulator, coach: Coach
    ) -> None:
        turn = speaker.says("StartRoutineIntent")
        assert speech.say("flow_question") in turn.ssml
        assert speech.say("next_prompt") not in turn.ssml
        assert turn.reprompt is not None
        assert speech.say("flow_reprompt") in turn.reprompt
        assert coach.settings(speaker.user_id).flow is None

    def test_yes_moves_on_by_itself_from_the_next_step(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        past_first_step(speaker, coach, clock)
        turn = speaker.says("AMAZON.YesIntent")
        assert coach.settings(speaker.user_id).flow is Flow.HANDS_FREE
        assert speech.say("flow_hands_free") in turn.ssml
        assert "Step 2 of 6" in turn.ssml
        assert "Step 3 of 6" in turn.ssml  # and the one after, with nobody saying next
        assert coach.view(speaker.user_id).state.chain

    def test_no_waits_for_next_from_now_on(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        past_first_step(speaker, coach, clock)
        turn = speaker.says("AMAZON.NoIntent")
        assert coach.settings(speaker.user_id).flow is Flow.ON_NEXT
        assert speech.say("flow_on_next") in turn.ssml
        assert not turn.ends_session
        assert coach.view(speaker.user_id).phase is Phase.AWAITING
        after = speaker.says("AMAZON.NextIntent")
        assert "Step 2 of 6" in after.ssml
        assert speech.say("next_prompt") in after.ssml

    def test_saying_next_answers_it_too(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        past_first_step(speaker, coach, clock)
        turn = speaker.says("AMAZON.NextIntent")
        assert coach.settings(speaker.user_id).flow is Flow.ON_NEXT
        assert "Step 2 of 6" in turn.ssml
        assert "Step 3 of 6" not in turn.ssml

    def test_once_answered_it_is_never_asked_again(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        speaker.says("StartRoutineIntent")
        speaker.says("AMAZON.NoIntent")
        speaker.says("AMAZON.StartOverIntent")
        turn = speaker.says("AMAZON.RepeatIntent")
        assert speech.say("flow_question") not in turn.ssml
        assert speech.say("next_prompt") in turn.ssml

    def test_unanswered_it_is_asked_again_at_the_next_step(
        self, speaker: AlexaSimulator, coach: Coach
    ) -> None:
        speaker.says("StartRoutineIntent")
        speaker.says("AMAZON.StopIntent")  # the session ends with the question unanswered
        turn = speaker.says("AMAZON.ResumeIntent")
        assert speech.say("flow_question") in turn.ssml
