"""'Tune my watch': the speaker reads the calibration script a part per reply while the
person's watch face listens, the person saying 'next' between parts."""

from __future__ import annotations

import pytest
from flask import Flask

from sciatica_coach.app import coach_of, services_of
from sciatica_coach.demo.simulator import AlexaSimulator, Turn
from shared.clock import ManualClock
from shared.stores.base import UserVoice
from shared.timing import silence_ssml
from shared.timing.script import SEPARATOR_MIN_S
from shared.timing.tuning import LISTEN_FOR_S, Tuning, TuningState
from shared.timing.voices import MAX_NUDGE_S, NUDGE_STEP_S
from skill import speech
from skill.handlers.base import PENDING, PENDING_TUNING
from skill.handlers.tuning import CARRY_ON_WITHIN_S
from tests.support.speech import hold_silence_s

#: The most SSML Alexa speaks in one response.
MAX_SSML_CHARS = 8000


@pytest.fixture
def tuning(app: Flask) -> Tuning:
    return services_of(app).tuning


@pytest.fixture
def face(tuning: Tuning, speaker: AlexaSimulator, clock: ManualClock) -> TuningState:
    """The person's watch face listening for the speaker, as POST /api/v1/tuning starts it."""
    return tuning.listen(speaker.user_id, clock.now())


def state_of(tuning: Tuning, speaker: AlexaSimulator, clock: ManualClock) -> TuningState:
    state = tuning.state(speaker.user_id, clock.now())
    assert state is not None
    return state


def says(speaker: AlexaSimulator, clock: ManualClock, intent: str) -> Turn:
    """A turn some seconds after the last (the person listens, then answers)."""
    clock.advance(40)
    turn = speaker.says(intent)
    assert turn.status == 200, turn.body
    assert len(turn.ssml) < MAX_SSML_CHARS
    return turn


def pending(turn: Turn) -> str | None:
    return (turn.body.get("sessionAttributes") or {}).get(PENDING)


def assert_reads_part(
    turn: Turn, tuning: Tuning, state: TuningState, number: int, at: float
) -> None:
    """`turn` is part `number` of the plan, nothing before it, its closing words after."""
    body = tuning.script.body(state.plan[number - 1])
    count = len(state.plan)
    close = speech.say("tune_part_end", number=number, count=count)
    if number == count:
        close = speech.say("tune_check_watch")
    # The part opens the reply, as a part of the routine opens the skill's replies; the
    # closing words come after a silence the watch cannot take for a pause inside a part.
    assert turn.ssml.startswith("<speak>" + body)
    assert turn.ssml.endswith(silence_ssml(speech.TUNING_CLOSE_BREAK_S) + close + "</speak>")
    assert speech.TUNING_CLOSE_BREAK_S > SEPARATOR_MIN_S
    assert state.spoken[number - 1] == at


def start_tuning(speaker: AlexaSimulator, clock: ManualClock) -> Turn:
    """'Tune my watch': the skill says what is coming and waits for 'next'."""
    turn = says(speaker, clock, "TuneWatchIntent")
    assert speech.say("tune_intro") in turn.ssml
    assert not turn.ends_session
    assert pending(turn) == PENDING_TUNING
    return turn


def test_with_no_face_listening_the_person_is_told_to_open_it(speaker: AlexaSimulator) -> None:
    turn = speaker.says("TuneWatchIntent")
    assert "open your watch face, tap Tune" in turn.ssml
    assert turn.ends_session
    assert pending(turn) is None


def test_with_a_face_listening_the_speaker_says_what_is_coming_before_any_part(
    speaker: AlexaSimulator, tuning: Tuning, clock: ManualClock, face: TuningState
) -> None:
    turn = start_tuning(speaker, clock)
    assert "next" in (turn.reprompt or "")
    state = state_of(tuning, speaker, clock)
    assert (state.plan, state.spoken) == ((), ())  # nothing read yet, nothing to listen for


