"""Opening the skill and answering its questions: launch, yes and no, and how to move on."""

from __future__ import annotations

from ask_sdk_core.handler_input import HandlerInput
from ask_sdk_core.utils import is_intent_name, is_request_type
from ask_sdk_model import Response

from shared.routine.engine import Event, IllegalEvent
from shared.routine.settings import Flow

from .. import speech
from ..intents import Intent, RequestType
from .base import (
    FLOW_QUESTION,
    ServiceHandler,
    help_reply,
    pending,
    reply,
    step_reply,
    user_id_of,
)
from .progress import streak_welcome


class LaunchHandler(ServiceHandler):
    """New users hear the welcome and the safety note; returning ones are offered their step.

    A returning user with no run to pick up hears their streak, when they have one.
    """

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_request_type(RequestType.LAUNCH)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        coach = self.services.coach
        user_id = user_id_of(handler_input)
        user = coach.user(user_id)
        view = coach.view(user_id)
        if view.phase.resumable and view.step is not None:
            said = speech.say(
                "welcome_back_mid_run",
                number=view.step_index + 1,
                count=view.step_count,
                title=view.step.title,
            )
            reprompt = speech.say("continue_or_restart", number=view.step_index + 1)
            return reply(handler_input, speech.wrap(said), reprompt=reprompt, pending="continue")
        if user.safety_heard_at is None:
            coach.mark_safety_heard(user_id)
            said = speech.wrap(
                speech.say("welcome_new"), coach.routine.safety_note, speech.say("offer_start")
            )
        else:
            welcome = streak_welcome(handler_input, self.services) or speech.say("welcome_back")
            said = speech.wrap(welcome, speech.say("offer_start"))
        return reply(handler_input, said, reprompt=speech.say("offer_start"), pending="start")


class YesHandler(ServiceHandler):
    """'Yes' to no question we asked: say what can be said.

    A 'yes' to an offer is taken by the handler that carries it out: to start, by
    StartRoutineHandler; to carry on where the user stopped, by ResumeHandler.
    """

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(Intent.YES)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        return help_reply(handler_input)


class NoHandler(ServiceHandler):
    """'No' to an offer ends the session politely; the user's place is kept."""

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(Intent.NO)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        return reply(handler_input, speech.wrap(speech.say("goodbye")), end=True)


class FlowAnswerHandler(ServiceHandler):
    """The answer to "shall I move on by myself?": kept, and the routine goes on either way.

    Yes: the voice carries on by itself from the next step. No: it waits, and says so.
    Next: the person chose to lead, so it waits from now on, and goes to the next step.
    """

    def can_handle(self, handler_input: HandlerInput) -> bool:
        answered = any(
            is_intent_name(name)(handler_input) for name in (Intent.YES, Intent.NO, Intent.NEXT)
        )
        return answered and pending(handler_input) == FLOW_QUESTION

    def handle(self, handler_input: HandlerInput) -> Response:
        user_id = user_id_of(handler_input)
        coach = self.services.coach
        if is_intent_name(Intent.NO)(handler_input):
            coach.change_settings(user_id, flow=Flow.ON_NEXT.value)
            said = speech.wrap(speech.say("flow_on_next"), speech.say("next_prompt"))
            return reply(handler_input, said, reprompt=speech.say("next_reprompt"))
        hands_free = is_intent_name(Intent.YES)(handler_input)
        flow = Flow.HANDS_FREE if hands_free else Flow.ON_NEXT
        coach.change_settings(user_id, flow=flow.value)
        intro = speech.say("flow_hands_free") if hands_free else ""
        try:
            narration = self.services.narrator.apply(user_id, Event.NEXT, intro)
        except IllegalEvent:
            return reply(handler_input, speech.wrap(speech.say(f"flow_{flow.value}")), end=True)
        if narration.words is None:
            return reply(handler_input, speech.wrap(speech.say("routine_done")), end=True)
        return step_reply(handler_input, narration)
