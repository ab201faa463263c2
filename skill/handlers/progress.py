"""'How am I doing': the person's progress in their own days, and the streak in the welcome.

Their days are counted in their device's time zone, read from Alexa's Device Settings API
(skill/alexa_settings.py) only when a reply may count days: here, and at launch for someone
who could have a streak. What the API gives is kept in their settings, so the watch, which
carries no Alexa token, counts the same days; when the API cannot be asked or fails, the
zone kept is used, else UTC.
"""

from __future__ import annotations

import logging

from ask_sdk_core.handler_input import HandlerInput
from ask_sdk_core.utils import is_intent_name
from ask_sdk_model import Response

from shared.routine.engine import Phase
from shared.user_ref import user_ref

from .. import speech
from ..alexa_settings import SettingsApiError
from ..intents import Intent
from .base import ServiceHandler, Services, carry_on_reply, reply, run_view, user_id_of

log = logging.getLogger(__name__)

#: A streak of two days or more ends today or yesterday, so its first two runs fall within
#: the last three local days; four days of UTC time covers them in any zone.
STREAK_LOOKBACK_S = 4 * 86_400


class ProgressHandler(ServiceHandler):
    """Runs this week, the streak and the last run; a hold under way carries on after it."""

    def can_handle(self, handler_input: HandlerInput) -> bool:
        return is_intent_name(Intent.PROGRESS)(handler_input)

    def handle(self, handler_input: HandlerInput) -> Response:
        user_id = user_id_of(handler_input)
        view = run_view(handler_input, self.services)  # a run just finished goes into history
        progress = self.services.coach.progress(
            user_id, person_time_zone(handler_input, self.services)
        )
        said = speech.progress_words(progress)
        if view.phase is Phase.HOLDING or (view.phase.under_way and view.state.hands_free):
            return carry_on_reply(
                handler_input, self.services, said, reprompt=speech.say("next_reprompt")
            )
        if view.phase in (Phase.IDLE, Phase.COMPLETED):
            return reply(
                handler_input,
                speech.wrap(said, speech.say("offer_start")),
                reprompt=speech.say("offer_start"),
                pending="start",
            )
        reprompt = {
            Phase.PAUSED: "paused_reprompt",
            Phase.STOPPED: "stopped_reprompt",
        }.get(view.phase, "next_reprompt")
        return reply(handler_input, speech.wrap(said), reprompt=speech.say(reprompt))


def streak_welcome(handler_input: HandlerInput, services: Services) -> str | None:
    """The welcome back with the person's streak, if they have one of two days or more.

    Asks their device's zone only when recent runs make a streak possible, so most
    launches make no call.
    """
    coach = services.coach
    user_id = user_id_of(handler_input)
    if len(coach.history_since(user_id, coach.clock.now() - STREAK_LOOKBACK_S)) < 2:
        return None
    progress = coach.progress(user_id, person_time_zone(handler_input, services))
    return speech.streak_welcome(progress)


def person_time_zone(handler_input: HandlerInput, services: Services) -> str | None:
    """Where the person is: their device's zone (kept when it changed), else the one kept.

    None means no zone is known, and days are counted in UTC. Never raises: a failure is
    logged with why, and the zone kept is used.
    """
    coach = services.coach
    user_id = user_id_of(handler_input)
    kept = coach.settings(user_id).time_zone
    fallback = "the zone kept" if kept is not None else "UTC"
    system = getattr(handler_input.request_envelope.context, "system", None)
    endpoint = getattr(system, "api_endpoint", None)
    token = getattr(system, "api_access_token", None)
    device_id = getattr(getattr(system, "device", None), "device_id", None)
    if not (endpoint and token and device_id):
        log.info("no device settings access for user %s; using %s", user_ref(user_id), fallback)
        return kept
    try:
        zone = services.alexa_settings.time_zone(endpoint, device_id, token)
    except SettingsApiError as exc:
        log.warning(
            "time zone of user %s not read (%s); using %s", user_ref(user_id), exc, fallback
        )
        return kept
    except Exception:
        log.exception("time zone of user %s not read; using %s", user_ref(user_id), fallback)
        return kept
    if zone != kept:
        try:
            coach.change_settings(user_id, time_zone=zone)
        except Exception:
            log.exception("time zone of user %s read but not kept", user_ref(user_id))
        else:
            log.info("time zone of user %s is now %s", user_ref(user_id), zone)
    return zone
