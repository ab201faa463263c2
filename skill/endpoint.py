"""POST /alexa: flask-ask-sdk's SkillAdapter with our verifiers, hardened against bad bodies.

The adapter deserializes a body before its verifiers run and turns any failure there into
a 500, so this view checks size, encoding, nesting depth and JSON shape first, and maps
anything that fails before verification has passed to a 400. Only a verified request
reaches a handler; a failure after that is ours, and is a 500 like any other.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from ask_sdk_runtime.exceptions import AskSdkException
from ask_sdk_webservice_support.verifier import AbstractVerifier, VerificationException
from flask import Blueprint, Flask, current_app, g, has_request_context, jsonify, request
from flask.typing import ResponseReturnValue
from flask_ask_sdk.skill_adapter import (
    VERIFY_SIGNATURE_APP_CONFIG,
    VERIFY_TIMESTAMP_APP_CONFIG,
    SkillAdapter,
)
from werkzeug.exceptions import BadRequest, InternalServerError, RequestEntityTooLarge

from .handlers.errors import RetryLater
from .intents import RequestType
from .verification import (
    AlexaRequestVerifier,
    RefuseAllVerifier,
    SkillAdapterVerifier,
    VerificationError,
)

log = logging.getLogger(__name__)

#: Where Alexa posts requests and skill events (the skill package's endpoint is <base> + this).
ALEXA_PATH = "/alexa"

bp = Blueprint("alexa", __name__)
ADAPTER = "sciatica_skill_adapter"

#: Alexa's envelopes nest about ten levels deep; json.loads and the SDK's deserializer
#: recurse once per level, so a deeper body is refused before either sees it.
MAX_JSON_DEPTH = 64

# The same strings as '"(?:[^"\\]|\\.)*"', unrolled so a run of plain characters is one step.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")


def _verified(envelope: Any) -> None:
    """Mark the request verified, and from then on name its user in the log (only hashed).

    Set before any handler runs, so every line logged while it is handled, the request
    log's own included, carries that user's ref; an unverified request names nobody.
    """
    g.alexa_verified = True
    system = getattr(getattr(envelope, "context", None), "system", None)
    user_id = getattr(getattr(system, "user", None), "user_id", None)
    if isinstance(user_id, str) and user_id:
        g.log_user = user_id


class _RecordingVerifier(SkillAdapterVerifier):
    """Notes on `g` whether verification ran and why it failed, for the view's error answer."""

    def verify(
        self, headers: Any, serialized_request_env: Any, deserialized_request_env: Any
    ) -> None:
        try:
            super().verify(headers, serialized_request_env, deserialized_request_env)
        except Exception as exc:
            g.alexa_rejection = getattr(exc, "reason", "verification_failed")
            raise
        _verified(deserialized_request_env)


class _SkippedVerification(AbstractVerifier):
    """Dev mode: no signature, chain or timestamp checks, but marks where verification passed.

    Everything after this point then behaves as in verified mode: a failure in the skill
    is reported as ours, not blamed on the body. The application id is still compared when
    one is configured, because the SDK compares it too and would answer a mismatch with a 500.
    """

    def __init__(self, skill_id: str | None) -> None:
        self._skill_id = skill_id

    def verify(
        self, headers: Any, serialized_request_env: Any, deserialized_request_env: Any
    ) -> None:
        if self._skill_id:
            system = getattr(getattr(deserialized_request_env, "context", None), "system", None)
            found = getattr(getattr(system, "application", None), "application_id", None)
            if found != self._skill_id:
                g.alexa_rejection = "wrong_application_id"
                log.warning("refused Alexa request: wrong_application_id (%r)", found)
                exc = VerificationException(f"wrong_application_id: request is for {found!r}")
                exc.reason = "wrong_application_id"  # type: ignore[attr-defined]
                raise exc
        _verified(deserialized_request_env)


