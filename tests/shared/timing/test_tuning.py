"""A tuning by the person's own watch: it listens, the voice reads in turns, the sounds fit."""

from __future__ import annotations

import pytest

from shared.clock import ManualClock
from shared.stores.base import UserVoice
from shared.timing.fit import RecordingMismatch
from shared.timing.script import CalibrationScript
from shared.timing.tuning import (
    LISTEN_FOR_S,
    MAX_SOUNDS,
    NotListening,
    Tuning,
    TuningError,
    TuningState,
)
from shared.timing.voices import MAX_NUDGE_S, NUDGE_STEP_S
from tests.support.timing import (
    TUNING_SCRIPT,
    TUNING_SECTION_S,
    TUNING_SECTIONS,
    read_in_turns,
    recording_of,
)

ALICE = "amzn1.ask.account.ALICE"
BOB = "amzn1.ask.account.BOB"
DOC = "<speak>Hold for 30 seconds.</speak>"
#: How long after each response the speaker's first word is heard.
DELAY_S = 1.3


def spoken_through(tuning: Tuning, clock: ManualClock) -> list[tuple[float, float]]:
    """ALICE's watch listens and the made-up voice reads the whole script: what it heard."""
    tuning.listen(ALICE, clock.now())
    clock.advance(20)  # the person opens the face, then asks Alexa
    return read_in_turns(tuning, ALICE, clock, DELAY_S)


# -- listening ------------------------------------------------------------------------------------


def test_a_watch_that_listens_has_a_tuning_with_nothing_read_yet(
    tuning: Tuning, clock: ManualClock
) -> None:
    state = tuning.listen(ALICE, clock.now())
    assert state == TuningState(listening_since=clock.now(), script=state.script)
    assert tuning.state(ALICE, clock.now()) == state
    assert not state.all_spoken
    assert tuning.state(BOB, clock.now()) is None


def test_a_watch_that_has_listened_too_long_has_given_up(
    tuning: Tuning, clock: ManualClock
) -> None:
    tuning.listen(ALICE, clock.now())
    clock.advance(LISTEN_FOR_S)
    assert tuning.state(ALICE, clock.now()) is not None
    clock.advance(1)
    assert tuning.state(ALICE, clock.now()) is None
    with pytest.raises(NotListening):
        tuning.speak(ALICE, clock.now(), from_start=True)


def test_listening_again_starts_the_tuning_over(tuning: Tuning, clock: ManualClock) -> None:
    tuning.listen(ALICE, clock.now())
    tuning.speak(ALICE, clock.now(), from_start=True)
    clock.advance(30)
    again = tuning.listen(ALICE, clock.now())
    assert (again.plan, again.spoken) == ((), ())
    assert tuning.state(ALICE, clock.now()) == again


def test_the_voice_cannot_read_while_no_watch_listens(tuning: Tuning, clock: ManualClock) -> None:
    with pytest.raises(NotListening):
        tuning.speak(ALICE, clock.now(), from_start=True)
    with pytest.raises(NotListening):
        tuning.finish(ALICE, recording_of(TUNING_SCRIPT), clock.now())


def test_cancelling_drops_the_tuning_and_nothing_else(tuning: Tuning, clock: ManualClock) -> None:
    tuning.voices.nudge(ALICE, NUDGE_STEP_S, clock.now())
    tuning.listen(ALICE, clock.now())
    tuning.cancel(ALICE, clock.now())
    assert tuning.state(ALICE, clock.now()) is None
    assert tuning.voices.store.load_voice(ALICE) == UserVoice(offset_s=NUDGE_STEP_S)


# -- the voice reads, a section per response -------------------------------------------------


def test_the_voice_reads_the_script_a_section_per_response(
    tuning: Tuning, clock: ManualClock
) -> None:
    tuning.listen(ALICE, clock.now())
    said_at, turns = [], []
    for _ in TUNING_SECTIONS:
        clock.advance(25)
        said_at.append(clock.now())
        turns.append(tuning.speak(ALICE, clock.now(), from_start=not turns))
    assert [(t.number, t.count, t.last) for t in turns] == [
        (1, 3, False),
        (2, 3, False),
        (3, 3, True),
    ]
    assert [t.body for t in turns] == [TUNING_SCRIPT.body(s) for s in TUNING_SECTIONS]
    state = tuning.state(ALICE, clock.now())
    assert state is not None
    assert state.plan == TUNING_SECTIONS
    assert state.spoken == tuple(said_at)
    assert state.all_spoken


