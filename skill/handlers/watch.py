"""Pairing a watch by a spoken code, and unpairing it."""

from __future__ import annotations

from ask_sdk_core.handler_input import HandlerInput
from ask_sdk_core.utils import get_slot, is_intent_name
from ask_sdk_model import Response

from shared.pairing.service import PairingError

from .. import speech
from ..intents import PAIR_CODE_SLOT, Intent
from ..spoken_code import heard_nothing, parse_spoken_code
from .base import ServiceHandler, reply, user_id_of

_PAIR_ERRORS = {
    "missing_code": "pair_missing_code",
    "invalid_code": "pair_bad_code",
    "rate_limited": "pair_too_many",
}


class PairWatchHandler(ServiceHandler):
    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(Intent.PAIR_WATCH)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        slot = get_slot(handler_input, PAIR_CODE_SLOT)
        heard = slot.value if slot is not None else None
        # Nothing heard is a missing code; words that are not six digits, a code no watch has.
        code = None if heard_nothing(heard) else parse_spoken_code(heard) or ""
        try:
            self.services.pairing.bind(user_id_of(handler_input), code)
        except PairingError as exc:
            key = _PAIR_ERRORS.get(exc.reason, "pair_bad_code")
            if exc.reason == "rate_limited":
                # Everyone's budget spent: this person said nothing wrong, so don't say so.
                key = "pair_busy" if exc.everyone else key
                return reply(handler_input, speech.wrap(speech.say(key)), end=True)
            return reply(handler_input, speech.wrap(speech.say(key)), reprompt=speech.say(key))
        return reply(
            handler_input,
            speech.wrap(speech.say("pair_ok"), speech.say("offer_start")),
            reprompt=speech.say("offer_start"),
            pending="start",
        )


class UnpairWatchHandler(ServiceHandler):
    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(Intent.UNPAIR_WATCH)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        removed = self.services.pairing.revoke_user(user_id_of(handler_input))
        key = "unpair_ok" if removed else "unpair_none"
        return reply(handler_input, speech.wrap(speech.say(key)), end=True)
