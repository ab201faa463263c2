"""What the speaker says to be measured: every text that decides when a hold starts or ends.

A voice profile times exactly the texts it heard, so the script holds the routine's own
words before each hold (safety note, headings, instructions, the hold's length, the cue to
start) and every "Time's up". Texts with a number in them (a resumed hold, the seconds left)
are said with a spread of numbers, from which the profile prices the rest. What the skill
says before each hold is said as it will be, pieces and breaks, so it is measured whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from shared.routine import Routine
from shared.timing.script import CalibrationScript

from . import speech

#: Numbers said in the texts that carry one, spread over a hold's length and over how many
#: syllables they take ("six" to "twenty-seven").
SAMPLE_SECONDS = (6, 12, 17, 21, 27)


def calibration_script(routine: Routine) -> CalibrationScript:
    return CalibrationScript.of(_texts(routine))


def _texts(routine: Routine) -> Iterator[str | Sequence[str]]:
    yield speech.say("tune_intro")
    yield routine.safety_note
    yield speech.say("first_step_again")
    for index, step in enumerate(routine.steps):
        heading = speech.say("step_heading", number=index + 1, count=len(routine), title=step.title)
        if step.hold is None:
            yield heading
            yield step.say
            continue
        # As the skill says it before the hold: measured whole, exactly.
        hold = speech.say("hold_start", seconds=f"{step.hold.seconds:g}")
        yield (heading, step.say, hold, speech.say("start_cue"))
        yield speech.time_up(routine, index)
    yield speech.say("start_cue")
    for seconds in SAMPLE_SECONDS:
        resume = speech.say("hold_resume", seconds=seconds)
        yield resume  # alone too: a run never heard whole is priced from its pieces
        yield (resume, speech.say("start_cue"))
        yield speech.say("time_left_holding", remaining=speech.duration_words(seconds))
    yield speech.say("not_paused")
    yield speech.say("tune_done")