def test_the_sections_are_planned_by_the_users_own_timing(
    tuning: Tuning, clock: ManualClock
) -> None:
    # A nudged user's speech is timed a second longer per part: more sections, for them only.
    tuning.voices.nudge(ALICE, MAX_NUDGE_S, clock.now())
    for user in (ALICE, BOB):
        tuning.listen(user, clock.now())
        tuning.speak(user, clock.now(), from_start=True)
    alice, bob = (tuning.state(user, clock.now()) for user in (ALICE, BOB))
    assert alice is not None
    assert bob is not None
    slower = TUNING_SCRIPT.sections(tuning.voices.timing_for(ALICE).estimate, TUNING_SECTION_S)
    assert alice.plan == slower
    assert len(alice.plan) > len(bob.plan) == len(TUNING_SECTIONS)


def test_reading_from_the_start_plans_again_and_forgets_what_was_read(
    tuning: Tuning, clock: ManualClock
) -> None:
    tuning.listen(ALICE, clock.now())
    tuning.speak(ALICE, clock.now(), from_start=True)
    clock.advance(30)
    tuning.speak(ALICE, clock.now(), from_start=False)
    tuning.voices.nudge(ALICE, MAX_NUDGE_S, clock.now())
    clock.advance(30)
    turn = tuning.speak(ALICE, clock.now(), from_start=True)
    state = tuning.state(ALICE, clock.now())
    assert state is not None
    assert (turn.number, turn.count) == (1, len(state.plan))
    assert state.spoken == (clock.now(),)
    assert state.plan != TUNING_SECTIONS
    assert turn.body == TUNING_SCRIPT.body(state.plan[0])


def test_without_from_start_the_first_reading_still_plans(
    tuning: Tuning, clock: ManualClock
) -> None:
    tuning.listen(ALICE, clock.now())
    turn = tuning.speak(ALICE, clock.now(), from_start=False)
    assert (turn.number, turn.count) == (1, len(TUNING_SECTIONS))


def test_there_is_nothing_to_read_past_the_last_section(tuning: Tuning, clock: ManualClock) -> None:
    tuning.listen(ALICE, clock.now())
    for k in range(len(TUNING_SECTIONS)):
        tuning.speak(ALICE, clock.now(), from_start=k == 0)
    with pytest.raises(TuningError, match="the whole script has been read") as error:
        tuning.speak(ALICE, clock.now(), from_start=False)
    assert not isinstance(error.value, NotListening)


# -- the watch sends what it heard ----------------------------------------------------------------


@pytest.mark.parametrize(("read", "said"), [(0, "0 of its parts"), (2, "2 of 3 parts")])
def test_what_is_heard_before_the_voice_has_read_all_waits_and_keeps_the_tuning(
    tuning: Tuning, clock: ManualClock, read: int, said: str
) -> None:
    tuning.listen(ALICE, clock.now())
    for k in range(read):
        tuning.speak(ALICE, clock.now(), from_start=k == 0)
    before = tuning.state(ALICE, clock.now())
    with pytest.raises(TuningError, match=f"the voice has read {said} so far") as error:
        tuning.finish(ALICE, recording_of(TUNING_SCRIPT), clock.now())
    assert not isinstance(error.value, (NotListening, RecordingMismatch))
    assert tuning.state(ALICE, clock.now()) == before


def test_what_the_watch_heard_fits_the_users_own_profile_and_ends_the_tuning(
    tuning: Tuning, clock: ManualClock
) -> None:
    tuning.voices.nudge(ALICE, NUDGE_STEP_S, clock.now())
    sounds = spoken_through(tuning, clock)
    profile = tuning.finish(ALICE, sounds, clock.now())

    assert profile.start_delay_s == pytest.approx(DELAY_S)
    assert profile.fit["parts"] == len(TUNING_SCRIPT.parts)
    voice = tuning.voices.store.load_voice(ALICE)
    assert voice == UserVoice(profile.dumps(), 0.0, None)  # the nudge starts over too
    timing = tuning.voices.timing_for(ALICE)
    assert timing.estimate(DOC) == pytest.approx(profile.estimate(DOC))
    assert timing.estimate(DOC) != pytest.approx(tuning.voices.default.estimate(DOC))
    assert tuning.state(ALICE, clock.now()) is None
    assert tuning.voices.timing_for(BOB) is tuning.voices.default


def test_the_order_the_watch_sends_its_sounds_in_does_not_matter(
    tuning: Tuning, clock: ManualClock
) -> None:
    sounds = spoken_through(tuning, clock)
    profile = tuning.finish(ALICE, sounds[::-1], clock.now())
    assert profile.start_delay_s == pytest.approx(DELAY_S)


def test_sounds_that_are_not_the_script_are_refused_and_end_the_tuning(
    tuning: Tuning, clock: ManualClock
) -> None:
    sounds = spoken_through(tuning, clock)
    state = tuning.state(ALICE, clock.now())
    assert state is not None
    # The watch stopped hearing before the last part was read.
    cut = [(start, end) for start, end in sounds if start < state.spoken[-1]]
    with pytest.raises(RecordingMismatch, match="no speech in part 3 of 3"):
        tuning.finish(ALICE, cut, clock.now())
    assert tuning.state(ALICE, clock.now()) is None
    assert tuning.voices.store.load_voice(ALICE) == UserVoice()


