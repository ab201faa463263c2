"""Around the routine: stop, cancel, session end, skill disabled, help, fallback and safety."""

from __future__ import annotations

import pytest

from sciatica_coach.demo.simulator import AlexaSimulator
from shared.routine.coach import Coach
from shared.routine.engine import Phase
from skill import speech


class TestEnding:
    @pytest.mark.parametrize(
        "intent", ["AMAZON.StopIntent", "AMAZON.CancelIntent", "AMAZON.NavigateHomeIntent"]
    )
    def test_stop_cancel_and_home_end_cleanly_and_keep_the_place(
        self, speaker: AlexaSimulator, coach: Coach, intent: str
    ) -> None:
        speaker.says("StartRoutineIntent")
        speaker.says("AMAZON.NextIntent")
        turn = speaker.says(intent)
        assert turn.ends_session
        assert "remember your place" in turn.ssml
        view = coach.view(speaker.user_id)
        assert view.phase is Phase.STOPPED
        assert view.step_index == 1

    def test_stop_with_nothing_running_says_goodbye(self, speaker: AlexaSimulator) -> None:
        turn = speaker.says("AMAZON.StopIntent")
        assert turn.ends_session
        assert "Goodbye" in turn.ssml

    def test_session_ended_is_answered_without_speech(self, speaker: AlexaSimulator) -> None:
        speaker.launch()
        turn = speaker.session_ends()
        assert turn.status == 200
        assert "outputSpeech" not in turn.body["response"]

    def test_disabling_the_skill_forgets_the_user(
        self, speaker: AlexaSimulator, coach: Coach
    ) -> None:
        speaker.says("StartRoutineIntent")
        assert speaker.disables_skill().status == 200
        assert coach.store.get_user(speaker.user_id) is None
        assert coach.store.load_run(speaker.user_id) is None


class TestHelpAndSafety:
    def test_help_lists_what_can_be_said_and_waits(self, speaker: AlexaSimulator) -> None:
        turn = speaker.says("AMAZON.HelpIntent")
        assert "next" in turn.ssml
        assert "pair code" in turn.ssml
        assert turn.reprompt
        assert not turn.ends_session

    def test_fallback_reprompts(self, speaker: AlexaSimulator) -> None:
        turn = speaker.says("AMAZON.FallbackIntent")
        assert turn.reprompt
        assert not turn.ends_session

    def test_safety_mid_run_pauses_the_routine(self, speaker: AlexaSimulator, coach: Coach) -> None:
        speaker.says("StartRoutineIntent")
        turn = speaker.says("SafetyIntent")
        assert "sharp pain" in turn.ssml
        assert "Paused" in turn.ssml
        assert speech.RESUME_PHRASE in turn.ssml
        assert turn.ends_session
        assert coach.view(speaker.user_id).phase is Phase.PAUSED

    def test_safety_when_idle_offers_to_start(self, speaker: AlexaSimulator) -> None:
        turn = speaker.says("SafetyIntent")
        assert "sharp pain" in turn.ssml
        assert turn.reprompt
