"""The watch API against its own OpenAPI 3.1 document: every route described, no 5xx, no drift.

Schemathesis generates requests from the document (valid and invalid ones) and checks each
answer: never a server error, a documented status, a documented content type, a body that
matches its schema. It runs against the WSGI app in-process, with a real paired watch's token
so that the 200 answers (the cue payload above all) are checked too, not only the 401s.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from watch_support import WATCH_USER, WatchActions

from shared.coach import Coach
from shared.engine import Event
from wearable.api import PREFIX
from wearable.openapi import build_spec

SPEC_PATH = f"{PREFIX}/openapi.json"


# Unknown query parameters are ignored on purpose (a cache-buster or a newer watch's extra
# parameter must not break an older server), so the fuzzer does not send them expecting 400.
FUZZ_CONFIG = {"generation": {"allow-extra-parameters": False}}
OPERATIONS = [
    (path, method.upper())
    for path, operations in build_spec()["paths"].items()
    for method in operations
]


@pytest.fixture
def fuzz_auth(watch: WatchActions, coach: Coach) -> dict[str, str]:
    """A paired watch's header, with its run mid-routine so that cue answers are full ones."""
    coach.apply(WATCH_USER, Event.START)
    return watch.auth


def headers_are_valid(case: Any) -> bool:
    """Whether the generator meant this case's headers to match the document."""
    modes = {location.value: info.mode for location, info in case.meta.components.items()}
    return modes.get("header", GenerationMode.POSITIVE) is GenerationMode.POSITIVE


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_every_answer_matches_the_document(
    app: Flask, fuzz_auth: dict[str, str], path: str, method: str
) -> None:
    config = SchemathesisConfig.from_dict(FUZZ_CONFIG)
    operation = schemathesis.openapi.from_wsgi(SPEC_PATH, app, config=config)[path][method]
    excluded = []
    if path.endswith("/token"):
        # A schema-valid device code the server never issued is RFC 8628's 400 invalid_grant,
        # not a valid request wrongly refused.
        excluded.append(positive_data_acceptance)

    @given(case=st.one_of(operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE)))
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def fuzz(case: Any) -> None:
        if headers_are_valid(case) and "Authorization" in (case.headers or {}):
            # Meet a paired watch, so 200s are checked and a bad body or query is judged on
            # its own; cases whose headers were made invalid (no Authorization) keep them.
            case.headers["Authorization"] = fuzz_auth["Authorization"]
        case.call_and_validate(excluded_checks=excluded)

    fuzz()


def test_the_app_serves_the_document_the_fuzzer_reads(client: FlaskClient) -> None:
    assert client.get(SPEC_PATH).get_json() == build_spec()


# -- the document itself ------------------------------------------------------------------------


def test_every_api_route_is_documented_and_nothing_else(app: Flask) -> None:
    documented = {
        (path, method.upper())
        for path, operations in build_spec()["paths"].items()
        for method in operations
    }
    served = {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(PREFIX)
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    assert documented == served


def test_every_operation_names_its_errors_as_problems_except_the_token_endpoint() -> None:
    for path, operations in build_spec()["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith(("4", "5")):
                    continue
                media = set(response["content"])
                if path.endswith("/token") and status == "400":
                    assert media == {"application/json"}, (method, path)
                else:
                    assert media == {"application/problem+json"}, (method, path, status)


def test_each_call_gets_a_fresh_copy_of_the_document() -> None:
    spec = build_spec()
    spec["paths"].clear()
    assert build_spec()["paths"]
