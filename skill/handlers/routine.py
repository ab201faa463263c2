"""Handlers that move the routine: start, next, previous, repeat, pause, resume, start over."""

from __future__ import annotations

from ask_sdk_core.handler_input import HandlerInput
from ask_sdk_core.utils import is_intent_name
from ask_sdk_model import Response

from shared.routine.engine import Announcement, Event, IllegalEvent, Phase, RunView

from .. import speech
from ..intents import Intent
from ..narration import Intro
from .base import (
    FLOW_QUESTION,
    ServiceHandler,
    Services,
    carry_on_reply,
    fallback_reply,
    pending,
    reply,
    run_view,
    step_reply,
    user_id_of,
)


def illegal_event_reply(handler_input: HandlerInput, exc: IllegalEvent) -> Response:
    """The polite answer for an event that makes no sense now; always leaves a way forward."""
    # No run, or a finished one: say which, and offer to start one.
    no_run = {Phase.IDLE: "not_started", Phase.COMPLETED: "already_done"}.get(exc.phase)
    if no_run is not None:
        return reply(
            handler_input,
            speech.wrap(speech.say(no_run)),
            reprompt=speech.say("offer_start"),
            pending="start",
        )
    return fallback_reply(handler_input)


class _EventHandler(ServiceHandler):
    """Applies one event for one intent and speaks the step it lands on."""

    intent: Intent
    event: Event

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(self.intent)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        user_id = user_id_of(handler_input)
        # Someone never asked whether the voice should move on by itself hears the question
        # where "say next" would go, until they answer it (FlowAnswerHandler).
        asking = self.services.coach.settings(user_id).flow is None
        prompt = speech.say("flow_question") if asking else None
        try:
            narration = self.services.narrator.apply(
                user_id, self.event, self.intro(user_id), prompt
            )
        except IllegalEvent as exc:
            return illegal_event_reply(handler_input, exc)
        if narration.words is None:
            return self.nothing_announced(handler_input, user_id)
        if asking and narration.reply is None and not narration.words.ends_session:
            return reply(
                handler_input,
                narration.words.ssml,
                reprompt=speech.say("flow_reprompt"),
                pending=FLOW_QUESTION,
            )
        return step_reply(handler_input, narration)

    def intro(self, user_id: str) -> Intro:
        return ""

    def phase(self, handler_input: HandlerInput) -> Phase:
        return run_view(handler_input, self.services).phase

    def nothing_announced(self, handler_input: HandlerInput, user_id: str) -> Response:
        """No step was announced: the run finished, or the event changed nothing."""
        view = self.services.coach.view(user_id)
        if view.phase is Phase.COMPLETED:
            return reply(handler_input, speech.wrap(speech.say("routine_done")), end=True)
        return fallback_reply(handler_input)


class StartRoutineHandler(_EventHandler):
    """'Start my sciatica routine' (or 'yes' to the offer) with no run to pick up: a new run.

    With a run under way the same words repeat its step (RepeatHandler), and with one paused
    or stopped they resume it (ResumeHandler): each handler claims its case in can_handle.
    """

    intent = Intent.START_ROUTINE
    event = Event.START

    def can_handle(self, handler_input: HandlerInput) -> bool:
        asked = is_intent_name(Intent.START_ROUTINE)(handler_input) or (
            is_intent_name(Intent.YES)(handler_input) and pending(handler_input) == "start"
        )
        return asked and not self.phase(handler_input).resumable

    def intro(self, user_id: str) -> Intro:
        return safety_intro(self.services, user_id)


def safety_intro(services: Services, user_id: str) -> str:
    """The safety note goes before a user's first run, once."""
    user = services.coach.user(user_id)
    if user.safety_heard_at is not None:
        return ""
    services.coach.mark_safety_heard(user_id)
    return services.coach.routine.safety_note


class NextHandler(_EventHandler):
    intent = Intent.NEXT
    event = Event.NEXT


class PreviousHandler(_EventHandler):
    """Previous from the first step says so, then gives that step again."""

    intent = Intent.PREVIOUS
    event = Event.PREVIOUS

    def intro(self, user_id: str) -> Intro:
        return _first_step_again


def _first_step_again(announcement: Announcement) -> str:
    """What the engine decided: no earlier step, so this one again, and the voice says so."""
    return speech.say("first_step_again") if announcement.at_first_step else ""