def test_each_next_reads_the_next_part_and_the_last_ends_the_session(
    speaker: AlexaSimulator, tuning: Tuning, clock: ManualClock, face: TuningState
) -> None:
    start_tuning(speaker, clock)

    first = says(speaker, clock, "AMAZON.NextIntent")

    state = state_of(tuning, speaker, clock)
    count = len(state.plan)
    assert count >= 2
    assert_reads_part(first, tuning, state, 1, clock.now())
    assert f"That's part 1 of {count}." in first.ssml
    assert not first.ends_session
    assert "next part of the tuning" in (first.reprompt or "")
    assert pending(first) == PENDING_TUNING

    for number in range(2, count + 1):
        turn = says(speaker, clock, "AMAZON.NextIntent")
        state = state_of(tuning, speaker, clock)
        assert_reads_part(turn, tuning, state, number, clock.now())
        assert turn.ends_session is (number == count)

    assert "Your watch will show how the tuning went" in turn.ssml
    assert "That's part" not in turn.ssml
    assert state.all_spoken
    assert len(state.spoken) == count


def test_yes_between_two_parts_reads_the_next_one_too(
    speaker: AlexaSimulator, tuning: Tuning, clock: ManualClock, face: TuningState
) -> None:
    start_tuning(speaker, clock)
    says(speaker, clock, "AMAZON.NextIntent")
    turn = says(speaker, clock, "AMAZON.YesIntent")
    assert_reads_part(turn, tuning, state_of(tuning, speaker, clock), 2, clock.now())


def test_next_outside_a_tuning_still_moves_the_routine(
    speaker: AlexaSimulator, tuning: Tuning, clock: ManualClock, face: TuningState
) -> None:
    speaker.says("StartRoutineIntent")
    turn = speaker.says("AMAZON.NextIntent")
    assert "Step 2 of 6" in turn.ssml
    assert state_of(tuning, speaker, clock).spoken == ()  # the face hears nothing of it


def test_tune_my_watch_soon_after_a_part_carries_on_with_the_next(
    speaker: AlexaSimulator, tuning: Tuning, clock: ManualClock, face: TuningState
) -> None:
    start_tuning(speaker, clock)
    says(speaker, clock, "AMAZON.NextIntent")
    speaker.session_ends()  # the person let the session close instead of saying next
    read_at = state_of(tuning, speaker, clock).spoken[-1]
    clock.set(read_at + CARRY_ON_WITHIN_S - 41)

    turn = says(speaker, clock, "TuneWatchIntent")

    assert turn.envelope["session"]["new"] is True
    assert_reads_part(turn, tuning, state_of(tuning, speaker, clock), 2, clock.now())
    assert pending(turn) == PENDING_TUNING


def test_tune_my_watch_long_after_a_part_starts_over(
    speaker: AlexaSimulator, tuning: Tuning, clock: ManualClock, face: TuningState
) -> None:
    start_tuning(speaker, clock)
    says(speaker, clock, "AMAZON.NextIntent")
    speaker.session_ends()
    clock.advance(CARRY_ON_WITHIN_S + 1)

    start_tuning(speaker, clock)
    assert state_of(tuning, speaker, clock).spoken == ()
    turn = says(speaker, clock, "AMAZON.NextIntent")
    assert_reads_part(turn, tuning, state_of(tuning, speaker, clock), 1, clock.now())


def test_tune_my_watch_after_the_last_part_starts_over(
    speaker: AlexaSimulator, tuning: Tuning, clock: ManualClock, face: TuningState
) -> None:
    start_tuning(speaker, clock)
    while not says(speaker, clock, "AMAZON.NextIntent").ends_session:
        pass
    start_tuning(speaker, clock)
    assert state_of(tuning, speaker, clock).spoken == ()


def test_next_once_every_part_was_read_says_so(
    speaker: AlexaSimulator, tuning: Tuning, clock: ManualClock, face: TuningState
) -> None:
    start_tuning(speaker, clock)
    says(speaker, clock, "AMAZON.NextIntent")
    # Meanwhile the rest is read through another speaker of the same person's.
    while not tuning.speak(speaker.user_id, clock.now(), from_start=False).last:
        pass
    turn = says(speaker, clock, "AMAZON.NextIntent")
    assert "I've read every part" in turn.ssml
    assert turn.ends_session


def test_next_after_the_face_gave_up_tells_the_person_to_open_it_again(
    speaker: AlexaSimulator, clock: ManualClock, face: TuningState
) -> None:
    start_tuning(speaker, clock)
    says(speaker, clock, "AMAZON.NextIntent")
    clock.set(face.listening_since + LISTEN_FOR_S + 1)
    turn = says(speaker, clock, "AMAZON.NextIntent")
    assert "open your watch face, tap Tune" in turn.ssml
    assert turn.ends_session


# -- 'The buzz was early / late': a small, bounded nudge of that user's cues, kept with them -------


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
