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
from schemathesis.generation import GenerationMode

from sciatica_coach.app import services_of
from shared.clock import ManualClock
from shared.pairing.service import PairingService
from shared.routine.coach import Coach
from shared.routine.engine import Event
from tests.support.openapi import (
    NO_2XX_BY_FUZZING,
    SPEC_PATH,
    as_a_paired_watch,
    assert_documented,
    fuzz_config,
)
from tests.support.watch import WATCH_USER, WatchActions
from wearable.api.openapi import build_spec
from wearable.api.routes import PREFIX

OPERATIONS = [
    (path, method.upper())
    for path, operations in build_spec()["paths"].items()
    for method in operations
]


@pytest.fixture
def fuzz_auth(watch: WatchActions, coach: Coach, app: Flask) -> dict[str, str]:
    """A paired watch's header, its run mid-routine and its face listening for a tuning,
    so that cue and tuning answers are full ones."""
    coach.apply(WATCH_USER, Event.START)
    services_of(app).tuning.listen(WATCH_USER, coach.clock.now())
    return watch.auth


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_every_answer_matches_the_document(
    app: Flask, fuzz_auth: dict[str, str], pairing: PairingService, path: str, method: str
) -> None:
    operation = schemathesis.openapi.from_wsgi(SPEC_PATH, app, config=fuzz_config())[path][method]

    statuses: set[int] = set()

    @given(case=st.one_of(operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE)))
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def fuzz(case: Any) -> None:
        as_a_paired_watch(case, fuzz_auth["Authorization"], pairing, WATCH_USER)
        statuses.add(case.call_and_validate().status_code)

    fuzz()
    if (path, method) not in NO_2XX_BY_FUZZING:
        assert any(200 <= status < 300 for status in statuses), statuses  # 2xx were checked


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


# -- answers no generated request reaches ----------------------------------------------------------

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


@pytest.mark.parametrize("path", build_spec()["paths"])
def test_a_method_a_path_does_not_list_is_the_documented_405(
    client: FlaskClient, path: str
) -> None:
    spec = build_spec()
    listed = {method.upper() for method in spec["paths"][path]}
    documented = spec["components"]["responses"]["MethodNotAllowed"]
    for method in sorted(METHODS - listed):
        response = client.open(path, method=method)
        assert response.status_code == 405, method
        assert response.mimetype in documented["content"]
        allowed = {m.strip() for m in response.headers["Allow"].split(",")}
        assert allowed - {"HEAD", "OPTIONS"} == listed
        body = response.get_json(force=True)
        assert set(spec["components"]["schemas"]["Problem"]["required"]) <= set(body)
        assert body["status"] == 405


def test_a_path_the_document_does_not_list_is_the_documented_404(client: FlaskClient) -> None:
    spec = build_spec()
    documented = spec["components"]["responses"]["NotFound"]
    for path in ("/api/v1/cue", "/api/v1/cues/", "/api/v1", "/api/v1/devices/someone-else"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype in documented["content"]
        assert set(spec["components"]["schemas"]["Problem"]["required"]) <= set(
            response.get_json(force=True)
        )


def lose_every_race(coach: Coach, monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on every save of a run loses its compare-and-set, as if another always won."""
    save = coach.store.save_run

    def save_too_late(user_id: str, state: Any, expected_version: int | None, **more: Any) -> None:
        # A version nobody has: the store itself raises VersionConflict.
        save(user_id, state, (expected_version or 0) + 1_000, **more)

    monkeypatch.setattr(coach.store, "save_run", save_too_late)


def test_an_action_that_keeps_losing_races_is_the_documented_503(
    app: Flask, watch: WatchActions, coach: Coach, monkeypatch: pytest.MonkeyPatch
) -> None:
    coach.apply(WATCH_USER, Event.START)
    lose_every_race(coach, monkeypatch)
    response = watch.act("next")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert_documented(app, f"{PREFIX}/actions", "POST", response)


def test_a_poll_that_keeps_losing_races_is_the_documented_503(
    app: Flask,
    watch: WatchActions,
    coach: Coach,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    coach.apply(WATCH_USER, Event.START)
    for _ in range(len(coach.routine) - 1):
        coach.apply(WATCH_USER, Event.NEXT)
    clock.advance(3600)  # the read must now record the run as completed: a save
    lose_every_race(coach, monkeypatch)
    response = watch.poll()
    assert response.status_code == 503
    assert_documented(app, f"{PREFIX}/cues", "GET", response)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        (f"{PREFIX}/devices/me", "DELETE"),
        (f"{PREFIX}/cues", "GET"),
        (f"{PREFIX}/pairings", "POST"),
        (f"{PREFIX}/history", "GET"),
        (f"{PREFIX}/settings", "GET"),
        (f"{PREFIX}/settings", "PATCH"),
    ],
)
def test_a_body_over_the_limit_is_the_documented_413_everywhere(
    app: Flask, watch: WatchActions, path: str, method: str
) -> None:
    response = watch.client.open(path, method=method, data=b"x" * 10_000, headers=watch.auth)
    assert response.status_code == 413
    assert_documented(app, path, method, response)


def test_a_settings_change_that_keeps_losing_races_is_the_documented_503(
    app: Flask, watch: WatchActions, coach: Coach, monkeypatch: pytest.MonkeyPatch
) -> None:
    coach.apply(WATCH_USER, Event.START)  # a run under way: the change re-plans it
    lose_every_race(coach, monkeypatch)
    response = watch.client.patch(
        f"{PREFIX}/settings", json={"holds_per_side": 2}, headers=watch.auth
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert_documented(app, f"{PREFIX}/settings", "PATCH", response)
