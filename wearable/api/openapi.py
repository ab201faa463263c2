"""The OpenAPI 3.1 description of the watch API, built from the same enums and limits the code uses.

Built in Python rather than kept as a file so a new cue kind, action or platform cannot be
added in one place and forgotten in the other; tests fuzz the API against this document.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from shared.pairing.protocol import (
    DEVICE_CODE_GRANT,
    SECRET_ALPHABET,
    SECRET_LENGTH,
    USER_CODE_DIGITS,
    TokenErrorCode,
)
from shared.routine.cues import CueKind
from shared.routine.engine import Phase

from .actions import WatchAction
from .cue_payload import ETAG_PATTERN, MAX_WAIT_S
from .haptics import FITBIT_VIBRATION_PATTERNS, WATCHOS_HAPTIC_TYPES, Platform
from .tuning import MAX_MS, MAX_SOUNDS, TUNING_MAX_BODY

_MAX_MS = 999_999_999_999_999  # 15 digits: what the server parses as a millisecond time

_INT = {"type": "integer"}
_MS = {"type": "integer", "minimum": 0}
_NULLABLE_SIDE = {"enum": ["left", "right", None]}
#: A device code or access token as the server makes them: 256 random bits, base64url.
_SECRET = {
    "type": "string",
    "minLength": SECRET_LENGTH,
    "maxLength": SECRET_LENGTH,
    "pattern": f"^[{SECRET_ALPHABET}]{{{SECRET_LENGTH}}}$",
}
_USER_CODE = {"type": "string", "pattern": f"^[1-9][0-9]{{{USER_CODE_DIGITS - 1}}}$"}
_SPOKEN_CODE = {"type": "string", "pattern": f"^[0-9]( [0-9]){{{USER_CODE_DIGITS - 1}}}$"}
_SECONDS = {"type": "string", "pattern": "^[0-9]{1,6}$"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Any], *, closed: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "required": list(properties),
        "properties": properties,
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }
    if headers:
        response["headers"] = headers
    return response


def _json(description: str, schema_name: str, headers: dict[str, Any] | None = None) -> dict:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema_name)}},
    }
    if headers:
        response["headers"] = headers
    return response


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


_CUE_HEADERS = {
    "ETag": _header(
        "Strong validator of the run's version; send it back in If-None-Match.",
        {"type": "string", "pattern": ETAG_PATTERN},
    ),
    "Cache-Control": _header("private, no-cache: the answer is one user's and changes."),
    "Vary": _header("Authorization: each token sees its own user's run."),
    "Server-Receive-Ms": _header("When the request arrived (epoch ms, server clock).", _MS),
    "Server-Send-Ms": _header("When the answer left (epoch ms, server clock).", _MS),
}
_RETRY_AFTER = {"Retry-After": _header("Whole seconds to wait before trying again.", _SECONDS)}
_AUTH_ERRORS = {
    "401": _problem(
        "No token, or one that is unknown or revoked.",
        {"WWW-Authenticate": _header('Bearer realm="sciatica-watch", maybe with an error.')},
    )
}
_TOO_LARGE = {"413": _problem("The body is larger than the watch API reads (4 KiB).")}
_BUSY = {"503": _problem("The run kept changing under this request; retry.", _RETRY_AFTER)}


def _responses() -> dict[str, Any]:
    """Answers any path or method gives that the document does not list: 404 and 405."""
    return {
        "NotFound": _problem("No such path under /api/v1."),
        "MethodNotAllowed": _problem(
            "The path exists but not with this method.",
            {"Allow": _header("The methods the path does accept.")},
        ),
    }


def _schemas() -> dict[str, Any]:
    segment = _obj(
        {
            "on_ms": {"type": "integer", "minimum": 1, "maximum": 10_000},
            "off_ms": {"type": "integer", "minimum": 0, "maximum": 10_000},
            "intensity": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        },
        closed=True,
    )
    kinds = [kind.value for kind in CueKind]
    pattern = _obj(
        {
            "name": {"enum": kinds},
            "duration_ms": _MS,
            "pattern": _obj(
                {"name": {"enum": kinds}, "segments": {"type": "array", "items": segment}}
            ),
            Platform.WEAR_OS.value: _obj(
                {
                    "timings": {"type": "array", "items": _MS},
                    "amplitudes": {"type": "array", "items": _MS},
                    "repeat": _INT,
                }
            ),
            Platform.WEB.value: {"type": "array", "items": _MS},
            Platform.GARMIN.value: {
                "type": "array",
                "items": _obj({"duty_cycle": _MS, "length_ms": _MS}),
            },
            Platform.WATCHOS.value: {"enum": sorted(WATCHOS_HAPTIC_TYPES)},
            Platform.FITBIT.value: {"enum": sorted(FITBIT_VIBRATION_PATTERNS)},
        }
    )
    return {
        "Problem": {
            "description": "RFC 9457 problem details.",
            **_obj(
                {
                    "type": {"type": "string", "format": "uri-reference"},
                    "title": {"type": "string"},
                    "status": {"type": "integer", "minimum": 400, "maximum": 599},
                    "detail": {"type": "string"},
                }
            ),
        },
        "OAuthError": {
            "description": "RFC 6749 5.2 / RFC 8628 3.5 error answer of the token endpoint.",
            **_obj(
                {
                    "error": {"enum": [code.value for code in TokenErrorCode]},
                    "error_description": {"type": "string"},
                }
            ),
        },
        "PairingStart": _obj(
            {
                "device_code": _SECRET,
                "user_code": _USER_CODE,
                "user_code_spoken": _SPOKEN_CODE,
                "prompt": {"type": "string"},
                "expires_in": {"type": "integer", "minimum": 1},
                "interval": {"type": "integer", "minimum": 1},
            }
        ),
        "TokenRequest": _obj(
            {
                "grant_type": {"const": DEVICE_CODE_GRANT},
                "device_code": _SECRET,
            }
        ),
        "Token": _obj(
            {
                "access_token": _SECRET,
                "token_type": {"const": "Bearer"},
            }
        ),
        "ActionRequest": _obj(
            {"action": {"enum": [action.value for action in WatchAction]}}, closed=True
        ),
        "HapticPattern": pattern,
        "Tuning": {
            "description": "A tuning under way: which parts of the calibration script the "
            "speaker has read, and when (server clock), while the face listens.",
            **_obj(
                {
                    "server_time_ms": _MS,
                    "listening_since_ms": _MS,
                    "listen_until_ms": _MS,
                    "sections": {
                        "type": "array",
                        "items": _obj(
                            {
                                "parts": {"type": "integer", "minimum": 1},
                                "spoken_at_ms": {"type": ["integer", "null"], "minimum": 0},
                            }
                        ),
                    },
                    "done_speaking": {"type": "boolean"},
                    "separator_min_ms": _MS,
                    "max_sounds": {"const": MAX_SOUNDS},
                }
            ),
        },
        "HeardRequest": _obj(
            {
                "sounds": {
                    "type": "array",
                    "maxItems": MAX_SOUNDS,
                    "description": "Where sound started and ended (epoch ms, server clock).",
                    "items": {
                        "type": "array",
                        "minItems": 2,
                        "maxItems": 2,
                        "items": {"type": "number", "minimum": 0, "maximum": MAX_MS},
                    },
                }
            },
            closed=True,
        ),
        "TunedVoice": _obj(
            {
                "start_delay_ms": _MS,
                "parts": {"type": "integer", "minimum": 1},
                "speech_s": {"type": "number", "minimum": 0},
                "fit": {"type": "object"},
            }
        ),
        "Cue": _obj(
            {
                "at_ms": _MS,
                "kind": {"enum": kinds},
                "step_index": {"type": "integer", "minimum": 0},
                "side": _NULLABLE_SIDE,
                "pattern": _ref("HapticPattern"),
            }
        ),
        "Step": _obj(
            {
                "index": {"type": "integer", "minimum": 0},
                "count": {"type": "integer", "minimum": 1},
                "id": {"type": "string"},
                "title": {"type": "string"},
                "side": _NULLABLE_SIDE,
                "hold_seconds": {"type": ["number", "null"]},
            }
        ),
        "Hold": _obj(
            {
                "start_ms": _MS,
                "end_ms": _MS,
                "remaining_ms": {
                    **_MS,
                    "description": "While the step runs, exactly min(end_ms - start_ms, "
                    "max(0, end_ms - server_time_ms)); paused or stopped, what resume gives.",
                },
                "seconds": {"type": "number", "minimum": 0},
            }
        ),
        "Clock": {
            "description": "NTP-style timestamps: the watch adds its own arrival time.",
            **_obj(
                {
                    "client_send_ms": {"type": ["integer", "null"], "minimum": 0},
                    "server_receive_ms": _MS,
                    "server_send_ms": _MS,
                }
            ),
        },
        "CueState": _obj(
            {
                "server_time_ms": {
                    **_MS,
                    "description": "The moment the run was read: state and remaining figures "
                    "are as of then; between server_receive_ms and server_send_ms.",
                },
                "version": {"type": "integer", "minimum": 0},
                "state": {"enum": [phase.value for phase in Phase]},
                "routine": _obj({"id": {"type": "string"}, "title": {"type": "string"}}),
                "step": {"oneOf": [_ref("Step"), {"type": "null"}]},
                "step_count": {"type": "integer", "minimum": 1},
                "hold": {"oneOf": [_ref("Hold"), {"type": "null"}]},
                "routine_remaining_ms": _MS,
                "poll": _obj(
                    {
                        "after_ms": _MS,
                        "max_wait_s": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_S},
                    }
                ),
                "cues": {"type": "array", "items": _ref("Cue")},
                "clock": _ref("Clock"),
            }
        ),
    }


def _paths() -> dict[str, Any]:
    bearer = [{"bearerAuth": []}]
    cue_answer = _json("The run now, and every cue still to come.", "CueState", _CUE_HEADERS)
    return {
        "/api/v1/pairings": {
            "post": {
                "summary": "Start pairing: get a code for the person to say to Alexa",
                "operationId": "startPairing",
                "responses": {
                    "200": _json("The codes (RFC 8628 3.2).", "PairingStart"),
                    "429": _problem(
                        "Too many pairings started lately, from this address or in all.",
                        _RETRY_AFTER,
                    ),
                    **_TOO_LARGE,
                },
            }
        },
        "/api/v1/token": {
            "post": {
                "summary": "Trade the device code for an access token once it is bound",
                "operationId": "token",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {"schema": _ref("TokenRequest")}
                    },
                },
                "responses": {
                    "200": _json("The access token (RFC 8628 3.5).", "Token"),
                    "400": {
                        "description": "Not (yet) possible: pending, slow_down, expired, ...",
                        "content": {"application/json": {"schema": _ref("OAuthError")}},
                    },
                    **_TOO_LARGE,
                },
            }
        },
        "/api/v1/cues": {
            "get": {
                "summary": "Read the run and its cues; a long poll with If-None-Match and wait",
                "operationId": "getCues",
                "security": bearer,
                "parameters": [
                    {
                        "name": "wait",
                        "in": "query",
                        "description": "Hold the request up to this many seconds until the "
                        "version moves past the ETag named in If-None-Match.",
                        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_S},
                    },
                    {
                        "name": "client_send_ms",
                        "in": "query",
                        "description": "The watch's clock when it sent this (epoch ms), "
                        "echoed in `clock` for an NTP-style offset estimate.",
                        "schema": {"type": "integer", "minimum": 0, "maximum": _MAX_MS},
                    },
                    {
                        "name": "If-None-Match",
                        "in": "header",
                        "description": "The ETag the watch holds: 304 if it is still current.",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": cue_answer,
                    "304": {
                        "description": "Nothing changed since the ETag sent; no body.",
                        "headers": _CUE_HEADERS,
                    },
                    "400": _problem("A bad query parameter."),
                    **_AUTH_ERRORS,
                    **_TOO_LARGE,
                    **_BUSY,
                },
            }
        },
        "/api/v1/actions": {
            "post": {
                "summary": "Pause, resume, next, previous or repeat from the wrist",
                "operationId": "act",
                "security": bearer,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ActionRequest")}},
                },
                "responses": {
                    "200": _json("The run after the action.", "CueState", _CUE_HEADERS),
                    "400": _problem("Malformed body or unknown action."),
                    **_AUTH_ERRORS,
                    "409": _problem("The action makes no sense now (e.g. next before start)."),
                    **_TOO_LARGE,
                    "415": _problem("The body is not JSON."),
                    **_BUSY,
                },
            }
        },
        "/api/v1/devices/me": {
            "delete": {
                "summary": "Unpair this watch: its token stops working",
                "operationId": "unpair",
                "security": bearer,
                "responses": {
                    "204": {"description": "Unpaired."},
                    **_AUTH_ERRORS,
                    **_TOO_LARGE,
                },
            }
        },
        "/api/v1/tuning": {
            "post": {
                "summary": "The face listens from now, for the speaker to read the script",
                "operationId": "startTuning",
                "security": bearer,
                "responses": {
                    "201": _json("Listening; say 'tune my watch' to Alexa.", "Tuning"),
                    **_AUTH_ERRORS,
                    **_TOO_LARGE,
                },
            },
            "get": {
                "summary": "Which parts of the script the speaker has read, and when",
                "operationId": "getTuning",
                "security": bearer,
                "responses": {
                    "200": _json("The tuning under way.", "Tuning"),
                    **_AUTH_ERRORS,
                    "404": _problem("No tuning is under way (or it was given up on)."),
                    **_TOO_LARGE,
                },
            },
            "delete": {
                "summary": "Stop listening: the tuning under way is dropped",
                "operationId": "cancelTuning",
                "security": bearer,
                "responses": {
                    "204": {"description": "Dropped (or there was none)."},
                    **_AUTH_ERRORS,
                    **_TOO_LARGE,
                },
            },
        },
        "/api/v1/tuning/heard": {
            "post": {
                "summary": "Where the face heard sound: fits this user's own voice profile",
                "operationId": "tuningHeard",
                "security": bearer,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("HeardRequest")}},
                },
                "responses": {
                    "200": _json("The user's speaker, measured.", "TunedVoice"),
                    "400": _problem("Malformed body."),
                    **_AUTH_ERRORS,
                    "404": _problem("No tuning is under way."),
                    "409": _problem("The speaker has not read the whole script yet."),
                    "413": _problem(f"The body is larger than {TUNING_MAX_BODY // 1024} KiB."),
                    "415": _problem("The body is not JSON."),
                    "422": _problem("What was heard is not the script; the tuning ends."),
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_TOO_LARGE,
                },
            }
        },
    }


@cache
def _spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Sciatica Coach watch API",
            "version": "1.0.0",
            "description": "Pair a watch by voice (RFC 8628 style), long-poll the routine's "
            "cues with their haptic patterns, and control the run from the wrist. "
            "Every error is an RFC 9457 problem, except the token endpoint's OAuth 400s; a path "
            "not listed here answers components.responses.NotFound (404), and a listed path "
            "with a method not listed answers MethodNotAllowed (405, with Allow). "
            "See docs/WATCH_API.md.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "responses": _responses(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": f"{SECRET_LENGTH} base64url characters",
                    "description": "The access_token from POST /api/v1/token.",
                }
            },
        },
    }


def build_spec() -> dict[str, Any]:
    """A fresh copy of the document, so no caller can change what the next one sees."""
    return copy.deepcopy(_spec())
