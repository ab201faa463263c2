"""The watch contract (wearable/api/contract.py) is the one source of the API's shapes.

Three things are held here: every answer the API really gives is its model, field for field
(the cue poll's hand-built dicts above all, since that hot path builds no model); the OpenAPI
document's schemas are the models' own JSON schemas, not a copy; and a body the models refuse
gets the same problem answer it always did, while one they accept is never refused as
malformed.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from werkzeug.test import TestResponse

from sciatica_coach.services import services_of
from shared.clock import ManualClock
from shared.pairing.protocol import DEVICE_CODE_GRANT, SECRET_LENGTH
from shared.pairing.service import PairingService
from shared.routine.coach import Coach
from shared.routine.cues import CueKind
from shared.routine.engine import Event, Phase
from shared.routine.progress import LAST_DAYS
from shared.routine.settings import HOLD_SECONDS_RANGE, HOLDS_PER_SIDE_RANGE, Settings
from shared.timing.tuning import MAX_SOUNDS, Tuning
from tests.support.timing import TUNING_SCRIPT, TUNING_SECTION_S, read_in_turns
from tests.support.watch import WATCH_USER, WatchActions
from wearable.api import contract
from wearable.api.actions import WatchAction
from wearable.api.haptics import Platform, all_platforms, pattern_for
from wearable.api.openapi import build_spec
from wearable.api.problems import Problem, ProblemType

PROBLEM_JSON = "application/problem+json"
ALLOWED = [action.value for action in WatchAction]
JSON_SHAPE = 'The body must be exactly {"action": "<name>"}.'
SOUNDS_SHAPE = 'The body must be exactly {"sounds": [[start_ms, end_ms], ...]}.'
NOT_JSON = "The body is not valid JSON."


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The app of tests/conftest.py, tuning the short script so a tuning can be finished."""
    return {**app_config, "CALIBRATION_SCRIPT": TUNING_SCRIPT, "TUNING_SECTION_S": TUNING_SECTION_S}


def round_trips(model: type[BaseModel], body: Any) -> BaseModel:
    """`body` is exactly `model`: it validates, and dumping it again gives back every field."""
    parsed = model.model_validate(body)
    assert parsed.model_dump(mode="json") == body
    return parsed


def answer(response: TestResponse, status: int) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json(force=True)


# -- every answer is its model ------------------------------------------------------------------


def test_every_state_a_poll_can_show_is_a_cue_state(
    watch: WatchActions, coach: Coach, clock: ManualClock
) -> None:
    """Walk a whole run, by voice and wrist, and hold each poll's dict to CueState."""
    seen: set[str] = set()

    def poll_is_a_cue_state(**params: Any) -> None:
        state = round_trips(contract.CueState, answer(watch.poll(**params), 200))
        seen.add(state.state.value)

    def until(*phases: Phase) -> Phase:
        for _ in range(1000):
            if (phase := coach.view(WATCH_USER).phase) in phases:
                return phase
            clock.advance(0.5)
        raise AssertionError(f"never {phases}")

    poll_is_a_cue_state()  # idle
    coach.apply(WATCH_USER, Event.START)
    poll_is_a_cue_state(client_send_ms=int(clock.now() * 1000))  # announcing
    for _ in range(len(coach.routine) - 1):
        if until(Phase.HOLDING, Phase.AWAITING) is Phase.HOLDING:
            poll_is_a_cue_state()
            round_trips(contract.CueState, answer(watch.act("pause"), 200))
            poll_is_a_cue_state()
            round_trips(contract.CueState, answer(watch.act("resume"), 200))
            until(Phase.AWAITING)
        poll_is_a_cue_state()
        round_trips(contract.CueState, answer(watch.act("next"), 200))
    clock.advance(3600)
    poll_is_a_cue_state()  # completed
    coach.apply(WATCH_USER, Event.START)
    coach.apply(WATCH_USER, Event.STOP)
    poll_is_a_cue_state()  # stopped
    assert seen == {phase.value for phase in Phase}


def test_every_cue_kind_carries_a_haptic_pattern_with_every_platform() -> None:
    for kind in CueKind:
        round_trips(contract.HapticPattern, all_platforms(pattern_for(kind)))
    names = set(contract.HapticPattern.model_fields) - {"name", "duration_ms", "pattern"}
    assert names == {platform.value for platform in Platform}


