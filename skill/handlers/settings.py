"""A person's own settings by voice: hold length, holds per side, first side, the warning buzz,
and whether the voice carries on by itself (hands-free) or waits for "next".

A change is kept through the Coach, which re-plans a run under way from the next step no
reply has said yet (the watch's cues follow), and the reply says back what was set. A value
that is missing, not understood or out of range is asked for again (Dialog.ElicitSlot, so
the answer alone, "forty five", fills the slot); mid-hold the person's words have cut the
speaker off, so instead the reply says what is possible and carries the hold on to its end.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ask_sdk_core.handler_input import HandlerInput
from ask_sdk_core.utils import get_slot, is_intent_name
from ask_sdk_model import (
    Intent as IntentModel,
)
from ask_sdk_model import (
    IntentConfirmationStatus,
    Response,
    Slot,
    SlotConfirmationStatus,
)
from ask_sdk_model.dialog import ElicitSlotDirective

from shared.routine.cues import WARNING_LEAD_S
from shared.routine.definition import Routine, Side
from shared.routine.engine import Event, IllegalEvent, Phase, RunView
from shared.routine.settings import (
    HOLD_SECONDS_RANGE,
    HOLDS_PER_SIDE_RANGE,
    Flow,
    Settings,
    SettingsError,
)

from .. import speech
from ..intents import (
    FIRST_SIDE_SLOT,
    HOLD_MINUTES_SLOT,
    HOLD_SECONDS_SLOT,
    HOLDS_PER_SIDE_SLOT,
    WARNING_BUZZ_SLOT,
    Intent,
)
from ..slots import Unheard, heard_choice, heard_number, heard_whole, whole_in
from .base import (
    ServiceHandler,
    Services,
    carry_on_reply,
    reply,
    run_view,
    step_reply,
    user_id_of,
)

#: The values of the custom slot types, by id, as every locale's model declares them.
SIDE_IDS = frozenset(side.value for side in (Side.LEFT, Side.RIGHT))
SWITCH_IDS = frozenset({"on", "off"})

Changes = dict[str, Any]


class _ChangeHandler(ServiceHandler):
    """Reads one setting from the intent, keeps it, and says it back."""

    intent: ClassVar[Intent]
    #: How this setting's words begin in skill/speech.py ("hold" for "hold_missing", ...).
    words: ClassVar[str]
    #: The slot asked for again when its value will not do.
    slot: ClassVar[str]
    #: A number's range (its words say it), rather than a choice of values.
    bounds: ClassVar[tuple[int, int] | None] = None

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(self.intent)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        heard = self.heard(handler_input)
        if isinstance(heard, Unheard):
            return self.ask_again(handler_input, heard)
        view = run_view(handler_input, self.services)
        try:
            settings = self.services.coach.change_settings(
                user_id_of(handler_input), by_voice=True, **heard
            )
        except SettingsError:  # the checks above are the core's own; this is belt and braces
            return self.ask_again(handler_input, Unheard.OUT_OF_RANGE)
        when = ""
        if later(view):
            after = self.services.coach.view(user_id_of(handler_input))
            when = "_later" if self.reaches(view, after) else "_next_time"
        return answer(handler_input, self.services, view, self.said(settings, when))

    def heard(self, handler_input: HandlerInput) -> Changes | Unheard:
        """The change the person asked for, or why it cannot be made."""
        raise NotImplementedError

    def said(self, settings: Settings, when: str) -> str:
        """The change said back; `when` ends its speech key: "" with no run, "_later" from
        the next step of the run under way, "_next_time" from the next run."""
        raise NotImplementedError

    def reaches(self, before: RunView, after: RunView) -> bool:
        """The change reaches the run under way (else it waits for the next run)."""
        return True

    def limits(self) -> dict[str, object]:
        """What this setting's words are filled with (its range, say)."""
        if self.bounds is None:
            return {}
        low, high = self.bounds
        return {"low": low, "high": high}

    def ask_again(self, handler_input: HandlerInput, why: Unheard) -> Response:
        """Say plainly what will do, and ask for it; mid-hold, say so and carry the hold on."""
        view = run_view(handler_input, self.services)
        limits = self.limits()
        if why is Unheard.OUT_OF_RANGE and self.bounds is None:
            why = Unheard.NOT_UNDERSTOOD  # a choice has no range: the value was not one of them
        if carries_on(view):
            if why is Unheard.MISSING:
                problem = ""
            elif why is Unheard.NOT_UNDERSTOOD:
                problem = speech.say("not_understood")
            else:
                problem = speech.say(f"{self.words}_range", **limits)
            said = " ".join(p for p in (problem, speech.say(f"{self.words}_hint")) if p)
            return carry_on_reply(
                handler_input, self.services, said, reprompt=speech.say("next_reprompt")
            )
        elicit(handler_input, self.slot)
        return reply(
            handler_input,
            speech.wrap(speech.say(f"{self.words}_{why.value}", **limits)),
            reprompt=speech.say(f"{self.words}_reprompt", **limits),
        )