class _ExpectedRefusals(logging.Filter):
    """Drops flask-ask-sdk's ERROR tracebacks for requests we refuse on purpose.

    The adapter logs a full traceback for every verification failure and every body its
    deserializer cannot read; we already log one warning with the reason for each, so the
    tracebacks would only bury real errors, which this filter lets through.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, VerificationException) and hasattr(exc, "reason"):
            return False
        before_verification = has_request_context() and not g.get("alexa_verified")
        return not (isinstance(exc, AskSdkException) and before_verification)


def init_skill(app: Flask, skill: Any) -> None:
    """Mount the skill on /alexa with our verifiers (none, loudly, in dev mode)."""
    # The SDK's own verifiers check the retired SHA-1 header with no trust root: off.
    app.config[VERIFY_SIGNATURE_APP_CONFIG] = False
    app.config[VERIFY_TIMESTAMP_APP_CONFIG] = False
    verifiers: list[AbstractVerifier]
    if app.config["DEV_SKIP_VERIFY"]:
        log.warning("SCIATICA_DEV_SKIP_VERIFY is on: Alexa requests will NOT be verified")
        verifiers = [_SkippedVerification(app.config["SKILL_ID"] or None)]
    elif not app.config["SKILL_ID"]:
        verifiers = [_RecordingVerifier(RefuseAllVerifier())]
    else:
        verifier = AlexaRequestVerifier(
            skill_id=app.config["SKILL_ID"],
            ca_file=app.config["ALEXA_CA_FILE"],
            cert_cache_dir=app.config["ALEXA_CERT_CACHE"],
            clock=app.config["VERIFY_CLOCK"],
        )
        verifiers = [_RecordingVerifier(verifier)]
    adapter = SkillAdapter(
        skill=skill, skill_id=app.config["SKILL_ID"] or "dev", verifiers=verifiers
    )
    adapter.init_app(app)
    app.extensions[ADAPTER] = adapter
    app.logger.addFilter(_ExpectedRefusals())
    app.register_blueprint(bp)


def _refuse(reason: str, message: str) -> ResponseReturnValue:
    log.warning("alexa request refused: %s (%s)", reason, message)
    g.log_outcome = reason
    return jsonify(error=reason, message=message), 400


@bp.post(ALEXA_PATH)
def alexa() -> ResponseReturnValue:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        return _refuse("body_too_large", f"bodies are limited to {limit} bytes")
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return _refuse("body_too_large", f"bodies are limited to {limit} bytes")
    if nested_deeper_than(raw, MAX_JSON_DEPTH):
        return _refuse("malformed_body", f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        envelope = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ValueError also covers integers too long to convert (over 4300 digits).
        return _refuse("malformed_body", "the body is not UTF-8 JSON")
    problem = envelope_problem(envelope)
    if problem is not None:
        return _refuse("malformed_body", f"the body is not an Alexa request envelope: {problem}")
    if current_app.config["DEV_SKIP_VERIFY"]:
        log.warning("SCIATICA_DEV_SKIP_VERIFY is on: this request was NOT verified")
    adapter: SkillAdapter = current_app.extensions[ADAPTER]
    try:
        answer = adapter.dispatch_request()
    except BadRequest:
        reason = g.get("alexa_rejection", "verification_failed")
        return _refuse(reason, "the request failed verification")
    except RetryLater:
        g.log_outcome = "retry_later"
        response = jsonify(error="retry_later", message="the event could not be carried out now")
        return response, 503, {"Retry-After": "60"}
    except Exception as exc:
        if g.get("alexa_verified"):
            raise  # past verification a failure is ours: a 500, logged with its traceback
        if not isinstance(exc, InternalServerError):
            # The adapter turns the SDK's own errors (a body it cannot read) into a 500;
            # anything else is unexpected, so keep its traceback for whoever debugs it.
            log.warning("unexpected failure before verification", exc_info=exc)
        cause = exc.__context__ if isinstance(exc, InternalServerError) else exc
        return _refuse(
            "malformed_body", f"the SDK could not read the envelope ({type(cause).__name__})"
        )
    return answer


def nested_deeper_than(raw: bytes, limit: int) -> bool:
    """True if the JSON text opens more than `limit` arrays or objects inside each other.

    Strings are cut out first, so brackets inside them do not count; this is a cheap
    guard, not a parser, and json.loads still judges whether the text is JSON at all.
    """
    depth = 0
    for byte in _JSON_STRING.sub(b"", raw).translate(None, _NOT_A_BRACKET):
        if byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def envelope_problem(envelope: Any) -> str | None:
    """What makes this JSON no Alexa envelope, or None; checks every field we rely on.

    Alexa always sends context.System.application.applicationId (skill events have no
    session), and the SDK reads it before any handler runs, so it must be there and be a
    string. Optional parts, when present, must have the type Alexa gives them.
    """
    if not isinstance(envelope, dict):
        return "not a JSON object"
    if not isinstance(envelope.get("version", ""), str):
        return "version is not a string"
    req = envelope.get("request")
    if not isinstance(req, dict) or not isinstance(req.get("type"), str):
        return "request.type is missing"
    context = envelope.get("context")
    system = context.get("System") if isinstance(context, dict) else None
    if not isinstance(system, dict):
        return "context.System is missing"
    application = system.get("application")
    if not isinstance(application, dict) or not isinstance(application.get("applicationId"), str):
        return "context.System.application.applicationId is missing"
    if not _optional(system, "user", dict):
        return "context.System.user is not an object"
    session = envelope.get("session")
    if session is not None:
        if not isinstance(session, dict):
            return "session is not an object"
        for name in ("application", "attributes", "user"):
            if not _optional(session, name, dict):
                return f"session.{name} is not an object"
    if req["type"] == RequestType.INTENT:
        intent = req.get("intent")
        if not isinstance(intent, dict) or not isinstance(intent.get("name"), str):
            return "request.intent.name is missing"
        slots = intent.get("slots")
        if slots is not None and not (
            isinstance(slots, dict) and all(isinstance(s, dict) for s in slots.values())
        ):
            return "request.intent.slots is not an object of objects"
    return None


def _optional(parent: dict[str, Any], key: str, kind: type) -> bool:
    value = parent.get(key)
    return value is None or isinstance(value, kind)


__all__ = ["MAX_JSON_DEPTH", "VerificationError", "bp", "envelope_problem", "init_skill"]
