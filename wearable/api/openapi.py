"""The OpenAPI 3.1 description of the watch API: the contract's schemas, and what only routes know.

Every body's schema is the JSON schema of its model in contract.py, published under
components/schemas (tests hold the two to be the same). This module adds what the models do
not say: the paths and their operations, which status answers with which model, the
headers (ETag, Retry-After, Server-*-Ms, ...), the query parameters taken from the cue
poll's model, and the bearer scheme. Built in Python rather than kept as a file so nothing
can be added in one place and forgotten in the other; tests fuzz the API against it.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from pydantic import BaseModel

from shared.pairing.protocol import SECRET_LENGTH

from . import contract
from .cue_payload import ETAG_PATTERN
from .problems import PROBLEM_JSON
from .tuning import TUNING_MAX_BODY

_MS = {"type": "integer", "minimum": 0}
_SECONDS = {"type": "string", "pattern": "^[0-9]{1,6}$"}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    """A reference to the model's schema, where contract.json_schemas() puts it."""
    return {"$ref": contract.REF_TEMPLATE.format(model=model.__name__)}


def _content(media_type: str, model: type[BaseModel]) -> dict[str, Any]:
    return {media_type: {"schema": _ref(model)}}


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return _json(description, contract.Problem, headers, media_type=PROBLEM_JSON)


def _json(
    description: str,
    model: type[BaseModel],
    headers: dict[str, Any] | None = None,
    *,
    media_type: str = "application/json",
) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": _content(media_type, model)}
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
_PERSONAL = {"Cache-Control": _header("no-store: one person's own figures.")}
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


def _paths() -> dict[str, Any]:
    bearer = [{"bearerAuth": []}]
    cue_answer = _json("The run now, and every cue still to come.", contract.CueState, _CUE_HEADERS)
    return {
        "/api/v1/pairings": {
            "post": {
                "summary": "Start pairing: get a code for the person to say to Alexa",
                "operationId": "startPairing",
                "responses": {
                    "200": _json("The codes (RFC 8628 3.2).", contract.PairingStart),
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
                    "content": _content("application/x-www-form-urlencoded", contract.TokenRequest),
                },
                "responses": {
                    "200": _json("The access token (RFC 8628 3.5).", contract.Token),
                    "400": {
                        "description": "Not (yet) possible: pending, slow_down, expired, ...",
                        "content": _content("application/json", contract.OAuthError),
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
                    *contract.query_parameters(contract.CuePoll),
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
                    "content": _content("application/json", contract.ActionRequest),
                },
                "responses": {
                    "200": _json("The run after the action.", contract.CueState, _CUE_HEADERS),
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
        "/api/v1/history": {
            "get": {
                "summary": "How the person is getting on: this week, the streak, the last days",
                "operationId": "getHistory",
                "security": bearer,
                "responses": {
                    "200": _json(
                        "The token's user's progress, in the days of their time zone.",
                        contract.History,
                        _PERSONAL,
                    ),
                    **_AUTH_ERRORS,
                    **_TOO_LARGE,
                },
            }
        },
        "/api/v1/settings": {
            "get": {
                "summary": "The person's own settings",
                "operationId": "getSettings",
                "security": bearer,
                "responses": {
                    "200": _json("The settings as kept.", contract.PersonSettings, _PERSONAL),
                    **_AUTH_ERRORS,
                    **_TOO_LARGE,
                },
            },
            "patch": {
                "summary": "Change some settings; a run under way takes them from its next step",
                "operationId": "changeSettings",
                "security": bearer,
                "requestBody": {
                    "required": True,
                    "content": {
                        **_content("application/merge-patch+json", contract.SettingsChange),
                        **_content("application/json", contract.SettingsChange),
                    },
                },
                "responses": {
                    "200": _json(
                        "The settings as now kept (all of them).",
                        contract.PersonSettings,
                        _PERSONAL,
                    ),
                    "400": _problem("The body is not valid JSON."),
                    **_AUTH_ERRORS,
                    **_TOO_LARGE,
                    "415": _problem("The body is not JSON."),
                    "422": _json(
                        "A setting unknown, read only, of the wrong kind or out of range; "
                        "nothing was changed.",
                        contract.SettingsProblem,
                        media_type=PROBLEM_JSON,
                    ),
                    **_BUSY,
                },
            },
        },
        "/api/v1/tuning": {
            "post": {
                "summary": "The face listens from now, for the speaker to read the script",
                "operationId": "startTuning",
                "security": bearer,
                "responses": {
                    "201": _json("Listening; say 'tune my watch' to Alexa.", contract.Tuning),
                    **_AUTH_ERRORS,
                    **_TOO_LARGE,
                },
            },
            "get": {
                "summary": "Which parts of the script the speaker has read, and when",
                "operationId": "getTuning",
                "security": bearer,
                "responses": {
                    "200": _json("The tuning under way.", contract.Tuning),
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
                    "content": _content("application/json", contract.HeardRequest),
                },
                "responses": {
                    "200": _json("The user's speaker, measured.", contract.TunedVoice),
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
            "cues with their haptic patterns, control the run from the wrist, and show and "
            "change the person's progress and settings. "
            "Every error is an RFC 9457 problem, except the token endpoint's OAuth 400s; a path "
            "not listed here answers components.responses.NotFound (404), and a listed path "
            "with a method not listed answers MethodNotAllowed (405, with Allow). "
            "See docs/WATCH_API.md.",
        },
        "paths": _paths(),
        "components": {
            "schemas": contract.json_schemas(),
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