class SetHoldLengthHandler(_ChangeHandler):
    """'Make my holds 45 seconds' (or 'one minute'): every hold from the next step on."""

    intent = Intent.SET_HOLD_LENGTH
    words = "hold"
    slot = HOLD_SECONDS_SLOT
    bounds = HOLD_SECONDS_RANGE

    def heard(self, handler_input: HandlerInput) -> Changes | Unheard:
        low, high = HOLD_SECONDS_RANGE
        seconds = heard_whole(get_slot(handler_input, HOLD_SECONDS_SLOT), low, high)
        if seconds is Unheard.MISSING:
            minutes = heard_number(get_slot(handler_input, HOLD_MINUTES_SLOT))
            in_seconds = minutes if isinstance(minutes, Unheard) else minutes * 60
            seconds = whole_in(in_seconds, low, high)
        if isinstance(seconds, Unheard):
            return seconds
        return {"hold_seconds": seconds}

    def said(self, settings: Settings, when: str) -> str:
        return speech.say(f"hold_set{when}", seconds=settings.hold_seconds)

    def reaches(self, before: RunView, after: RunView) -> bool:
        """A hold is still to come after the step under way."""
        assert after.routine is not None
        return any(step.hold for step in after.routine.steps[after.step_index + 1 :])


class SetHoldsPerSideHandler(_ChangeHandler):
    """'Do two holds on each side': each side's hold that many times in a row."""

    intent = Intent.SET_HOLDS_PER_SIDE
    words = "holds_per_side"
    slot = HOLDS_PER_SIDE_SLOT
    bounds = HOLDS_PER_SIDE_RANGE

    def heard(self, handler_input: HandlerInput) -> Changes | Unheard:
        count = heard_whole(get_slot(handler_input, HOLDS_PER_SIDE_SLOT), *HOLDS_PER_SIDE_RANGE)
        return count if isinstance(count, Unheard) else {"holds_per_side": count}

    def said(self, settings: Settings, when: str) -> str:
        holds = speech.count_words(settings.holds_per_side, "hold")
        return speech.say(f"holds_per_side_set{when}", holds=holds)

    def reaches(self, before: RunView, after: RunView) -> bool:
        return plan_of(before) != plan_of(after)


class SetFirstSideHandler(_ChangeHandler):
    """'Start with my right side': each exercise not yet begun starts on that side."""

    intent = Intent.SET_FIRST_SIDE
    words = "first_side"
    slot = FIRST_SIDE_SLOT

    def heard(self, handler_input: HandlerInput) -> Changes | Unheard:
        side = heard_choice(get_slot(handler_input, FIRST_SIDE_SLOT), SIDE_IDS)
        return side if isinstance(side, Unheard) else {"first_side": side}

    def said(self, settings: Settings, when: str) -> str:
        assert settings.first_side is not None
        return speech.say(f"first_side_set{when}", side=settings.first_side.value)

    def reaches(self, before: RunView, after: RunView) -> bool:
        return plan_of(before) != plan_of(after)


class SetWarningBuzzHandler(_ChangeHandler):
    """'Turn off the warning buzz': the buzz five seconds before a hold ends, at once."""

    intent = Intent.SET_WARNING_BUZZ
    words = "warning_buzz"
    slot = WARNING_BUZZ_SLOT

    def heard(self, handler_input: HandlerInput) -> Changes | Unheard:
        state = heard_choice(get_slot(handler_input, WARNING_BUZZ_SLOT), SWITCH_IDS)
        return state if isinstance(state, Unheard) else {"warning_buzz": state == "on"}

    def said(self, settings: Settings, when: str) -> str:
        key = "warning_buzz_on" if settings.warning_buzz else "warning_buzz_off"
        return speech.say(key, **self.limits())

    def limits(self) -> dict[str, object]:
        return {"seconds": f"{WARNING_LEAD_S:g}"}


class _FlowHandler(ServiceHandler):
    """Hands-free or 'next' mode: nothing to mishear, so it is set and said back at once."""

    intent: ClassVar[Intent]
    flow: ClassVar[Flow]
    key: ClassVar[str]

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(self.intent)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        view = run_view(handler_input, self.services)
        self.services.coach.change_settings(
            user_id_of(handler_input), by_voice=True, flow=self.flow
        )
        return answer(handler_input, self.services, view, speech.say(self.key))


