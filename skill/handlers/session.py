"""Handlers around the routine: help, safety, stop, fallback, session end and skill disable."""

from __future__ import annotations

import logging

from ask_sdk_core.handler_input import HandlerInput
from ask_sdk_core.utils import is_intent_name, is_request_type
from ask_sdk_model import Response

from shared.routine.engine import Action, Event, IllegalEvent
from shared.user_ref import user_ref

from .. import speech
from ..intents import Intent, RequestType
from .base import ServiceHandler, fallback_reply, help_reply, reply, user_id_of
from .errors import RetryLater

log = logging.getLogger(__name__)


class HelpHandler(ServiceHandler):
    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(Intent.HELP)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        return help_reply(handler_input)


class SafetyHandler(ServiceHandler):
    """The safety note on request; mid-run it also pauses, since the user may be in pain.

    Like a spoken pause, that ends the session with the phrase that resumes the hold.
    """

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(Intent.SAFETY)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        coach = self.services.coach
        note = coach.routine.safety_note
        try:
            paused = coach.apply(user_id_of(handler_input), Event.PAUSE).transition
        except IllegalEvent:  # nothing under way to pause
            paused = None
        if paused is not None and paused.action is Action.PAUSE:
            return reply(handler_input, speech.wrap(note, speech.say("paused")), end=True)
        return reply(
            handler_input,
            speech.wrap(note, speech.say("safety_reprompt")),
            reprompt=speech.say("safety_reprompt"),
            pending="start",
        )


class StopHandler(ServiceHandler):
    """Stop, cancel and 'go home' end the session at once and keep the user's place."""

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return any(
            is_intent_name(name)(handler_input)
            for name in (Intent.STOP, Intent.CANCEL, Intent.NAVIGATE_HOME)
        )

    def handle(self, handler_input: HandlerInput) -> Response:
        outcome = self.services.coach.apply(user_id_of(handler_input), Event.STOP)
        key = "stopped" if outcome.transition.action is Action.STOP else "goodbye"
        return reply(handler_input, speech.wrap(speech.say(key)), end=True)


class FallbackHandler(ServiceHandler):
    """Anything the model could not place, including intents this code does not know."""

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_request_type(RequestType.INTENT)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        return fallback_reply(handler_input)


class SessionEndedHandler(ServiceHandler):
    """Alexa closed the session; nothing may be spoken, the run is already saved."""

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_request_type(RequestType.SESSION_ENDED)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        request = handler_input.request_envelope.request
        log.info("session ended: %s", getattr(request, "reason", None))
        return handler_input.response_builder.response


class SkillDisabledHandler(ServiceHandler):
    """The user disabled the skill: forget them entirely, watches included."""

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_request_type(RequestType.SKILL_DISABLED)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        user_id = user_id_of(handler_input)
        try:
            self.services.pairing.revoke_user(user_id)
            self.services.coach.forget(user_id)
        except Exception as exc:
            log.error("skill disabled but user %s not deleted yet", user_ref(user_id), exc_info=exc)
            raise RetryLater(user_ref(user_id)) from exc
        log.info("skill disabled; deleted user %s", user_ref(user_id))
        return handler_input.response_builder.response


class UnknownRequestHandler(ServiceHandler):
    """Request types we never asked for (display events and the like) get an empty answer."""

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return True

    def handle(self, handler_input: HandlerInput) -> Response:
        log.info("ignored request type %s", handler_input.request_envelope.request.object_type)
        return handler_input.response_builder.response
