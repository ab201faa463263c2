"""A hands-free reply: the voice says step after step by itself, within what Alexa plays.

One response may carry under 8,000 characters of SSML and no more than 240 seconds of audio,
and Alexa plays a response's reprompt by itself when the person stays quiet for about eight
seconds after it. So a reply says as many whole steps as fit in one response, and the rest
(as many as fit again) as its reprompt: a routine of up to about eight minutes needs no
"next" at all. What still does not fit ends with a prompt to say next.

Each step is timed where it stands in its response, from the response's own words
(SpeechTiming.estimate of everything before the step's hold), so the watch's cues meet the
voice at every hold of the reply, not only the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from shared.routine.definition import Routine
from shared.routine.engine import Said
from shared.timing import SpeechTiming

from . import speech

#: Alexa's cap on a response's outputSpeech is 8,000 characters; this leaves room for the
#: <speak> document around it.
MAX_SSML_CHARS = 7_500
#: Alexa plays at most 240 s of audio a response; a little is kept for the voice running
#: slower than its timing says.
MAX_REPLY_S = 230.0
#: How long Alexa listens after a response before it plays the reprompt by itself.
LISTEN_S = 8.0
#: A response and its reprompt: the most one request can carry without the person speaking.
MAX_PARTS = 2


@dataclass(frozen=True, slots=True)
class Reply:
    """What a hands-free request answers: the speech, and (if any) the reprompt that carries
    the routine on when the person stays quiet, both whole <speak> documents."""

    ssml: str
    reprompt: str | None
    ends_session: bool
    said: tuple[Said, ...]


def hands_free_reply(
    routine: Routine,
    first: speech.StepSpeech,
    index: int,
    timing: SpeechTiming,
) -> Reply:
    """Step `index` (said as `first`) and the steps after it, in at most two responses."""
    units = [first]
    for later in range(index + 1, routine.last_index + 1):
        units.append(
            speech.step_speech(
                routine, later, break_for_silence=timing.break_for_silence, hands_free=True
            )
        )
    parts: list[list[speech.StepSpeech]] = [[]]
    for unit in units:
        if parts[-1] and not _fits([*parts[-1], unit], timing):
            if len(parts) == MAX_PARTS:
                break
            parts.append([])
        parts[-1].append(unit)
    said_count = sum(len(part) for part in parts)
    finished = index + said_count - 1 >= routine.last_index
    if not finished:  # the last part ends by asking for next, not by settling into a step
        parts[-1][-1] = _asks_for_next(parts[-1][-1])
    parts = [[*part[:-1], replace(part[-1], settle="")] for part in parts]
    documents = [speech.wrap(*(_pieces(part))) for part in parts]
    return Reply(
        ssml=documents[0],
        reprompt=documents[1] if len(documents) > 1 else None,
        ends_session=finished and len(documents) == 1,
        said=tuple(_timeline(parts, timing)),
    )


def _fits(units: Sequence[speech.StepSpeech], timing: SpeechTiming) -> bool:
    document = speech.wrap(*_pieces(units))
    return len(document) <= MAX_SSML_CHARS and timing.estimate(document) <= MAX_REPLY_S


def _pieces(units: Sequence[speech.StepSpeech]) -> list[str]:
    return [piece for unit in units for piece in (unit.lead_in, unit.hold, unit.after, unit.settle)]


def _asks_for_next(unit: speech.StepSpeech) -> speech.StepSpeech:
    after = " ".join(p for p in (unit.after, speech.say("rest_prompt")) if p)
    return replace(unit, after=after)


def _timeline(parts: Sequence[Sequence[speech.StepSpeech]], timing: SpeechTiming) -> list[Said]:
    """When each step is reached, in seconds from the reply, part after part."""
    said: list[Said] = []
    start = 0.0
    for part in parts:
        before: list[str] = []
        for number, unit in enumerate(part):
            # A step begins once the words ending the one before have been said; its hold
            # (or, with none, its end) once its own words have.
            begins = start + (timing.estimate(speech.wrap(*before)) if number else 0.0)
            lead_end = start + timing.estimate(speech.wrap(*before, unit.lead_in))
            said.append(Said(begins, lead_end))
            before += [unit.lead_in, unit.hold, unit.after, unit.settle]
        start += timing.estimate(speech.wrap(*before)) + LISTEN_S
    return said
