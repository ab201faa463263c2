"""POST /alexa: flask-ask-sdk's SkillAdapter with our verifiers, hardened against bad bodies.

The adapter deserializes a body before its verifiers run and turns any failure there into
a 500, so this view checks size, encoding and JSON shape first, and maps a failure that
happens before verification to a 400. Only a verified request reaches a handler.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_ask_sdk.skill_adapter import (
    VERIFY_SIGNATURE_APP_CONFIG,
    VERIFY_TIMESTAMP_APP_CONFIG,
    SkillAdapter,
)
from werkzeug.exceptions import BadRequest, InternalServerError, RequestEntityTooLarge

from .verification import AlexaRequestVerifier, SkillAdapterVerifier, VerificationError

log = logging.getLogger(__name__)

bp = Blueprint("alexa", __name__)
ADAPTER = "sciatica_skill_adapter"


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
        g.alexa_verified = True


def init_skill(app: Flask, skill: Any) -> None:
    """Mount the skill on /alexa with our verifiers (or none, loudly, in dev mode)."""
    # The SDK's own verifiers check the retired SHA-1 header with no trust root: off.
    app.config[VERIFY_SIGNATURE_APP_CONFIG] = False
    app.config[VERIFY_TIMESTAMP_APP_CONFIG] = False
    verifiers = []
    if not app.config["DEV_SKIP_VERIFY"]:
        if not app.config["SKILL_ID"]:
            log.warning("SCIATICA_SKILL_ID is not set: every Alexa request will be refused")
        verifier = AlexaRequestVerifier(
            skill_id=app.config["SKILL_ID"],
            ca_file=app.config["ALEXA_CA_FILE"],
            cert_cache_dir=app.config["ALEXA_CERT_CACHE"],
            clock=app.config["VERIFY_CLOCK"],
        )
        verifiers.append(_RecordingVerifier(verifier))
    adapter = SkillAdapter(
        skill=skill, skill_id=app.config["SKILL_ID"] or "dev", verifiers=verifiers
    )
    adapter.init_app(app)
    app.extensions[ADAPTER] = adapter
    app.register_blueprint(bp)


def _refuse(reason: str, message: str) -> ResponseReturnValue:
    log.warning("alexa request refused: %s (%s)", reason, message)
    g.log_outcome = reason
    return jsonify(error=reason, message=message), 400


@bp.post("/alexa")
def alexa() -> ResponseReturnValue:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        return _refuse("body_too_large", f"bodies are limited to {limit} bytes")
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return _refuse("body_too_large", f"bodies are limited to {limit} bytes")
    try:
        envelope = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _refuse("malformed_body", "the body is not UTF-8 JSON")
    if not _looks_like_envelope(envelope):
        return _refuse("malformed_body", "the body is not an Alexa request envelope")
    if current_app.config["DEV_SKIP_VERIFY"]:
        log.warning("SCIATICA_DEV_SKIP_VERIFY is on: this request was NOT verified")
    adapter: SkillAdapter = current_app.extensions[ADAPTER]
    try:
        answer = adapter.dispatch_request()
        # Only a verified request names its user in the log (hashed by the request log).
        g.log_user = _user_id(envelope)
        return answer
    except BadRequest:
        reason = g.get("alexa_rejection", "verification_failed")
        return _refuse(reason, "the request failed verification")
    except InternalServerError:
        if not g.get("alexa_verified"):
            return _refuse("malformed_body", "the body is not an Alexa request envelope")
        raise


def _user_id(envelope: dict[str, Any]) -> str | None:
    system = envelope.get("context", {}).get("System", {})
    user = system.get("user", {}) if isinstance(system, dict) else {}
    return user.get("userId") if isinstance(user, dict) else None


def _looks_like_envelope(envelope: Any) -> bool:
    if not isinstance(envelope, dict) or not isinstance(envelope.get("request"), dict):
        return False
    req = envelope["request"]
    return isinstance(req.get("type"), str) and isinstance(envelope.get("version", ""), str)


__all__ = ["VerificationError", "bp", "init_skill"]
