"""What the speaker says to be measured: every text that decides when a hold starts or ends.

A voice profile times exactly the texts it heard, so the script holds the routine's own
words before each hold (safety note, headings, instructions, the hold's length, the cue to
start) and every "Time's up", in both flows (hands-free, it says where to go next).
Texts with a number in them (the seconds left) are
said with a spread of numbers, from which the profile prices the rest. What the skill
says before each hold is said as it will be, pieces and breaks, so it is measured whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from shared.routine.definition import Routine
from shared.timing.script import CalibrationScript, HoldEnd, Opening

from . import speech

#: Numbers said in the texts that carry one, spread over a hold's length and over how many
#: syllables they take ("six" to "twenty-seven").
SAMPLE_SECONDS = (6, 12, 17, 21, 27)

Item = str | Sequence[str] | Opening | HoldEnd


def calibration_script(routine: Routine) -> CalibrationScript:
    return CalibrationScript.of(_texts(routine))


def _texts(routine: Routine) -> Iterator[Item]:
    """Each hold's lead-in opens a part of its own, with its "Time's up" and a share of the
    rest (texts with numbers, steps without a hold) after it; the last line ends the script."""
    cue = speech.say("start_cue")
    groups: list[list[Item]] = []
    rest: list[Item] = [routine.safety_note, speech.say("first_step_again")]
    for index, step in enumerate(routine.steps):
        heading = speech.say("step_heading", number=index + 1, count=len(routine), title=step.title)
        if step.hold is None:
            rest += [heading, step.say]
            continue
        # As the skill says it before the hold, first in its reply: measured whole, exactly.
        hold = speech.say("hold_start", seconds=f"{step.hold.seconds:g}")
        lead = (heading, step.say, hold, cue)
        after = HoldEnd(speech.time_up(routine, index))
        if not groups:
            # The first reply of all opens with the safety note.
            groups.append([Opening((routine.safety_note, *lead)), after])
        groups.append([Opening(lead), after])
        hands_free = speech.time_up(routine, index, hands_free=True)
        if hands_free != after.texts:
            # Hands-free, the hold ends with where to go next ("Over to your right side").
            rest.append(HoldEnd(hands_free))
    rest.append(HoldEnd(speech.say("time_up_once_more")))  # a side's holds, one more to go
    resume = speech.say("hold_resume")
    rest += [cue, resume, (resume, cue)]  # alone too: its pieces price runs never heard whole
    for seconds in SAMPLE_SECONDS:
        # Asked mid-hold, the answer carries the rest of the hold: its end is heard after it.
        rest.append(speech.say("time_left_holding", remaining=speech.duration_words(seconds)))
        rest.append(HoldEnd(speech.say("time_up")))
    rest.append(speech.say("not_paused"))
    share = -(-len(rest) // max(1, len(groups)))
    for k, group in enumerate(groups or [[]]):
        yield from group
        yield from rest[k * share : (k + 1) * share]
    yield speech.say("tune_done")
