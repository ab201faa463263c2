"""Schemathesis cases made as a paired watch would send them, for in-process and live fuzzing.

The OpenAPI document says what a token or device code looks like, not which ones the server
issued. A fuzzer left alone would only ever meet 401s and invalid_grant; given a real token
and a freshly bound device code wherever it meant a part to be valid, every well-formed case
can be held to a 2xx and its answer checked against the schema, while a refusal is judged on
the part that was made wrong.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from flask import Flask
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from shared.pairing.service import PairingService
from wearable.api.openapi import build_spec
from wearable.api.routes import PREFIX

#: Where the app serves its own document.
SPEC_PATH = f"{PREFIX}/openapi.json"

#: Unknown query parameters are ignored on purpose (a cache-buster or a newer watch's extra
#: parameter must not break an older server), so the fuzzer does not send them expecting 400.
FUZZ_CONFIG = {
    "generation": {"allow-extra-parameters": False},
    "checks": {
        # A body past what the server reads is refused with 413 before anything else looks
        # at it: a refusal like the others. (A list of 1,500 long floats generated as "too
        # many items" passed 64 KiB and was taken for accepted, about one run in ten.)
        "negative_data_rejection": {
            "expected-statuses": [
                *("400", "401", "403", "404", "405", "406", "409", "413", "415", "422"),
                *("428", "429", "5xx"),
            ]
        }
    },
}


def fuzz_config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(FUZZ_CONFIG)


def meant_valid(case: Any, location: str) -> bool:
    """Whether the generator meant this part of the case (header, body, ...) to be valid."""
    modes = {place.value: info.mode for place, info in case.meta.components.items()}
    return modes.get(location, GenerationMode.POSITIVE) is GenerationMode.POSITIVE


def as_a_paired_watch(case: Any, authorization: str, pairing: PairingService, user_id: str) -> None:
    """Put a real token and a bound device code where the generator meant them valid."""
    if meant_valid(case, "header") and "Authorization" in (case.headers or {}):
        case.headers["Authorization"] = authorization
    body = case.body
    if case.path.endswith("/token") and meant_valid(case, "body") and isinstance(body, dict):
        started = pairing.start()
        pairing.bind(user_id, started.user_code)
        body["device_code"] = started.device_code


#: Operations whose 2xx no generated request can reach, and where that answer is checked.
NO_2XX_BY_FUZZING = {
    # Needs stretches of sound that line up with a script read aloud: tests/wearable/
    # test_tuning_api.py checks that answer against the document.
    ("/api/v1/tuning/heard", "POST"),
}


def assert_documented(app: Flask, path: str, method: str, response: Any) -> None:
    """The answer's status is listed for the operation, with its headers, and matches it."""
    listed = build_spec()["paths"][path][method.lower()]["responses"]
    status = str(response.status_code)
    assert status in listed, f"{method} {path} does not document {status}"
    for header in listed[status].get("headers", {}):
        assert header in response.headers, header
    schemathesis.openapi.from_wsgi(SPEC_PATH, app)[path][method].validate_response(response)


def documented_get(app: Any, watch: Any, path: str) -> dict[str, Any]:
    """A watch's GET of `path`: a 200, never stored by caches, checked against the document."""
    response = watch.client.get(path, headers=watch.auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert_documented(app, path, "GET", response)
    body: dict[str, Any] = response.get_json()
    return body
