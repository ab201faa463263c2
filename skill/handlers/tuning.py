"""Fitting the buzz to a person's own speaker: measuring it, or nudging it by a step.

A person feels a buzz and hears "Time's up" as one moment only within about 100 ms; a
speaker that lags (Bluetooth, a slow network) can be further off than any model knows.
"Tune my watch" has the speaker read the calibration script, part by part, while the
watch face listens (shared/timing/tuning.py); a nudge moves every later cue of theirs by
shared.timing.voices.NUDGE_STEP_S, up to a bound.
"""

from __future__ import annotations

from ask_sdk_core.handler_input import HandlerInput
from ask_sdk_core.utils import is_intent_name
from ask_sdk_model import Response

from shared.timing.tuning import NotListening, TuningError, Turn
from shared.timing.voices import NUDGE_STEP_S

from .. import speech
from ..intents import Intent
from .base import (
    PENDING,
    PENDING_TUNING,
    ServiceHandler,
    carry_on_reply,
    reply,
    session,
    user_id_of,
)

#: "Tune my watch" carries on with the next part if the last one was read this recently
#: (the person let the session close before saying next); otherwise it starts over.
CARRY_ON_WITHIN_S = 5 * 60.0


class TuneWatchHandler(ServiceHandler):
    """'Tune my watch': say what is about to happen, then read a part at each 'next'.

    The calibration script's parts each begin as one of the skill's replies begins, so
    nothing may come before a part in its reply: the introduction is a reply of its own.
    """

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(Intent.TUNE_WATCH)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        user_id = user_id_of(handler_input)
        tuning = self.services.tuning
        now = self.services.coach.clock.now()
        state = tuning.state(user_id, now)
        if state is None:
            return reply(handler_input, speech.wrap(speech.say("tune_open_face")), end=True)
        recent = bool(state.spoken) and now - state.spoken[-1] <= CARRY_ON_WITHIN_S
        if recent and not state.all_spoken:
            return _read(handler_input, tuning.speak(user_id, now, from_start=False))
        tuning.restart(user_id, now)
        prompt = speech.say("tune_first_part")
        return reply(
            handler_input,
            speech.wrap(speech.say("tune_intro"), prompt),
            reprompt=prompt,
            pending=PENDING_TUNING,
        )


class TuneNextHandler(ServiceHandler):
    """'Next' (or 'yes') between two parts of the calibration script: read the next one."""

    def can_handle(self, handler_input: HandlerInput) -> bool:
        asked = session(handler_input).get(PENDING) == PENDING_TUNING
        wants = is_intent_name(Intent.NEXT)(handler_input) or is_intent_name(Intent.YES)(
            handler_input
        )
        return asked and wants

    def handle(self, handler_input: HandlerInput) -> Response:
        user_id = user_id_of(handler_input)
        now = self.services.coach.clock.now()
        try:
            turn = self.services.tuning.speak(user_id, now, from_start=False)
        except NotListening:
            return reply(handler_input, speech.wrap(speech.say("tune_open_face")), end=True)
        except TuningError:
            return reply(handler_input, speech.wrap(speech.say("tune_all_read")), end=True)
        return _read(handler_input, turn)


def _read(handler_input: HandlerInput, turn: Turn) -> Response:
    ssml = speech.tuning_part(turn.body, turn.number, turn.count)
    if turn.last:
        return reply(handler_input, ssml, end=True)
    return reply(
        handler_input, ssml, reprompt=speech.say("tune_part_reprompt"), pending=PENDING_TUNING
    )


class _NudgeHandler(ServiceHandler):
    intent: Intent
    #: Which way the user's cues move: + later (the buzz came first), - earlier.
    direction: float
    said: str

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(self.intent)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        user_id = user_id_of(handler_input)
        now = self.services.coach.clock.now()
        nudged = self.services.voices.nudge(user_id, self.direction * NUDGE_STEP_S, now)
        said = speech.say("nudge_at_limit" if nudged.at_limit else self.said)
        # Speaking cut the run off (a hold's silence, hands-free a whole reply): carry it on.
        return carry_on_reply(handler_input, self.services, said, end=True)


class BuzzEarlyHandler(_NudgeHandler):
    """'The buzz was early': the watch buzzed before the voice, so buzz later."""

    intent = Intent.BUZZ_EARLY
    direction = 1.0
    said = "nudge_later"


class BuzzLateHandler(_NudgeHandler):
    """'The buzz was late': the voice came first, so buzz earlier."""

    intent = Intent.BUZZ_LATE
    direction = -1.0
    said = "nudge_earlier"
