"""Builds the ask-sdk-core skill from its handlers; called by the app factory, never at import."""

from __future__ import annotations

import logging

from ask_sdk_core.dispatch_components import AbstractRequestInterceptor
from ask_sdk_core.handler_input import HandlerInput
from ask_sdk_core.skill import CustomSkill
from ask_sdk_core.skill_builder import SkillBuilder

from .handlers import Services, request_handlers
from .handlers.errors import CatchAllExceptionHandler
from .serializer import EnvelopeSerializer

log = logging.getLogger(__name__)


class RequestLogger(AbstractRequestInterceptor):
    """Logs what arrived (type and intent, never the user id) before any handler runs."""

    def process(self, handler_input: HandlerInput) -> None:
        request = handler_input.request_envelope.request
        intent = getattr(getattr(request, "intent", None), "name", None)
        log.info("alexa request %s %s", request.object_type, intent or "")


def build_skill(services: Services, skill_id: str | None = None) -> CustomSkill:
    builder = SkillBuilder()
    for handler in request_handlers(services):
        builder.add_request_handler(handler)
    builder.add_exception_handler(CatchAllExceptionHandler())
    builder.add_global_request_interceptor(RequestLogger())
    if skill_id:
        builder.skill_id = skill_id
    skill = builder.create()
    skill.serializer = EnvelopeSerializer()  # the same objects, without per-request reflection
    return skill
