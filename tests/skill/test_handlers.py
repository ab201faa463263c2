"""How the skill answers each request, in each state of the user's run."""

from __future__ import annotations

import pytest
from flask import Flask
from speech_support import hold_silence_s

from sciatica_coach.app import coach_of, services_of
from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock
from shared.pairing.service import PairingError, PairingFailure
from shared.routine.coach import Coach
from shared.routine.engine import Phase
from skill import speech


@pytest.fixture
def coach(app: Flask) -> Coach:
    return coach_of(app)


def into_first_hold(speaker: AlexaSimulator, coach: Coach, clock: ManualClock, into: float) -> None:
    """Start the routine and move the clock `into` seconds past the first hold's start."""
    speaker.says("StartRoutineIntent")
    view = coach.view(speaker.user_id)
    clock.set(view.hold.start + into)


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


class TestWatchPairing:
    def test_pairing_by_spoken_code_binds_the_watch_to_this_user(
        self, app: Flask, speaker: AlexaSimulator
    ) -> None:
        pairing = services_of(app).pairing
        started = pairing.start()
        turn = speaker.says("PairWatchIntent", code=started.user_code)
        assert "watch is paired" in turn.ssml
        token = pairing.exchange(started.device_code)
        assert pairing.authenticate(token.access_token) == speaker.user_id

    def test_a_wrong_code_is_refused_with_a_way_forward(self, speaker: AlexaSimulator) -> None:
        turn = speaker.says("PairWatchIntent", code="111111")
        assert "didn't match" in turn.ssml
        assert turn.reprompt

    def test_too_many_wrong_codes_from_one_user_pause_their_pairing(
        self, app: Flask, speaker: AlexaSimulator
    ) -> None:
        pairing = services_of(app).pairing
        started = pairing.start()
        wrong = "111111" if started.user_code != "111111" else "222222"
        answers = [speaker.says("PairWatchIntent", code=wrong) for _ in range(6)]
        refused = [turn for turn in answers if "wrong codes" in turn.ssml]
        assert refused, [turn.ssml for turn in answers]
        assert all(turn.ends_session for turn in refused)
        # Even the right code waits now: checking it would spend the guessing budget.
        assert "wrong codes" in speaker.says("PairWatchIntent", code=started.user_code).ssml

    def test_a_spent_global_budget_is_not_blamed_on_the_user(
        self, app: Flask, speaker: AlexaSimulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def busy(user_id: str, code: str | None) -> None:
            raise PairingError(PairingFailure.RATE_LIMITED, everyone=True)

        monkeypatch.setattr(services_of(app).pairing, "bind", busy)
        turn = speaker.says("PairWatchIntent", code="482913")
        assert "busy" in turn.ssml
        assert "wrong" not in turn.ssml
        assert turn.ends_session

    def test_a_missing_code_asks_for_it(self, speaker: AlexaSimulator) -> None:
        turn = speaker.says("PairWatchIntent")
        assert "six digits" in turn.ssml
        assert turn.reprompt

    def test_unpair_revokes_the_watch(self, app: Flask, speaker: AlexaSimulator) -> None:
        pairing = services_of(app).pairing
        started = pairing.start()
        speaker.says("PairWatchIntent", code=started.user_code)
        token = pairing.exchange(started.device_code)
        assert "unpaired" in speaker.says("UnpairWatchIntent").ssml
        assert pairing.authenticate(token.access_token) is None
        assert "no watch" in speaker.says("UnpairWatchIntent").ssml
