"""Telling the coach the buzz was early or late: a small, bounded move of that user's cues.

A person feels a buzz and hears "Time's up" as one moment only within about 100 ms; a
speaker that lags (Bluetooth, a slow network) can be further off than any model knows.
One nudge moves every later cue of theirs by shared.voices.NUDGE_STEP_S, up to a bound.
"""

from __future__ import annotations

from ask_sdk_core.dispatch_components import AbstractRequestHandler
from ask_sdk_core.handler_input import HandlerInput
from ask_sdk_core.utils import is_intent_name
from ask_sdk_model import Response

from shared.engine import Phase
from shared.voices import NUDGE_STEP_S

from .. import speech
from ..intents import Intent
from .base import Services, reply, user_id_of


class _NudgeHandler(AbstractRequestHandler):
    intent: Intent
    #: Which way the user's cues move: + later (the buzz came first), - earlier.
    direction: float
    said: str

    def __init__(self, services: Services) -> None:
        self.services = services

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(self.intent)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        user_id = user_id_of(handler_input)
        now = self.services.coach.clock.now()
        nudged = self.services.voices.nudge(user_id, self.direction * NUDGE_STEP_S, now)
        said = speech.say("nudge_at_limit" if nudged.at_limit else self.said)
        view = self.services.coach.view(user_id)
        if view.phase is Phase.HOLDING:
            # Speaking cuts the hold's silence short: this answer carries the rest of it.
            return reply(
                handler_input,
                self.services.narrator.rest_of_hold(user_id, view, said),
                reprompt=speech.say("next_reprompt"),
            )
        return reply(handler_input, speech.wrap(said), end=True)


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