@pytest.mark.parametrize(
    "bad", [(5.0, 4.0), (float("nan"), 1.0), (1.0, float("inf"))], ids=["backwards", "nan", "inf"]
)
def test_a_stretch_that_is_no_stretch_is_refused_and_ends_the_tuning(
    tuning: Tuning, clock: ManualClock, bad: tuple[float, float]
) -> None:
    sounds = spoken_through(tuning, clock)
    with pytest.raises(RecordingMismatch, match="ends before it starts"):
        tuning.finish(ALICE, [*sounds, bad], clock.now())
    assert tuning.state(ALICE, clock.now()) is None


def test_too_many_stretches_of_sound_are_refused(tuning: Tuning, clock: ManualClock) -> None:
    spoken_through(tuning, clock)
    noise = [(float(i), i + 0.5) for i in range(MAX_SOUNDS + 1)]
    with pytest.raises(
        TuningError, match=f"at most {MAX_SOUNDS} stretches of sound, not {MAX_SOUNDS + 1}"
    ):
        tuning.finish(ALICE, noise, clock.now())


# -- kept with the user's voice settings ----------------------------------------------------------


def test_a_tuning_of_another_script_is_no_tuning_of_this_one(
    tuning: Tuning, clock: ManualClock
) -> None:
    other = Tuning(
        tuning.voices, CalibrationScript(("One.", "Two.", "Three."), (2.0, 2.0)), TUNING_SECTION_S
    )
    other.listen(ALICE, clock.now())
    assert other.state(ALICE, clock.now()) is not None
    assert tuning.state(ALICE, clock.now()) is None
    with pytest.raises(NotListening):
        tuning.speak(ALICE, clock.now(), from_start=True)


def test_a_nudge_during_a_tuning_keeps_the_tuning(tuning: Tuning, clock: ManualClock) -> None:
    tuning.listen(ALICE, clock.now())
    tuning.speak(ALICE, clock.now(), from_start=True)
    before = tuning.state(ALICE, clock.now())
    tuning.voices.nudge(ALICE, -NUDGE_STEP_S, clock.now())
    assert tuning.state(ALICE, clock.now()) == before
    assert tuning.voices.store.load_voice(ALICE).offset_s == -NUDGE_STEP_S


def test_going_back_to_the_deployments_timing_drops_the_tuning(
    tuning: Tuning, clock: ManualClock
) -> None:
    tuning.listen(ALICE, clock.now())
    tuning.voices.reset(ALICE, clock.now())
    assert tuning.state(ALICE, clock.now()) is None


def test_a_tuning_is_forgotten_with_the_user(tuning: Tuning, clock: ManualClock) -> None:
    tuning.listen(ALICE, clock.now())
    tuning.listen(BOB, clock.now())
    tuning.voices.store.delete_user(ALICE)
    assert tuning.state(ALICE, clock.now()) is None
    assert tuning.state(BOB, clock.now()) is not None


def test_a_tuning_survives_being_kept_and_read_back(tuning: Tuning, clock: ManualClock) -> None:
    tuning.listen(ALICE, clock.now())
    tuning.speak(ALICE, clock.now(), from_start=True)
    text = tuning.voices.tuning(ALICE)
    assert text is not None
    state = TuningState.loads(text)
    assert state is not None
    assert state.dumps() == text
    assert (state.plan[:1], state.spoken) == (TUNING_SECTIONS[:1], (clock.now(),))


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        "null",
        '"a string"',
        '{"listening_since": 1}',
        '{"listening_since": "soon", "script": "x", "plan": [], "spoken": []}',
        '{"listening_since": 1, "script": "x", "plan": [[0, 1, 2]], "spoken": []}',
        '{"listening_since": 1, "script": "x", "plan": 7, "spoken": []}',
        '{"listening_since": 1, "script": "x", "plan": [[0, 2]], "spoken": [1, 2]}',
    ],
    ids=[
        "not-json",
        "a-list",
        "null",
        "a-string",
        "keys-missing",
        "no-time",
        "section-of-three",
        "plan-not-a-list",
        "more-said-than-planned",
    ],
)
def test_a_kept_tuning_that_cannot_be_read_is_as_if_there_were_none(
    tuning: Tuning, clock: ManualClock, text: str
) -> None:
    assert TuningState.loads(text) is None
    tuning.voices.keep_tuning(ALICE, text, clock.now())
    assert tuning.state(ALICE, clock.now()) is None
    with pytest.raises(NotListening):
        tuning.speak(ALICE, clock.now(), from_start=True)
    tuning.listen(ALICE, clock.now())  # and a watch can start one afresh
    assert tuning.state(ALICE, clock.now()) is not None
