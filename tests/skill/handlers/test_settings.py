"""A person's own settings by voice, through signed envelopes: set, said back, and applied."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from sciatica_coach import create_app
from sciatica_coach.app import coach_of
from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator, Turn, resolved
from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.cues import CueKind
from shared.routine.definition import Side
from shared.routine.engine import Phase
from shared.routine.settings import Flow, Settings, SettingsError
from skill import speech
from skill.handlers.settings import (
    SetFirstSideHandler,
    SetHoldLengthHandler,
    SetHoldsPerSideHandler,
    SetWarningBuzzHandler,
)
from skill.slots import Unheard
from tests.support.speech import hold_silence_s
from tests.support.voice import speaker_for as app_speaker

SIDE = "SideType"
SWITCH = "SwitchType"
#: What each setting's words are filled with.
LIMITS: dict[str, dict[str, object]] = {
    "SetHoldLengthIntent": {"low": 15, "high": 60},
    "SetHoldsPerSideIntent": {"low": 1, "high": 3},
    "SetWarningBuzzIntent": {"seconds": "5"},
}
CHANGE_HANDLERS = [
    SetHoldLengthHandler,
    SetHoldsPerSideHandler,
    SetFirstSideHandler,
    SetWarningBuzzHandler,
]


def into_first_hold(speaker: AlexaSimulator, coach: Coach, clock: ManualClock, into: float) -> None:
    """Start the routine and move the clock `into` seconds past the first hold's start."""
    speaker.says("StartRoutineIntent")
    clock.set(coach.view(speaker.user_id).hold.start + into)


def to_end_of_step(coach: Coach, speaker: AlexaSimulator, clock: ManualClock) -> None:
    """Move the clock just past the end of the step under way."""
    clock.set(coach.view(speaker.user_id).state.step_end + 0.01)


def elicited(turn: Turn) -> str | None:
    """The slot a reply asks Alexa to fill next (Dialog.ElicitSlot), if any."""
    for directive in turn.directives:
        if directive["type"] == "Dialog.ElicitSlot":
            return directive["slotToElicit"]
    return None


def hold_lengths(coach: Coach, user_id: str) -> dict[int, float]:
    """Each scheduled hold's length on the watch, by step, from its start and end cues."""
    cues = coach.view(user_id).cues
    starts = {c.step_index: c.at for c in cues if c.kind is CueKind.HOLD_START}
    ends = {c.step_index: c.at for c in cues if c.kind is CueKind.HOLD_END}
    return {step: ends[step] - starts[step] for step in starts if step in ends}


def side(words: str, *ids: str) -> dict[str, Any]:
    return resolved(words, *ids, slot_type=SIDE)


def switch(words: str, *ids: str) -> dict[str, Any]:
    return resolved(words, *ids, slot_type=SWITCH)


# -- each setting, set and said back ---------------------------------------------------------