def test_pairing_and_token_answers_are_their_models(
    client: FlaskClient, pairing: PairingService
) -> None:
    start = round_trips(contract.PairingStart, answer(client.post("/api/v1/pairings"), 200))
    grant = {"grant_type": DEVICE_CODE_GRANT, "device_code": start.device_code}
    pending = answer(client.post("/api/v1/token", data=grant), 400)
    assert round_trips(contract.OAuthError, pending).error.value == "authorization_pending"
    pairing.bind(WATCH_USER, start.user_code)
    token = round_trips(contract.Token, answer(client.post("/api/v1/token", data=grant), 200))
    assert pairing.authenticate(token.access_token) == WATCH_USER


def test_tuning_answers_are_their_models(
    watch: WatchActions, app: Flask, clock: ManualClock
) -> None:
    tuning: Tuning = services_of(app).tuning
    round_trips(
        contract.Tuning, answer(watch.client.post("/api/v1/tuning", headers=watch.auth), 201)
    )
    clock.advance(20)
    sounds = read_in_turns(tuning, WATCH_USER, clock, 1.3)
    status = answer(watch.client.get("/api/v1/tuning", headers=watch.auth), 200)
    assert round_trips(contract.Tuning, status).done_speaking
    heard = [[round(start * 1000), round(end * 1000)] for start, end in sounds]
    contract.HeardRequest.model_validate({"sounds": heard})  # what the face sends is one too
    response = watch.client.post("/api/v1/tuning/heard", json={"sounds": heard}, headers=watch.auth)
    round_trips(contract.TunedVoice, answer(response, 200))


def test_history_and_settings_answers_are_their_models(
    watch: WatchActions, coach: Coach, clock: ManualClock
) -> None:
    auth = watch.auth
    round_trips(contract.History, answer(watch.client.get("/api/v1/history", headers=auth), 200))
    coach.apply(WATCH_USER, Event.START)
    for _ in range(len(coach.routine) - 1):
        coach.apply(WATCH_USER, Event.NEXT)
    clock.advance(3600)
    coach.change_settings(WATCH_USER, time_zone="Asia/Kolkata", flow="on_next")
    history = answer(watch.client.get("/api/v1/history", headers=auth), 200)
    assert round_trips(contract.History, history).runs_this_week == 1
    shown = answer(watch.client.get("/api/v1/settings", headers=auth), 200)
    assert round_trips(contract.PersonSettings, shown).time_zone == "Asia/Kolkata"
    changed = watch.client.patch("/api/v1/settings", json={"hold_seconds": 60}, headers=auth)
    assert round_trips(contract.PersonSettings, answer(changed, 200)).hold_seconds == 60
    refused = watch.client.patch("/api/v1/settings", json={"hold_seconds": 0}, headers=auth)
    assert round_trips(contract.SettingsProblem, answer(refused, 422)).field == "hold_seconds"


@pytest.mark.parametrize("type_", list(ProblemType))
def test_every_kind_of_problem_is_a_problem(type_: ProblemType) -> None:
    extra = {"allowed": ALLOWED} if type_ is ProblemType.UNKNOWN_ACTION else None
    body = Problem(400, "What went wrong.", type_, extra=extra).to_dict()
    round_trips(contract.Problem, body)
    assert body["type"] == type_.value


def test_a_problem_answer_is_a_problem(watch: WatchActions, client: FlaskClient) -> None:
    for response in (
        watch.act("jump"),
        client.get("/api/v1/cues"),
        client.get("/api/v1/nowhere"),
        client.put("/api/v1/cues"),
        watch.client.post("/api/v1/actions", data="next", headers=watch.auth),
    ):
        assert response.mimetype == PROBLEM_JSON
        round_trips(contract.Problem, response.get_json(force=True))


# -- one source: the document's schemas are the models' -------------------------------------------


def test_the_documents_schemas_are_the_models_json_schemas() -> None:
    assert build_spec()["components"]["schemas"] == contract.json_schemas()


def test_the_polls_query_parameters_are_the_query_models_fields() -> None:
    fields = contract.CuePoll.model_json_schema()["properties"]
    parameters = build_spec()["paths"]["/api/v1/cues"]["get"]["parameters"]
    in_query = {p["name"]: p["schema"] for p in parameters if p["in"] == "query"}
    assert in_query == fields