class RepeatHandler(_EventHandler):
    """Repeat says the step again and restarts its hold, so the watch follows.

    'Start my routine' while a run is under way means the same: the step it is on, again.
    """

    intent = Intent.REPEAT
    event = Event.REPEAT

    def can_handle(self, handler_input: HandlerInput) -> bool:
        if is_intent_name(Intent.REPEAT)(handler_input):
            return True
        started = is_intent_name(Intent.START_ROUTINE)(handler_input)
        return started and self.phase(handler_input).under_way


class StartOverHandler(_EventHandler):
    intent = Intent.START_OVER
    event = Event.START_OVER

    def intro(self, user_id: str) -> Intro:
        return safety_intro(self.services, user_id)


class ResumeHandler(_EventHandler):
    """Resume a paused hold with what it had left; after a stop, the step from its start.

    Also 'start my routine' with a run paused or stopped, and 'yes' to carrying on from
    where the user stopped (the welcome back's offer).
    """

    intent = Intent.RESUME
    event = Event.RESUME

    def can_handle(self, handler_input: HandlerInput) -> bool:
        if is_intent_name(Intent.RESUME)(handler_input):
            return True
        if is_intent_name(Intent.YES)(handler_input):
            return pending(handler_input) == "continue"
        started = is_intent_name(Intent.START_ROUTINE)(handler_input)
        return started and self.phase(handler_input) in (Phase.PAUSED, Phase.STOPPED)

    def nothing_announced(self, handler_input: HandlerInput, user_id: str) -> Response:
        view = self.services.coach.view(user_id)
        if view.phase.under_way:
            said = speech.say("not_paused")
            return carry_on_reply(
                handler_input, self.services, said, reprompt=speech.say("next_reprompt")
            )
        return super().nothing_announced(handler_input, user_id)


class PauseHandler(ServiceHandler):
    """Pause freezes the hold and ends the session, saying how to come back.

    An open session closes by itself after about eight seconds of silence, far sooner than
    a pause lasts, and a reprompt would only nag someone lying on the floor. So the reply
    ends the session and tells the user the one-shot phrase that resumes the hold.
    """

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(Intent.PAUSE)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        try:
            self.services.coach.apply(user_id_of(handler_input), Event.PAUSE)
        except IllegalEvent as exc:
            return illegal_event_reply(handler_input, exc)
        return reply(handler_input, speech.wrap(speech.say("paused")), end=True)


class TimeLeftHandler(ServiceHandler):
    """'How much time is left' answers from the core's hold window, then keeps the hold going."""

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(Intent.TIME_LEFT)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        user_id = user_id_of(handler_input)
        view = self.services.coach.view(user_id)
        said = time_left_words(view)
        if view.phase is Phase.HOLDING or (view.phase.under_way and view.state.hands_free):
            return carry_on_reply(
                handler_input, self.services, said, reprompt=_reprompt_for(view.phase)
            )
        if view.phase in (Phase.IDLE, Phase.COMPLETED):
            return reply(
                handler_input,
                speech.wrap(said),
                reprompt=speech.say("offer_start"),
                pending="start",
            )
        return reply(handler_input, speech.wrap(said), reprompt=_reprompt_for(view.phase))


def _reprompt_for(phase: Phase) -> str:
    """What to say next depends on the phase: a paused or stopped run goes on with resume."""
    if phase is Phase.PAUSED:
        return speech.say("paused_reprompt")
    if phase is Phase.STOPPED:
        return speech.say("stopped_reprompt")
    return speech.say("next_reprompt")


def time_left_words(view: RunView) -> str:
    """What is left, phrased for the phase the run is in."""
    total = speech.duration_words(view.routine_remaining_s)
    hold = view.hold
    if view.phase is Phase.IDLE:
        return speech.say("time_left_idle", total=total)
    if view.phase is Phase.COMPLETED:
        return speech.say("time_left_completed")
    if view.phase is Phase.STOPPED:
        return " ".join(
            (
                speech.say("time_left_stopped", number=view.step_index + 1, count=view.step_count),
                speech.say("time_left_routine", total=total),
            )
        )
    if view.phase is Phase.HOLDING and hold is not None:
        return speech.say("time_left_holding", remaining=speech.duration_words(hold.remaining))
    if view.phase is Phase.PAUSED:
        if hold is not None and hold.started:
            remaining = speech.duration_words(hold.remaining)
            return speech.say("time_left_paused", remaining=remaining)
        return speech.say("time_left_paused_before_hold")
    if view.phase is Phase.ANNOUNCING and hold is not None:
        first = speech.say("time_left_announcing", seconds=round(hold.seconds))
    else:
        first = speech.say("time_left_awaiting")
    return f"{first} {speech.say('time_left_routine', total=total)}"