class HandsFreeHandler(_FlowHandler):
    """'Carry on by yourself': the voice goes from step to step with nobody saying next.

    Mid-run it takes effect at once: the reply carries the routine on by itself.
    """

    intent = Intent.HANDS_FREE
    flow = Flow.HANDS_FREE
    key = "hands_free_set"


class WaitForNextHandler(_FlowHandler):
    """'Wait for me to say next': each step waits, as before hands-free existed.

    Said while a hands-free reply is between holds (a step's words, or the quiet before the
    next), the person's words have cut off the steps it was going on to: the step being said
    is said again (or, between steps, the next one), and then the voice waits, so the watch
    is left no cues for steps nobody will say. Mid-hold, carrying the hold on does that.
    """

    intent = Intent.WAIT_FOR_NEXT
    flow = Flow.ON_NEXT
    key = "wait_for_next_set"

    def handle(self, handler_input: HandlerInput) -> Response:
        view = run_view(handler_input, self.services)
        if not view.state.chain or view.phase not in (Phase.ANNOUNCING, Phase.AWAITING):
            return super().handle(handler_input)
        user_id = user_id_of(handler_input)
        self.services.coach.change_settings(user_id, by_voice=True, flow=self.flow)
        event = Event.REPEAT if view.phase is Phase.ANNOUNCING else Event.NEXT
        try:
            narration = self.services.narrator.apply(user_id, event, speech.say(self.key))
        except IllegalEvent:  # the run moved on meanwhile (another device, the clock)
            narration = None
        if narration is None or narration.words is None:
            return answer(handler_input, self.services, view, speech.say(self.key))
        return step_reply(handler_input, narration)


class SettingsHandler(ServiceHandler):
    """'What are my settings': each one read back, the routine's own where none was chosen."""

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(Intent.SETTINGS)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        view = run_view(handler_input, self.services)
        settings = self.services.coach.settings(user_id_of(handler_input))
        routine = self.services.coach.routine
        side = settings.first_side or routine_first_side(routine)
        said = speech.settings_summary(
            hold_seconds=settings.hold_seconds or routine_hold_seconds(routine),
            holds_per_side=settings.holds_per_side,
            side=side.value,
            buzz=settings.warning_buzz,
            hands_free=settings.flow is Flow.HANDS_FREE,
        )
        return answer(handler_input, self.services, view, said)


def routine_first_side(routine: Routine) -> Side:
    """The side the routine file begins its two-sided exercises on (left if it has none)."""
    for exercise in routine.exercises:
        side = exercise.sides[0].side
        if exercise.both and side is not None:
            return side
    return Side.LEFT


def routine_hold_seconds(routine: Routine) -> float | None:
    """The routine's own hold length; None when its holds differ from step to step."""
    lengths = {step.hold.seconds for step in routine.steps if step.hold is not None}
    return lengths.pop() if len(lengths) == 1 else None


def plan_of(view: RunView) -> list[str]:
    """The run's steps by key: what a change of plan (sides, holds per side) changes."""
    assert view.routine is not None
    return [step.id for step in view.routine.steps]


def later(view: RunView) -> bool:
    """A run is under way (or waits to be resumed): a change applies from the next step."""
    return view.phase.resumable


def carries_on(view: RunView) -> bool:
    """The person's words cut off speech that must go on: a hold, or hands-free, any step."""
    return view.phase is Phase.HOLDING or (view.phase.under_way and view.state.hands_free)


def answer(handler_input: HandlerInput, services: Services, view: RunView, said: str) -> Response:
    """`said`, then what the run needs: carried on mid-run, else the way back into it."""
    if view.phase.under_way:
        return carry_on_reply(handler_input, services, said, reprompt=speech.say("next_reprompt"))
    if view.phase is Phase.PAUSED:
        prompt = speech.say("paused_reprompt")
    elif view.phase is Phase.STOPPED:
        prompt = speech.say("stopped_reprompt")
    else:
        prompt = speech.say("offer_start")
        return reply(handler_input, speech.wrap(said, prompt), reprompt=prompt, pending="start")
    return reply(handler_input, speech.wrap(said, prompt), reprompt=prompt)


def elicit(handler_input: HandlerInput, slot: str) -> None:
    """Ask Alexa to take the next words as `slot` of this same intent, its old values cleared.

    Every intent elicited here is in each locale's dialog model (tests/interaction_models).
    """
    request = handler_input.request_envelope.request
    asked = request.intent  # type: ignore[attr-defined]
    names = {*(asked.slots or {}), slot}
    cleared = {
        name: Slot(name=name, confirmation_status=SlotConfirmationStatus.NONE) for name in names
    }
    updated = IntentModel(
        name=asked.name, confirmation_status=IntentConfirmationStatus.NONE, slots=cleared
    )
    handler_input.response_builder.add_directive(
        ElicitSlotDirective(updated_intent=updated, slot_to_elicit=slot)
    )