def references(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(references(value) for value in node))
    return set()


def test_every_reference_resolves_and_every_model_is_used() -> None:
    spec = build_spec()
    schemas = spec["components"]["schemas"]
    for ref in references(spec):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    used = {ref.rsplit("/", 1)[1] for ref in references(spec["paths"])}
    assert used == {model.__name__ for model in (*contract.REQUESTS, *contract.RESPONSES)}


def test_the_document_keeps_the_shapes_a_watch_relies_on() -> None:
    schemas = build_spec()["components"]["schemas"]
    secret = f"^[A-Za-z0-9_-]{{{SECRET_LENGTH}}}$"
    assert schemas["PairingStart"]["properties"]["device_code"]["pattern"] == secret
    assert schemas["Token"]["properties"]["access_token"]["pattern"] == secret
    assert schemas["TokenRequest"]["properties"]["grant_type"]["const"] == DEVICE_CODE_GRANT
    assert schemas["WatchAction"]["enum"] == ALLOWED
    assert schemas["ActionRequest"]["additionalProperties"] is False
    assert schemas["HeardRequest"]["properties"]["sounds"]["maxItems"] == MAX_SOUNDS
    assert schemas["Tuning"]["properties"]["max_sounds"]["const"] == MAX_SOUNDS
    assert set(schemas["CueState"]["required"]) == set(contract.CueState.model_fields)
    assert schemas["Problem"]["required"] == ["type", "title", "status", "detail"]
    assert schemas["SettingsChange"]["additionalProperties"] is False
    assert "time_zone" not in schemas["SettingsChange"]["properties"]
    assert schemas["PersonSettings"]["properties"]["time_zone"]["readOnly"] is True
    assert set(schemas["PersonSettings"]["required"]) == {f.name for f in fields(Settings)}
    hold = schemas["PersonSettings"]["properties"]["hold_seconds"]["anyOf"][0]
    assert (hold["minimum"], hold["maximum"]) == HOLD_SECONDS_RANGE
    per_side = schemas["SettingsChange"]["properties"]["holds_per_side"]["anyOf"][0]
    assert (per_side["minimum"], per_side["maximum"]) == HOLDS_PER_SIDE_RANGE
    days = schemas["History"]["properties"]["last_days"]
    assert days["minItems"] == days["maxItems"] == LAST_DAYS


# -- what a watch sends: refused as before, accepted when the model accepts ---------------------


def post_action(watch: WatchActions, raw: bytes) -> TestResponse:
    return watch.client.post(
        "/api/v1/actions", data=raw, content_type="application/json", headers=watch.auth
    )


@pytest.mark.parametrize(
    ("raw", "type_", "detail"),
    [
        (b"{", ProblemType.MALFORMED_REQUEST, NOT_JSON),
        (b"\xff\xfe", ProblemType.MALFORMED_REQUEST, NOT_JSON),
        (b"[" * 4000, ProblemType.MALFORMED_REQUEST, NOT_JSON),
        (b"[]", ProblemType.MALFORMED_REQUEST, JSON_SHAPE),
        (b'"next"', ProblemType.MALFORMED_REQUEST, JSON_SHAPE),
        (b"{}", ProblemType.MALFORMED_REQUEST, JSON_SHAPE),
        (b'{"action": "next", "extra": 1}', ProblemType.MALFORMED_REQUEST, JSON_SHAPE),
        (b'{"action": "jump", "extra": 1}', ProblemType.MALFORMED_REQUEST, JSON_SHAPE),
        (b'{"action": "jump"}', ProblemType.UNKNOWN_ACTION, "Unknown action 'jump'; use one of"),
        (b'{"action": "NEXT"}', ProblemType.UNKNOWN_ACTION, "Unknown action 'NEXT'"),
        (b'{"action": 3}', ProblemType.UNKNOWN_ACTION, "Unknown action of type int"),
        (b'{"action": true}', ProblemType.UNKNOWN_ACTION, "Unknown action of type bool"),
        (b'{"action": null}', ProblemType.UNKNOWN_ACTION, "Unknown action of type NoneType"),
        (b'{"action": ["next"]}', ProblemType.UNKNOWN_ACTION, "Unknown action of type list"),
    ],
)
def test_a_refused_action_gets_the_problem_it_always_got(
    watch: WatchActions, raw: bytes, type_: ProblemType, detail: str
) -> None:
    body = answer(post_action(watch, raw), 400)
    assert (body["type"], body["title"], body["status"]) == (type_.value, body["title"], 400)
    assert body["title"] == Problem(400, "", type_).title
    assert body["detail"].startswith(detail)
    assert ("allowed" in body) is (type_ is ProblemType.UNKNOWN_ACTION)
    if "allowed" in body:
        assert body["allowed"] == ALLOWED


