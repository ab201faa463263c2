"""What every handler shares: the services it talks to and the one way a reply is built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ask_sdk_core.dispatch_components import AbstractRequestHandler
from ask_sdk_core.handler_input import HandlerInput
from ask_sdk_core.utils import get_user_id
from ask_sdk_model import Response

from shared.routine.coach import Coach
from shared.routine.engine import RunView
from shared.timing.tuning import Tuning
from shared.timing.voices import Voices

from .. import speech
from ..alexa_settings import AlexaSettings
from ..narration import Narration, Narrator

if TYPE_CHECKING:
    from shared.pairing.service import PairingService

#: Session attribute naming the question the last reply asked, so "yes" knows what it answers.
PENDING = "pending"
#: PENDING's value while the speaker reads the calibration script part by part.
PENDING_TUNING = "tuning"
#: PENDING's value after asking whether the voice should move on by itself.
FLOW_QUESTION = "flow"


@dataclass(frozen=True, slots=True)
class Services:
    """The core services a handler needs; handed in when the skill is built, never global."""

    coach: Coach
    narrator: Narrator
    pairing: PairingService
    voices: Voices
    tuning: Tuning
    alexa_settings: AlexaSettings


#: Request attribute holding the run as this request found it, read at most once.
_VIEW = "run_view"


def run_view(handler_input: HandlerInput, services: Services) -> RunView:
    """The user's run as this request found it: read once, however many handlers ask.

    Routing by the run's phase happens in can_handle (as the SDK's samples route by session
    state), so several handlers may ask before one is picked; the handler that then moves
    the run goes through the Coach, which reads and writes with compare-and-set.
    """
    attributes = handler_input.attributes_manager.request_attributes
    view = attributes.get(_VIEW)
    if view is None:
        view = attributes[_VIEW] = services.coach.view(user_id_of(handler_input))
    return view


def pending(handler_input: HandlerInput) -> str | None:
    """The question the last reply asked, which a "yes" answers."""
    return session(handler_input).get(PENDING)


class ServiceHandler(AbstractRequestHandler):
    """A handler with the core services it needs, handed in when the skill is built."""

    def __init__(self, services: Services) -> None:
        self.services = services


def user_id_of(handler_input: HandlerInput) -> str:
    user_id = get_user_id(handler_input)
    if not user_id:
        raise ValueError("request carries no user id")
    return user_id


def in_session(handler_input: HandlerInput) -> bool:
    """Skill events and some other requests come with no session, hence no attributes."""
    return handler_input.request_envelope.session is not None


def session(handler_input: HandlerInput) -> dict[str, Any]:
    """The session's attributes; an empty, throwaway dict for a request with no session."""
    if not in_session(handler_input):
        return {}
    return handler_input.attributes_manager.session_attributes


def reply(
    handler_input: HandlerInput,
    ssml: str,
    *,
    reprompt: str | None = None,
    end: bool = False,
    pending: str | None = None,
    reprompt_ssml: str | None = None,
) -> Response:
    """Every question carries a reprompt; anything without one ends the session cleanly.

    `reprompt` is words; `reprompt_ssml` a whole document (hands-free: the routine's rest).
    """
    builder = handler_input.response_builder.speak(ssml)
    if in_session(handler_input):
        session(handler_input)[PENDING] = pending
    if reprompt and not reprompt_ssml:
        reprompt_ssml = speech.wrap(reprompt)
    if reprompt_ssml and not end:
        builder.ask(reprompt_ssml)
        builder.set_should_end_session(False)
    else:
        builder.set_should_end_session(True)
    return builder.response


def fallback_reply(handler_input: HandlerInput) -> Response:
    """For what cannot be acted on here: say what can be said, and listen again."""
    return reply(
        handler_input, speech.wrap(speech.say("fallback")), reprompt=speech.say("fallback_reprompt")
    )


def help_reply(handler_input: HandlerInput) -> Response:
    """The help, for 'help' and for a 'yes' to no question: what can be said, and listen."""
    return reply(
        handler_input, speech.wrap(speech.say("help")), reprompt=speech.say("help_reprompt")
    )


def step_reply(handler_input: HandlerInput, narration: Narration) -> Response:
    """Speak an announced step; the session stays open for 'next' unless the routine is done.

    Hands-free, the reply says the steps after it too, and its reprompt (what Alexa plays
    by itself when the person stays quiet) carries the routine on.
    """
    hands_free = narration.reply
    if hands_free is not None:
        if hands_free.ends_session:
            return reply(handler_input, hands_free.ssml, end=True)
        reprompt = hands_free.reprompt or speech.wrap(speech.say("next_reprompt"))
        return reply(handler_input, hands_free.ssml, reprompt_ssml=reprompt)
    words = narration.words
    assert words is not None
    if words.ends_session:
        return reply(handler_input, words.ssml, end=True)
    return reply(handler_input, words.ssml, reprompt=speech.say("next_reprompt"))


def carry_on_reply(
    handler_input: HandlerInput,
    services: Services,
    said: str,
    *,
    reprompt: str | None = None,
    end: bool = False,
) -> Response:
    """Answer with `said`, carrying on the run the person's words just cut off.

    A hold keeps its end and its spoken close (hands-free, the steps after it follow);
    with nothing to carry on, `said` alone, with `reprompt` or ending the session.
    """
    narration = services.narrator.carry_on(user_id_of(handler_input), said)
    if narration.words is None:
        return reply(handler_input, speech.wrap(said), reprompt=reprompt, end=end)
    return step_reply(handler_input, narration)
