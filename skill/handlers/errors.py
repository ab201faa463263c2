"""The one place a failure turns into speech: the user hears an apology, never silence.

A request with no session (a skill event such as SkillDisabled) has no one listening, so
it gets an empty response instead. Nothing here may raise: an error escaping the
exception handler would surface as a 500.
"""

from __future__ import annotations

import logging

from ask_sdk_core.dispatch_components import AbstractExceptionHandler
from ask_sdk_core.handler_input import HandlerInput
from ask_sdk_model import Response

from shared.stores.base import VersionConflict
from shared.user_ref import user_ref

from .. import speech
from .base import in_session, reply

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """A skill event we could not carry out now (the store is down); Alexa should send it again.

    Skill events are delivered outside any session and may arrive up to an hour late, so
    answering 503 rather than an empty 200 lets a user's data still be deleted once the
    store is back; deleting is idempotent, so a second delivery does no harm.
    """


class CatchAllExceptionHandler(AbstractExceptionHandler):
    def can_handle(self, handler_input: HandlerInput, exception: Exception) -> bool:
        return True

    def handle(self, handler_input: HandlerInput, exception: Exception) -> Response:
        if isinstance(exception, RetryLater):
            raise exception  # the endpoint answers 503, so Alexa delivers the event again
        request_type = getattr(handler_input.request_envelope.request, "object_type", None)
        if isinstance(exception, VersionConflict):
            user = user_ref(exception.user_id)
            log.warning("gave up on user %s after repeated run conflicts (%s)", user, request_type)
            key = "busy"
        else:
            log.error("skill handler failed (%s)", request_type, exc_info=exception)
            key = "error"
        # Start from a blank response: the failed handler may have half-built one.
        handler_input.response_builder.response = Response()
        if not in_session(handler_input):
            return handler_input.response_builder.response
        try:
            return reply(
                handler_input, speech.wrap(speech.say(key)), reprompt=speech.say("help_reprompt")
            )
        except Exception:
            log.exception("could not even apologise; answering with an empty response")
            return Response()