class TestSetting:
    def test_hold_length_is_kept_and_said_back(self, speaker: AlexaSimulator, coach: Coach) -> None:
        turn = speaker.says("SetHoldLengthIntent", seconds="45")
        assert turn.status == 200
        assert speech.say("hold_set", seconds=45) in turn.ssml
        assert coach.settings(speaker.user_id).hold_seconds == 45

    def test_hold_length_in_minutes(self, speaker: AlexaSimulator, coach: Coach) -> None:
        turn = speaker.says("SetHoldLengthIntent", minutes="1")
        assert speech.say("hold_set", seconds=60) in turn.ssml
        assert coach.settings(speaker.user_id).hold_seconds == 60

    def test_holds_per_side(self, speaker: AlexaSimulator, coach: Coach) -> None:
        turn = speaker.says("SetHoldsPerSideIntent", count="2")
        assert "2 holds on each side" in turn.ssml
        assert coach.settings(speaker.user_id).holds_per_side == 2
        assert "1 hold on each side" in speaker.says("SetHoldsPerSideIntent", count="1").ssml

    def test_first_side_by_a_synonym(self, speaker: AlexaSimulator, coach: Coach) -> None:
        turn = speaker.says("SetFirstSideIntent", side=side("right leg", "right"))
        assert speech.say("first_side_set", side="right") in turn.ssml
        assert coach.settings(speaker.user_id).first_side is Side.RIGHT

    @pytest.mark.parametrize(("state", "on"), [("off", False), ("on", True)])
    def test_warning_buzz(
        self, speaker: AlexaSimulator, coach: Coach, state: str, on: bool
    ) -> None:
        turn = speaker.says("SetWarningBuzzIntent", state=switch(state, state))
        assert ("warning buzz is on" if on else "warning buzz is off") in turn.ssml
        assert coach.settings(speaker.user_id).warning_buzz is on

    @pytest.mark.parametrize(
        ("intent", "flow", "key"),
        [
            ("HandsFreeIntent", Flow.HANDS_FREE, "hands_free_set"),
            ("WaitForNextIntent", Flow.ON_NEXT, "wait_for_next_set"),
        ],
    )
    def test_flow(
        self, speaker: AlexaSimulator, coach: Coach, intent: str, flow: Flow, key: str
    ) -> None:
        turn = speaker.says(intent)
        assert speech.say(key) in turn.ssml
        assert coach.settings(speaker.user_id).flow is flow

    def test_outside_a_run_the_change_comes_with_the_offer_to_start(
        self, speaker: AlexaSimulator, coach: Coach
    ) -> None:
        turn = speaker.says("SetHoldLengthIntent", seconds="45")
        assert speech.say("offer_start") in turn.ssml
        assert not turn.ends_session
        # "Yes" starts a run with the new holds.
        started = speaker.says("AMAZON.YesIntent")
        assert "Step 1 of 6" in started.ssml
        assert speech.say("hold_start", seconds=45) in started.ssml
        assert hold_silence_s(started.ssml) == pytest.approx(45)

    def test_settings_read_back_the_routines_own_until_changed(
        self, speaker: AlexaSimulator
    ) -> None:
        turn = speaker.says("SettingsIntent")
        expected = speech.settings_summary(
            hold_seconds=30, holds_per_side=1, side="left", buzz=True, hands_free=False
        )
        assert expected in turn.ssml
        assert "Your holds are 30 seconds, 1 hold on each side" in turn.ssml

    def test_settings_read_back_what_was_chosen(self, speaker: AlexaSimulator) -> None:
        speaker.says("SetHoldLengthIntent", seconds="20")
        speaker.says("SetHoldsPerSideIntent", count="3")
        speaker.says("SetFirstSideIntent", side=side("right", "right"))
        speaker.says("SetWarningBuzzIntent", state=switch("off", "off"))
        speaker.says("HandsFreeIntent")
        turn = speaker.says("SettingsIntent")
        expected = speech.settings_summary(
            hold_seconds=20, holds_per_side=3, side="right", buzz=False, hands_free=True
        )
        assert expected in turn.ssml

    def test_one_change_keeps_the_others(self, speaker: AlexaSimulator, coach: Coach) -> None:
        speaker.says("SetWarningBuzzIntent", state=switch("off", "off"))
        speaker.says("SetHoldsPerSideIntent", count="2")
        speaker.says("SetHoldLengthIntent", seconds="45")
        assert coach.settings(speaker.user_id) == Settings(
            hold_seconds=45, holds_per_side=2, warning_buzz=False
        )

    def test_a_damaged_record_reads_as_the_defaults_and_is_replaced(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        coach.user(speaker.user_id)
        coach.store.save_settings(speaker.user_id, '{"holds_per_side": 7', clock.now())
        assert "30 seconds" in speaker.says("SettingsIntent").ssml
        turn = speaker.says("SetHoldLengthIntent", seconds="45")
        assert turn.status == 200
        assert coach.settings(speaker.user_id) == Settings(hold_seconds=45)


# -- a value that will not do: said plainly, and asked for again -----------------------------


class TestAskingAgain:
    @pytest.mark.parametrize(
        ("intent", "slots", "key", "slot"),
        [
            ("SetHoldLengthIntent", {}, "hold_missing", "seconds"),
            ("SetHoldLengthIntent", {"seconds": "90"}, "hold_out_of_range", "seconds"),
            ("SetHoldLengthIntent", {"seconds": "10"}, "hold_out_of_range", "seconds"),
            ("SetHoldLengthIntent", {"seconds": "0"}, "hold_out_of_range", "seconds"),
            ("SetHoldLengthIntent", {"seconds": "-20"}, "hold_out_of_range", "seconds"),
            ("SetHoldLengthIntent", {"seconds": "30.5"}, "hold_out_of_range", "seconds"),
            ("SetHoldLengthIntent", {"seconds": "9" * 400}, "hold_out_of_range", "seconds"),
            ("SetHoldLengthIntent", {"minutes": "2"}, "hold_out_of_range", "seconds"),
            ("SetHoldLengthIntent", {"seconds": "?"}, "hold_not_understood", "seconds"),
            ("SetHoldLengthIntent", {"minutes": "?"}, "hold_not_understood", "seconds"),
            ("SetHoldLengthIntent", {"seconds": "forty"}, "hold_not_understood", "seconds"),
            ("SetHoldsPerSideIntent", {}, "holds_per_side_missing", "count"),
            ("SetHoldsPerSideIntent", {"count": "4"}, "holds_per_side_out_of_range", "count"),
            ("SetHoldsPerSideIntent", {"count": "0"}, "holds_per_side_out_of_range", "count"),
            ("SetHoldsPerSideIntent", {"count": "?"}, "holds_per_side_not_understood", "count"),
            ("SetFirstSideIntent", {}, "first_side_missing", "side"),
            ("SetFirstSideIntent", {"side": side("up")}, "first_side_not_understood", "side"),
            (
                "SetFirstSideIntent",
                {"side": side("either", "left", "right")},
                "first_side_not_understood",
                "side",
            ),
            ("SetWarningBuzzIntent", {}, "warning_buzz_missing", "state"),
            (
                "SetWarningBuzzIntent",
                {"state": switch("loud")},
                "warning_buzz_not_understood",
                "state",
            ),
        ],
    )
    def test_says_what_will_do_and_asks_for_the_slot_again(
        self,
        speaker: AlexaSimulator,
        coach: Coach,
        intent: str,
        slots: Mapping[str, Any],
        key: str,
        slot: str,
    ) -> None:
        turn = speaker.says(intent, **slots)
        assert turn.status == 200
        assert speech.say(key, **LIMITS.get(intent, {})) in turn.ssml
        assert turn.reprompt
        assert not turn.ends_session
        assert elicited(turn) == slot
        directive = turn.directives[0]
        assert directive["updatedIntent"]["name"] == intent
        assert all("value" not in s for s in directive["updatedIntent"]["slots"].values())
        assert coach.settings(speaker.user_id) == Settings()

    @pytest.mark.parametrize("mid_hold", [False, True], ids=["idle", "mid-hold"])
    @pytest.mark.parametrize("why", list(Unheard))
    @pytest.mark.parametrize("handler", CHANGE_HANDLERS)
    def test_every_reason_has_words_for_every_setting(
        self,
        speaker: AlexaSimulator,
        coach: Coach,
        clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch,
        handler: type[SetHoldLengthHandler],
        why: Unheard,
        mid_hold: bool,
    ) -> None:
        if mid_hold:
            into_first_hold(speaker, coach, clock, into=10)
        monkeypatch.setattr(handler, "heard", lambda self, handler_input: why)
        turn = speaker.says(handler.intent)
        assert turn.status == 200
        assert speech.say("error") not in turn.ssml
        assert not turn.ends_session
        assert ("Time's up" in turn.ssml) is mid_hold
        assert elicited(turn) == (None if mid_hold else handler.slot)

    def test_a_change_the_core_refuses_is_asked_for_again(
        self, speaker: AlexaSimulator, coach: Coach, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def refuse(user_id: str, **changes: object) -> Settings:
            raise SettingsError("hold_seconds", "must be from 15 to 60")

        monkeypatch.setattr(coach, "change_settings", refuse)
        turn = speaker.says("SetHoldLengthIntent", seconds="45")
        assert turn.status == 200
        assert speech.say("hold_out_of_range", low=15, high=60) in turn.ssml
        assert elicited(turn) == "seconds"

    def test_out_of_range_names_the_range(self, speaker: AlexaSimulator) -> None:
        turn = speaker.says("SetHoldLengthIntent", seconds="90")
        assert "I can set holds from 15 to 60 seconds. How long would you like them?" in turn.ssml
        assert "from 15 to 60 seconds" in turn.reprompt
        turn = speaker.says("SetHoldsPerSideIntent", count="5")
        assert speech.say("holds_per_side_out_of_range", low=1, high=3) in turn.ssml

    def test_the_answer_alone_fills_the_slot_asked_for(
        self, speaker: AlexaSimulator, coach: Coach
    ) -> None:
        asked = speaker.says("SetHoldLengthIntent", seconds="90")
        assert elicited(asked) == "seconds"
        # Alexa sends the same intent back with the slot the person filled ("forty five").
        turn = speaker.says("SetHoldLengthIntent", seconds="45")
        assert speech.say("hold_set", seconds=45) in turn.ssml
        assert elicited(turn) is None
        assert coach.settings(speaker.user_id).hold_seconds == 45

    def test_words_with_no_resolution_at_all_are_read_as_said(
        self, speaker: AlexaSimulator, coach: Coach
    ) -> None:
        assert "right side" in speaker.says("SetFirstSideIntent", side="right").ssml
        assert coach.settings(speaker.user_id).first_side is Side.RIGHT
        turn = speaker.says("SetFirstSideIntent", side="middle")
        assert speech.say("first_side_not_understood") in turn.ssml


# -- mid-run: applied from the next step, and the run carried on ------------------------------


class TestMidRun:
    def test_hold_length_applies_from_the_next_step_and_the_current_hold_ends_aloud(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=10)
        end_before = coach.view(speaker.user_id).hold.end
        turn = speaker.says("SetHoldLengthIntent", seconds="45")
        assert speech.say("hold_set_later", seconds=45) in turn.ssml
        assert "Time's up" in turn.ssml  # the current hold still ends aloud
        view = coach.view(speaker.user_id)
        assert view.hold.end == end_before  # step 1 keeps its 30 s
        assert view.hold.end - view.hold.start == pytest.approx(30)
        to_end_of_step(coach, speaker, clock)
        turn = speaker.says("AMAZON.NextIntent")
        assert "Step 2 of 6" in turn.ssml
        assert speech.say("hold_start", seconds=45) in turn.ssml
        assert hold_silence_s(turn.ssml) == pytest.approx(45)
        assert hold_lengths(coach, speaker.user_id) == {1: pytest.approx(45)}

    def test_hold_length_set_while_a_step_is_announced_keeps_that_steps_hold(
        self, speaker: AlexaSimulator, coach: Coach
    ) -> None:
        speaker.says("StartRoutineIntent")
        assert coach.view(speaker.user_id).phase is Phase.ANNOUNCING
        turn = speaker.says("SetHoldLengthIntent", seconds="20")
        assert speech.say("hold_set_later", seconds=20) in turn.ssml
        assert turn.reprompt
        assert hold_lengths(coach, speaker.user_id) == {0: pytest.approx(30)}

    def test_two_holds_a_side_from_the_start(self, speaker: AlexaSimulator, coach: Coach) -> None:
        speaker.says("SetHoldsPerSideIntent", count="2")
        turn = speaker.says("StartRoutineIntent")
        assert "Step 1 of 10" in turn.ssml
        assert coach.view(speaker.user_id).step_count == 10
        turn = speaker.says("AMAZON.NextIntent")
        assert speech.say("hold_again", repeat=2, repeats=2) in turn.ssml

    def test_two_holds_a_side_mid_run_adds_a_hold_to_the_side_under_way(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=5)
        turn = speaker.says("SetHoldsPerSideIntent", count="2")
        assert speech.say("holds_per_side_set_later", holds="2 holds") in turn.ssml
        assert coach.view(speaker.user_id).step_count == 10
        routine = coach.view(speaker.user_id).routine
        assert [step.id for step in routine.steps][:2] == ["release-left", "release-left#2"]
        to_end_of_step(coach, speaker, clock)
        turn = speaker.says("AMAZON.NextIntent")
        assert "Step 2 of 10" in turn.ssml
        assert speech.say("hold_again", repeat=2, repeats=2) in turn.ssml

    def test_first_side_mid_run_changes_only_exercises_not_begun(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=5)  # the ball release, left side
        turn = speaker.says("SetFirstSideIntent", side=side("right", "right"))
        assert speech.say("first_side_set_later", side="right") in turn.ssml
        routine = coach.view(speaker.user_id).routine
        assert [step.id for step in routine.steps] == [
            "release-left",
            "release-right",
            "setup",
            "stretch-right",
            "stretch-left",
            "close",
        ]

    def test_warning_buzz_off_takes_the_warning_cues_away_at_once(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=5)
        kinds = {cue.kind for cue in coach.view(speaker.user_id).cues}
        assert CueKind.HOLD_WARNING in kinds
        turn = speaker.says("SetWarningBuzzIntent", state=switch("off", "off"))
        assert speech.say("warning_buzz_off") in turn.ssml
        kinds = {cue.kind for cue in coach.view(speaker.user_id).cues}
        assert CueKind.HOLD_WARNING not in kinds
        assert CueKind.HOLD_END in kinds  # the hold still ends on the wrist
        to_end_of_step(coach, speaker, clock)
        speaker.says("AMAZON.NextIntent")
        kinds = {cue.kind for cue in coach.view(speaker.user_id).cues}
        assert CueKind.HOLD_WARNING not in kinds

    def test_hands_free_mid_hold_carries_the_routine_on_by_itself(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=10)
        turn = speaker.says("HandsFreeIntent")
        assert speech.say("hands_free_set") in turn.ssml
        assert "Time's up" in turn.ssml
        assert "Step 2 of 6" in turn.ssml  # the same reply goes on to the next step
        assert speech.say("next_prompt") not in turn.ssml
        assert turn.reprompt is not None
        # The watch has every hold the reply goes on to (step 0's began before the question).
        assert set(hold_lengths(coach, speaker.user_id)) == {1, 3, 4}

    def test_hands_free_between_steps_moves_on_at_once(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        speaker.says("StartRoutineIntent")
        to_end_of_step(coach, speaker, clock)
        assert coach.view(speaker.user_id).phase is Phase.AWAITING
        turn = speaker.says("HandsFreeIntent")
        assert speech.say("hands_free_set") in turn.ssml
        assert "Step 2 of 6" in turn.ssml
        assert coach.view(speaker.user_id).step_index == 1

    def test_waiting_for_next_mid_hold_stops_the_reply_at_this_hold(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        speaker.says("HandsFreeIntent")
        into_first_hold(speaker, coach, clock, into=10)
        assert len(hold_lengths(coach, speaker.user_id)) > 1
        turn = speaker.says("WaitForNextIntent")
        assert speech.say("wait_for_next_set") in turn.ssml
        assert "Time's up" in turn.ssml
        assert "Step 2 of 6" not in turn.ssml + (turn.reprompt or "")
        assert speech.say("next_prompt") in turn.ssml
        assert {cue.step_index for cue in coach.view(speaker.user_id).cues} == {0}

    def test_waiting_for_next_while_a_step_is_said_says_it_again_and_waits(
        self, speaker: AlexaSimulator, coach: Coach
    ) -> None:
        speaker.says("HandsFreeIntent")
        speaker.says("StartRoutineIntent")  # one reply goes on through every step
        assert coach.view(speaker.user_id).phase is Phase.ANNOUNCING
        turn = speaker.says("WaitForNextIntent")
        assert speech.say("wait_for_next_set") in turn.ssml
        assert "Step 1 of 6" in turn.ssml
        assert "Step 2 of 6" not in turn.ssml + (turn.reprompt or "")
        assert speech.say("next_prompt") in turn.ssml
        view = coach.view(speaker.user_id)
        assert view.state.chain == ()
        assert {cue.step_index for cue in view.cues} == {0}  # no buzz for unsaid steps

    def test_waiting_for_next_between_two_said_steps_says_the_next_and_waits(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        speaker.says("HandsFreeIntent")
        speaker.says("StartRoutineIntent")
        state = coach.view(speaker.user_id).state
        clock.set((state.step_end + state.chain[0].started_at) / 2)
        assert coach.view(speaker.user_id).phase is Phase.AWAITING
        turn = speaker.says("WaitForNextIntent")
        assert speech.say("wait_for_next_set") in turn.ssml
        assert "Step 2 of 6" in turn.ssml
        assert "Step 3 of 6" not in turn.ssml + (turn.reprompt or "")
        view = coach.view(speaker.user_id)
        assert view.step_index == 1
        assert {cue.step_index for cue in view.cues} == {1}

    def test_first_side_when_every_exercise_has_begun_waits_for_the_next_run(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        speaker.says("StartRoutineIntent")
        for _ in range(3):
            speaker.says("AMAZON.NextIntent")  # to the stretch, left side
        turn = speaker.says("SetFirstSideIntent", side=side("right", "right"))
        assert speech.say("first_side_set_next_time", side="right") in turn.ssml
        for _ in range(3):
            speaker.says("AMAZON.NextIntent")
        clock.advance(600)
        turn = speaker.says("StartRoutineIntent")
        assert "Ball release, right side" in turn.ssml

    def test_hold_length_during_the_last_hold_waits_for_the_next_run(
        self, speaker: AlexaSimulator, coach: Coach
    ) -> None:
        speaker.says("StartRoutineIntent")
        for _ in range(4):
            speaker.says("AMAZON.NextIntent")  # to the stretch, right side: the last hold
        turn = speaker.says("SetHoldLengthIntent", seconds="50")
        assert speech.say("hold_set_next_time", seconds=50) in turn.ssml

    def test_hands_free_mid_hold_the_words_say_when_the_plan_takes_effect(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        speaker.says("HandsFreeIntent")
        into_first_hold(speaker, coach, clock, into=5)
        before = [step.id for step in coach.view(speaker.user_id).routine.steps]
        turn = speaker.says("SetHoldsPerSideIntent", count="2")
        after = [step.id for step in coach.view(speaker.user_id).routine.steps]
        when = "_later" if after != before else "_next_time"
        assert speech.say(f"holds_per_side_set{when}", holds="2 holds") in turn.ssml

    def test_hands_free_mid_hold_a_new_plan_reaches_the_steps_said_anew(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        speaker.says("HandsFreeIntent")
        into_first_hold(speaker, coach, clock, into=5)
        speaker.says("SetFirstSideIntent", side=side("right", "right"))
        routine = coach.view(speaker.user_id).routine
        assert [step.id for step in routine.steps][3:5] == ["stretch-right", "stretch-left"]

    def test_a_wrong_value_mid_hold_is_explained_and_the_hold_carried_on(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=10)
        turn = speaker.says("SetHoldLengthIntent", seconds="90")
        assert speech.say("hold_range", low=15, high=60) in turn.ssml
        assert speech.say("hold_hint") in turn.ssml
        assert "Time's up" in turn.ssml
        assert elicited(turn) is None
        assert coach.settings(speaker.user_id) == Settings()

    def test_a_missing_value_mid_hold_says_how_to_give_one(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=10)
        turn = speaker.says("SetFirstSideIntent")
        assert speech.say("first_side_hint") in turn.ssml
        assert "Time's up" in turn.ssml
        assert elicited(turn) is None

    def test_settings_mid_hold_are_read_and_the_hold_carried_on(
        self, speaker: AlexaSimulator, coach: Coach, clock: ManualClock
    ) -> None:
        into_first_hold(speaker, coach, clock, into=10)
        turn = speaker.says("SettingsIntent")
        assert "Your holds are 30 seconds" in turn.ssml
        assert "Time's up" in turn.ssml

    @pytest.mark.parametrize(
        ("ending", "reprompt"),
        [("AMAZON.PauseIntent", "paused_reprompt"), ("AMAZON.StopIntent", "stopped_reprompt")],
    )
    def test_paused_or_stopped_the_change_says_how_to_come_back(
        self,
        speaker: AlexaSimulator,
        coach: Coach,
        clock: ManualClock,
        ending: str,
        reprompt: str,
    ) -> None:
        into_first_hold(speaker, coach, clock, into=10)
        speaker.says(ending)
        turn = speaker.says("SetHoldLengthIntent", seconds="45")
        assert speech.say("hold_set_later", seconds=45) in turn.ssml
        assert speech.say(reprompt) in turn.ssml
        assert not turn.ends_session
        assert coach.view(speaker.user_id).phase in (Phase.PAUSED, Phase.STOPPED)


# -- kept per user, on each store, and deleted with the user ----------------------------------


@pytest.fixture(params=["sqlite", "redis"])
def store_config(
    request: pytest.FixtureRequest, app_config: dict[str, Any], tmp_path: Path
) -> dict[str, Any]:
    """The app's config on SQLite, or on Redis under a key prefix of this test's own."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        return {**app_config, "REDIS_URL": url, "REDIS_PREFIX": f"t{uuid.uuid4().hex[:12]}:"}
    return {**app_config, "DATABASE": str(tmp_path / "kept.sqlite3")}


@pytest.fixture
def instance(
    store_config: dict[str, Any], demo_ca: DemoCA, clock: ManualClock
) -> Iterator[Callable[[], tuple[Flask, AlexaSimulator]]]:
    """`instance()`: an app on the one store (a new instance, or the same one restarted) and
    the settings test user's speaker on it; each app is closed at the end."""
    made: list[Flask] = []

    def make() -> tuple[Flask, AlexaSimulator]:
        app = create_app(store_config)
        made.append(app)
        return app, app_speaker(app, demo_ca, clock, "amzn1.ask.account.TEST-USER-SETTINGS")

    yield make
    for app in made:
        coach = coach_of(app)
        coach.notifier.close()
        coach.store.close()


class TestKept:
    def test_settings_survive_a_new_instance(
        self, instance: Callable[[], tuple[Flask, AlexaSimulator]]
    ) -> None:
        _, first = instance()
        first.says("SetHoldLengthIntent", seconds="45")
        first.says("SetWarningBuzzIntent", state=switch("off", "off"))
        second, again = instance()  # another instance, or the same one restarted
        assert coach_of(second).settings(again.user_id) == Settings(
            hold_seconds=45, warning_buzz=False
        )
        turn = again.says("StartRoutineIntent")
        assert speech.say("hold_start", seconds=45) in turn.ssml

    def test_settings_are_deleted_with_the_user(
        self, instance: Callable[[], tuple[Flask, AlexaSimulator]]
    ) -> None:
        app, speaker = instance()
        coach = coach_of(app)
        speaker.says("SetHoldsPerSideIntent", count="3")
        assert coach.store.load_settings(speaker.user_id) is not None
        assert speaker.disables_skill().status == 200
        assert coach.store.load_settings(speaker.user_id) is None
        assert coach.settings(speaker.user_id) == Settings()
        turn = speaker.says("SettingsIntent")
        assert "1 hold on each side" in turn.ssml