def test_an_action_that_is_not_json_is_still_a_415(watch: WatchActions) -> None:
    body = answer(watch.client.post("/api/v1/actions", data="next", headers=watch.auth), 415)
    assert (body["type"], body["title"]) == ("about:blank", "Unsupported Media Type")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
ACTIONS = st.fixed_dictionaries({"action": st.sampled_from(ALLOWED) | JSON}) | JSON


@given(body=ACTIONS)
@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_an_action_is_refused_as_malformed_exactly_when_the_model_refuses_it(
    watch: WatchActions, body: Any
) -> None:
    response = post_action(watch, json.dumps(body).encode())
    try:
        contract.ActionRequest.model_validate(body)
    except ValidationError:
        assert response.status_code == 400
        assert response.get_json()["type"] in (
            ProblemType.MALFORMED_REQUEST.value,
            ProblemType.UNKNOWN_ACTION.value,
        )
    else:
        assert response.status_code in (200, 409)  # applied, or not possible right now


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"{", NOT_JSON),
        (b'{"sounds": [[1, 1' + b"0" * 5000 + b"]]}", NOT_JSON),  # past Python's int digits
        (b"[]", SOUNDS_SHAPE),
        (b'{"sounds": {}}', SOUNDS_SHAPE),
        (b'{"sounds": [], "extra": 1}', SOUNDS_SHAPE),
        (b'{"sounds": [[1, "x"]], "extra": 1}', SOUNDS_SHAPE),
        (b'{"sounds": [[1, 2], [3, 4], [5]]}', "sounds[2] must be [start_ms, end_ms]"),
        (b'{"sounds": [[1, 2], [true, 4]]}', "sounds[1] must be"),
        (b'{"sounds": [[NaN, 2]]}', "sounds[0] must be"),
        (b'{"sounds": [[1, 1e15]]}', "sounds[0] must be"),
        (b'{"sounds": [[-1, 2], 7]}', "sounds[0] must be"),
    ],
)
def test_refused_sounds_get_the_problem_they_always_got(
    watch: WatchActions, raw: bytes, detail: str
) -> None:
    watch.client.post("/api/v1/tuning", headers=watch.auth)
    response = watch.client.post(
        "/api/v1/tuning/heard", data=raw, content_type="application/json", headers=watch.auth
    )
    body = answer(response, 400)
    assert (body["type"], body["title"]) == (
        ProblemType.MALFORMED_REQUEST.value,
        "The request is malformed",
    )
    assert body["detail"].startswith(detail)


def test_too_many_sounds_say_how_many_were_sent(watch: WatchActions) -> None:
    watch.client.post("/api/v1/tuning", headers=watch.auth)
    sounds = [[i, i + 1] for i in range(MAX_SOUNDS + 2)] + [["not", "a time"]]
    response = watch.client.post(
        "/api/v1/tuning/heard", json={"sounds": sounds}, headers=watch.auth
    )
    detail = answer(response, 400)["detail"]
    assert detail == f"At most {MAX_SOUNDS} stretches of sound, not {MAX_SOUNDS + 3}."


SOUNDS = (
    st.fixed_dictionaries(
        {"sounds": st.lists(st.lists(st.integers(-5, 10**16) | JSON, max_size=3), max_size=4)}
    )
    | JSON
)


@given(body=SOUNDS)
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_sounds_are_refused_as_malformed_exactly_when_the_model_refuses_them(
    watch: WatchActions, body: Any
) -> None:
    watch.client.post("/api/v1/tuning", headers=watch.auth)
    response = watch.client.post(
        "/api/v1/tuning/heard",
        data=json.dumps(body),
        content_type="application/json",
        headers=watch.auth,
    )
    try:
        contract.HeardRequest.model_validate(body)
    except ValidationError:
        assert response.status_code == 400
        assert response.get_json()["type"] == ProblemType.MALFORMED_REQUEST.value
    else:
        assert response.status_code in (409, 422)  # read, but not the whole script read aloud


