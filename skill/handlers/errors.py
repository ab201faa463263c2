"""The one place a failure turns into speech: the user hears an apology, never silence."""

from __future__ import annotations

import logging

from ask_sdk_core.dispatch_components import AbstractExceptionHandler
from ask_sdk_core.handler_input import HandlerInput
from ask_sdk_model import Response

from shared.store import VersionConflict

from .. import speech
from .base import reply

log = logging.getLogger(__name__)


class CatchAllExceptionHandler(AbstractExceptionHandler):
    def can_handle(self, handler_input: HandlerInput, exception: Exception) -> bool:
        return True

    def handle(self, handler_input: HandlerInput, exception: Exception) -> Response:
        if isinstance(exception, VersionConflict):
            log.warning("gave up after repeated run conflicts")
            key = "busy"
        else:
            log.exception("skill handler failed", exc_info=exception)
            key = "error"
        return reply(
            handler_input, speech.wrap(speech.say(key)), reprompt=speech.say("help_reprompt")
        )