@pytest.mark.parametrize(
    ("form", "error", "description"),
    [
        ({"device_code": "x" * SECRET_LENGTH}, "invalid_request", "give grant_type exactly once"),
        ({"grant_type": DEVICE_CODE_GRANT}, "invalid_request", "give device_code exactly once"),
        (
            {"grant_type": "", "device_code": "x" * SECRET_LENGTH},
            "invalid_request",
            "give grant_type exactly once",
        ),
        (
            {"grant_type": "password", "device_code": "x"},
            "unsupported_grant_type",
            f"grant_type must be {DEVICE_CODE_GRANT}",
        ),
        (
            {"grant_type": DEVICE_CODE_GRANT, "device_code": "never-issued"},
            "invalid_grant",
            "unknown or already used device code",
        ),
        (
            {"grant_type": DEVICE_CODE_GRANT, "device_code": "x" * SECRET_LENGTH},
            "invalid_grant",
            "unknown or already used device code",
        ),
    ],
)
def test_a_refused_token_request_gets_the_oauth_error_it_always_got(
    client: FlaskClient, form: dict[str, str], error: str, description: str
) -> None:
    body = answer(client.post("/api/v1/token", data=form), 400)
    assert body == {"error": error, "error_description": description}


def test_a_token_request_may_carry_parameters_the_model_does_not_name(
    client: FlaskClient, pairing: PairingService
) -> None:
    start = client.post("/api/v1/pairings").get_json()
    pairing.bind(WATCH_USER, start["user_code"])
    form = {"grant_type": DEVICE_CODE_GRANT, "device_code": start["device_code"], "client_id": "w"}
    assert client.post("/api/v1/token", data=form).status_code == 200


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"wait": "31"}, "wait must be a whole number from 0 to 30; got '31'"),
        ({"wait": "+1"}, "wait must be a whole number from 0 to 30; got '+1'"),
        ({"wait": "1\n"}, "wait must be a whole number from 0 to 30; got '1\\n'"),
        (
            {"client_send_ms": "-5"},
            "client_send_ms must be a whole number from 0 to 999999999999999; got '-5'",
        ),
        (
            {"client_send_ms": "1" * 16},
            f"client_send_ms must be a whole number from 0 to 999999999999999; got '{'1' * 16}'",
        ),
    ],
)
def test_a_bad_poll_query_is_the_malformed_request_it_always_was(
    watch: WatchActions, params: dict[str, str], detail: str
) -> None:
    body = answer(watch.poll(**params), 400)
    assert (body["type"], body["detail"]) == (ProblemType.MALFORMED_REQUEST.value, detail)


SETTING_NAMES = [*contract.SettingsChange.model_fields, "time_zone", "colour"]
SETTING_VALUES = (
    st.none()
    | st.booleans()
    | st.integers(-5, 70)
    | st.floats(allow_nan=False)
    | st.sampled_from(["left", "right", "hands_free", "on_next", "UTC", "Europe/Berlin"])
    | JSON
)
SETTINGS_CHANGES = st.dictionaries(st.sampled_from(SETTING_NAMES), SETTING_VALUES) | JSON


@given(body=SETTINGS_CHANGES)
@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_settings_change_is_refused_exactly_when_the_model_refuses_it(
    watch: WatchActions, coach: Coach, body: Any
) -> None:
    before = coach.settings(WATCH_USER)
    response = watch.client.patch(
        "/api/v1/settings",
        data=json.dumps(body),
        content_type="application/merge-patch+json",
        headers=watch.auth,
    )
    try:
        contract.SettingsChange.model_validate(body)
    except ValidationError:
        assert response.status_code == 422
        assert response.get_json()["type"] == ProblemType.INVALID_SETTING.value
        assert coach.settings(WATCH_USER) == before
    else:
        assert response.status_code == 200
        assert response.get_json() == coach.settings(WATCH_USER).to_json()


def test_a_poll_query_the_model_accepts_is_answered(watch: WatchActions) -> None:
    response = watch.poll(wait="0", client_send_ms="999999999999999", cache_buster="x")
    assert answer(response, 200)["clock"]["client_send_ms"] == 999_999_999_999_999
