"""POST /alexa: every recorded envelope is answered; every bad request is a 400, never a 500."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ask_sdk_runtime.exceptions import AskSdkException
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sciatica_coach import create_app
from sciatica_coach.app import coach_of
from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock
from skill.endpoint import MAX_JSON_DEPTH, nested_deeper_than
from skill.handlers.errors import CatchAllExceptionHandler
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES / "alexa"
SKILL_ID = "amzn1.ask.skill.00000000-0000-4000-8000-5c1a71ca0c0a"  # the fixtures' own
ENVELOPES = sorted(FIXTURES.glob("*.json")) + sorted(FIXTURES.glob("intents/*.json"))


def signed_post(client: FlaskClient, ca: DemoCA, body: bytes) -> Any:
    return client.post("/alexa", data=body, headers=ca.sign(body))


@pytest.mark.parametrize("path", ENVELOPES, ids=lambda p: p.stem)
def test_every_recorded_envelope_gets_a_valid_alexa_response(
    speaker: AlexaSimulator, path: Path
) -> None:
    envelope = speaker._envelope(path.stem)
    turn = speaker.send(envelope)
    assert turn.status == 200, turn.body
    assert turn.body["version"] == "1.0"
    response = turn.body["response"]
    if envelope["request"]["type"] == "IntentRequest" or path.stem == "launch":
        ssml = response["outputSpeech"]["ssml"]
        assert ssml.startswith("<speak>")
        assert ssml.endswith("</speak>")
        # No dead ends: a reply either ends the session or asks again.
        assert response.get("shouldEndSession") or response.get("reprompt")


def test_an_unknown_intent_gets_a_polite_answer_and_a_reprompt(speaker: AlexaSimulator) -> None:
    turn = speaker.says("OrderPizzaIntent")
    assert turn.status == 200
    assert "didn't catch that" in turn.ssml
    assert turn.reprompt
    assert not turn.ends_session


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed_body"),
        (b"\xff\xfe\x00garbage", "malformed_body"),
        (b"[1, 2, 3]", "malformed_body"),
        (b'{"version": "1.0", "request": 5}', "malformed_body"),
        (b'{"version": "1.0", "request": {"type": 7}}', "malformed_body"),
        (b"", "malformed_body"),
    ],
    ids=["broken-json", "not-utf8", "array", "request-not-object", "type-not-string", "empty"],
)
def test_malformed_bodies_get_400_with_a_json_reason(
    client: FlaskClient, demo_ca: DemoCA, body: bytes, reason: str
) -> None:
    response = signed_post(client, demo_ca, body)
    assert response.status_code == 400
    assert response.get_json()["error"] == reason


def test_a_body_the_sdk_cannot_deserialize_is_a_400_not_a_500(
    client: FlaskClient, demo_ca: DemoCA
) -> None:
    body = json.dumps(
        {"version": "1.0", "request": {"type": "IntentRequest", "intent": "not-an-object"}}
    ).encode()
    response = signed_post(client, demo_ca, body)
    assert response.status_code == 400
    assert response.is_json


def test_an_oversized_body_is_refused_with_400(client: FlaskClient, demo_ca: DemoCA) -> None:
    body = b'{"version": "1.0", "pad": "' + b"x" * 70_000 + b'"}'
    response = signed_post(client, demo_ca, body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "body_too_large"


def test_get_is_not_allowed(client: FlaskClient) -> None:
    response = client.get("/alexa")
    assert response.status_code == 405
    assert response.is_json


def test_an_unsigned_request_never_reaches_a_handler(
    app: Flask, client: FlaskClient, speaker: AlexaSimulator
) -> None:
    body = json.dumps(speaker._envelope("launch")).encode()
    response = client.post("/alexa", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "missing_header"
    assert coach_of(app).store.get_user(speaker.user_id) is None


def test_another_skills_request_is_refused(app: Flask, speaker: AlexaSimulator) -> None:
    speaker.skill_id = "amzn1.ask.skill.someone-else"
    turn = speaker.launch()
    assert turn.status == 400
    assert turn.body["error"] == "wrong_application_id"
    assert coach_of(app).store.get_user(speaker.user_id) is None


@pytest.mark.parametrize(("skew", "accepted"), [(-151, False), (151, False), (-149, True)])
def test_request_timestamps_must_be_within_150_seconds(
    speaker: AlexaSimulator, clock: ManualClock, skew: float, accepted: bool
) -> None:
    envelope = speaker._envelope("launch")
    stamp = datetime.fromtimestamp(clock.now() + skew, UTC)
    envelope["request"]["timestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    turn = speaker.send(envelope)
    assert (turn.status == 200) is accepted
    if not accepted:
        assert turn.body["error"] == "stale_timestamp"


def test_a_skill_disabled_event_an_hour_old_is_still_accepted(
    speaker: AlexaSimulator, clock: ManualClock
) -> None:
    envelope = speaker._envelope("skill_disabled")
    clock.advance(3000)
    assert speaker.send(envelope).status == 200


def test_dev_mode_skips_verification_and_says_so_on_every_request(
    app_config: dict[str, Any], caplog: pytest.LogCaptureFixture, speaker: AlexaSimulator
) -> None:
    app = create_app({**app_config, "DEV_SKIP_VERIFY": True})
    client = app.test_client()
    body = json.dumps(speaker._envelope("launch")).encode()
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            response = client.post("/alexa", data=body, content_type="application/json")
            assert response.status_code == 200
    warnings = [r for r in caplog.records if "NOT verified" in r.getMessage()]
    assert len(warnings) == 2
    coach_of(app).store.close()


# --- bodies no client may crash us with -------------------------------------------------------


class Nested:
    """Stands for a list `depth` levels deep, [[[...]]], spliced in as text (json.dumps
    itself would run out of stack long before the parsers we are testing)."""

    def __init__(self, depth: int) -> None:
        self.text = "[" * depth + "]" * depth


def nested(depth: int) -> Nested:
    return Nested(depth)


def launch_with(speaker: AlexaSimulator, **changes: Any) -> bytes:
    """The recorded launch envelope with top-level or request fields changed (None: removed)."""
    envelope = speaker._envelope("launch")
    splices = {}
    for key, value in changes.items():
        target = envelope["request"] if key in ("intent", "extra") else envelope
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Nested):
            target[key] = marker = f"@nested-{key}@"
            splices[json.dumps(marker)] = value.text
        else:
            target[key] = value
    text = json.dumps(envelope)
    for marker, replacement in splices.items():
        text = text.replace(marker, replacement)
    return text.encode()


def intent_with(speaker: AlexaSimulator, intent: Any) -> bytes:
    envelope = speaker._envelope("intent")
    envelope["request"]["intent"] = intent
    return json.dumps(envelope).encode()


BAD_BODIES: dict[str, Callable[[AlexaSimulator], bytes]] = {
    "5000-open-brackets": lambda s: b"[" * 5000,
    "integer-of-5000-digits": lambda s: b'{"version": "1.0", "n": ' + b"7" * 5000 + b"}",
    "990-levels-in-a-valid-envelope": lambda s: launch_with(s, extra=nested(990)),
    "one-level-too-deep": lambda s: launch_with(s, extra=nested(MAX_JSON_DEPTH - 1)),
    "context-null": lambda s: launch_with(s, context=None),
    "context-list": lambda s: launch_with(s, context=[]),
    "system-list": lambda s: launch_with(s, context={"System": []}),
    "no-application": lambda s: launch_with(s, context={"System": {"user": {"userId": "u"}}}),
    "user-list": lambda s: launch_with(
        s, context={"System": {"application": {"applicationId": SKILL_ID}, "user": []}}
    ),
    "session-list": lambda s: launch_with(s, session=[]),
    "session-attributes-list": lambda s: launch_with(
        s, session={"new": True, "sessionId": "s", "attributes": []}
    ),
    "intent-missing": lambda s: intent_with(s, None),
    "intent-without-name": lambda s: intent_with(s, {"slots": {}}),
    "slots-list": lambda s: intent_with(s, {"name": "PairWatchIntent", "slots": []}),
}


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
@pytest.mark.parametrize("make_body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_body_no_alexa_would_send_is_a_400_signed_or_not(
    app: Flask,
    client: FlaskClient,
    speaker: AlexaSimulator,
    make_body: Callable[[AlexaSimulator], bytes],
    signed: bool,
) -> None:
    body = make_body(speaker)
    headers = speaker.ca.sign(body) if signed else {"Content-Type": "application/json"}

    response = client.post("/alexa", data=body, headers=headers)

    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_body"
    assert coach_of(app).store.get_user(speaker.user_id) is None


def test_nesting_up_to_the_limit_is_fine(speaker: AlexaSimulator) -> None:
    # The envelope itself is one level; `extra` sits at two, so this reaches the limit exactly.
    body = launch_with(speaker, extra=nested(MAX_JSON_DEPTH - 2))

    assert speaker.transport(body, speaker.ca.sign(body))[0] == 200


def test_brackets_inside_strings_do_not_count_as_nesting(speaker: AlexaSimulator) -> None:
    body = launch_with(speaker, extra="[{" * 2000 + '\\"' + "[" * 100)

    assert speaker.transport(body, speaker.ca.sign(body))[0] == 200


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"[]", 1),
        (b'{"a": [{"b": "[[[[["}]}', 3),
        (b'["\\"[[", [["\\\\"]]]', 3),
        (b"{}" * 50, 1),
    ],
)
def test_nesting_is_measured_outside_strings(text: bytes, depth: int) -> None:
    assert not nested_deeper_than(text, depth)
    assert nested_deeper_than(text, depth - 1)


# --- requests Alexa does send without a session -----------------------------------------------


def test_a_launch_without_a_session_is_answered(speaker: AlexaSimulator) -> None:
    body = launch_with(speaker, session=None)

    status, answer = speaker.transport(body, speaker.ca.sign(body))

    assert status == 200
    assert "Welcome to Sciatica Coach" in answer["response"]["outputSpeech"]["ssml"]
    assert "sessionAttributes" not in answer


def test_a_skill_disabled_event_without_a_user_id_gets_an_empty_answer(
    speaker: AlexaSimulator,
) -> None:
    envelope = speaker._envelope("skill_disabled")
    del envelope["context"]["System"]["user"]

    turn = speaker.send(envelope)

    assert turn.status == 200
    assert "outputSpeech" not in turn.body["response"]


def test_a_store_outage_during_skill_disabled_asks_alexa_to_send_it_again(
    app: Flask,
    speaker: AlexaSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def outage(user_id: str) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    speaker.launch()
    assert coach_of(app).store.get_user(speaker.user_id) is not None
    monkeypatch.setattr(coach_of(app), "forget", outage)

    with caplog.at_level(logging.ERROR):
        turn = speaker.disables_skill()

    assert turn.status == 503
    assert turn.body["error"] == "retry_later"
    assert any(r.exc_info and r.exc_info[0] is sqlite3.OperationalError for r in caplog.records)

    monkeypatch.undo()  # the store is back: the second delivery deletes the user
    assert speaker.disables_skill().status == 200
    assert coach_of(app).store.get_user(speaker.user_id) is None


def test_a_handler_failure_in_a_session_is_an_apology_with_a_way_forward(
    app: Flask, speaker: AlexaSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def outage(user_id: str) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(coach_of(app), "view", outage)

    turn = speaker.says("TimeLeftIntent")

    assert turn.status == 200
    assert "something went wrong" in turn.ssml
    assert turn.reprompt
    assert turn.body["sessionAttributes"] == {"pending": None}


# --- failures that are ours are 500s, in dev mode too -----------------------------------------


def broken_catch_all(monkeypatch: pytest.MonkeyPatch, app: Flask) -> None:
    """Make every request fail inside the skill, past verification, in a way the SDK reports."""

    def fail(handler_input: Any) -> Any:
        raise AskSdkException("a bug in the skill")

    def fail_too(self: Any, handler_input: Any, exception: Exception) -> Any:
        raise AskSdkException("a bug in the exception handler")

    monkeypatch.setattr(coach_of(app), "view", fail)
    monkeypatch.setattr(CatchAllExceptionHandler, "handle", fail_too)


@pytest.mark.parametrize("dev_mode", [False, True], ids=["verified", "dev-mode"])
def test_a_failure_inside_the_skill_is_a_500_not_blamed_on_the_body(
    app_config: dict[str, Any],
    speaker: AlexaSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    dev_mode: bool,
) -> None:
    app = create_app({**app_config, "TESTING": False, "DEV_SKIP_VERIFY": dev_mode})
    broken_catch_all(monkeypatch, app)
    body = json.dumps(speaker._envelope("launch")).encode()

    with caplog.at_level(logging.ERROR):
        response = app.test_client().post("/alexa", data=body, headers=speaker.ca.sign(body))

    assert response.status_code == 500
    assert response.is_json
    assert any(r.levelno >= logging.ERROR and r.exc_info for r in caplog.records)
    coach_of(app).store.close()


def test_dev_mode_still_refuses_another_skills_request(
    app_config: dict[str, Any], speaker: AlexaSimulator
) -> None:
    app = create_app({**app_config, "TESTING": False, "DEV_SKIP_VERIFY": True})
    envelope = speaker._envelope("launch")
    envelope["context"]["System"]["application"]["applicationId"] = "amzn1.ask.skill.other"
    body = json.dumps(envelope).encode()

    response = app.test_client().post("/alexa", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.get_json()["error"] == "wrong_application_id"
    coach_of(app).store.close()


def test_dev_mode_still_refuses_a_body_that_is_no_envelope(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "DEV_SKIP_VERIFY": True})

    response = app.test_client().post("/alexa", data=b'{"request": {"type": "LaunchRequest"}}')

    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_body"
    coach_of(app).store.close()


# --- logging ----------------------------------------------------------------------------------


def test_a_refused_request_logs_one_warning_and_no_sdk_traceback(
    client: FlaskClient, speaker: AlexaSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    speaker.skill_id = "amzn1.ask.skill.someone-else"

    with caplog.at_level(logging.DEBUG):
        assert speaker.launch().status == 400
        body = intent_with(speaker, "not-an-object")
        assert client.post("/alexa", data=body, headers=speaker.ca.sign(body)).status_code == 400

    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("wrong_application_id" in message for message in warnings)


# --- no skill id configured -------------------------------------------------------------------


def test_without_a_skill_id_the_app_runs_and_refuses_every_alexa_request(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    speaker: AlexaSimulator,
) -> None:
    for name in list(os.environ):
        if name.startswith("SCIATICA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SCIATICA_DB", str(tmp_path / "bare.sqlite3"))

    with caplog.at_level(logging.WARNING):
        app = create_app()
        client = app.test_client()
        health = client.get("/healthz")
        body = json.dumps(speaker._envelope("launch")).encode()
        refusals = [
            client.post("/alexa", data=body, headers=speaker.ca.sign(body)) for _ in range(2)
        ]

    assert health.status_code == 200
    for response in refusals:
        assert response.status_code == 400
        assert response.get_json()["error"] == "skill_id_not_configured"
    mentions = [r for r in caplog.records if "skill_id_not_configured" in r.getMessage()]
    at_start = [r for r in mentions if "every Alexa request will be refused" in r.getMessage()]
    assert len(at_start) == 1
    assert len(mentions) >= 1 + len(refusals)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    coach_of(app).store.close()


# -- Every refusal the issue lists, through POST /alexa: a logged 400 that no handler sees ---------


ECHO_API = "https://s3.amazonaws.com/echo.api/"

#: (headers, body) for one signed request; a case spoils it one way.
Request = tuple[dict[str, str], bytes]


@dataclasses.dataclass(frozen=True)
class World:
    """What a case needs: the speaker's envelope, the trusted CA and its broken variants."""

    speaker: AlexaSimulator
    ca: DemoCA
    expired: DemoCA
    unnamed: DemoCA
    impostor: DemoCA
    now: float

    def body(self, **changes: Any) -> bytes:
        envelope = self.speaker._envelope("launch")
        if "age_s" in changes:
            stamp = datetime.fromtimestamp(self.now - changes["age_s"], UTC)
            envelope["request"]["timestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        if "skill_id" in changes:
            envelope["context"]["System"]["application"]["applicationId"] = changes["skill_id"]
            envelope["session"]["application"]["applicationId"] = changes["skill_id"]
        return json.dumps(envelope).encode()

    def signed(self, ca: DemoCA | None = None, **changes: Any) -> Request:
        body = self.body(**changes)
        return (ca or self.ca).sign(body), body

    def with_url(self, url: str) -> Request:
        headers, body = self.signed()
        return {**headers, "SignatureCertChainUrl": url}, body

    def without(self, header: str) -> Request:
        headers, body = self.signed()
        del headers[header]
        return headers, body

    def tampered(self) -> Request:
        headers, body = self.signed()
        return headers, body.replace(b'"en-US"', b'"en-GB"')

    def signed_by_another_key(self) -> Request:
        body = self.body()
        return self.ca.sign(body, key=self.impostor.leaf_key), body


CASES: dict[str, tuple[Callable[[World], Request], str]] = {
    "http-cert-url": (
        lambda w: w.with_url("http://s3.amazonaws.com/echo.api/echo-api-cert-12.pem"),
        "bad_cert_url",
    ),
    "wrong-host": (
        lambda w: w.with_url("https://s3.example.com/echo.api/echo-api-cert-12.pem"),
        "bad_cert_url",
    ),
    "wrong-path": (
        lambda w: w.with_url("https://s3.amazonaws.com/other.api/echo-api-cert-12.pem"),
        "bad_cert_url",
    ),
    "dot-dot-out-of-echo-api": (
        lambda w: w.with_url("https://s3.amazonaws.com/echo.api/../echo-api-cert-12.pem"),
        "bad_cert_url",
    ),
    "wrong-port": (
        lambda w: w.with_url("https://s3.amazonaws.com:563/echo.api/echo-api-cert-12.pem"),
        "bad_cert_url",
    ),
    "expired-leaf": (lambda w: w.signed(w.expired), "cert_expired"),
    "leaf-without-san": (lambda w: w.signed(w.unnamed), "cert_san_mismatch"),
    "untrusted-root": (lambda w: w.signed(w.impostor), "untrusted_chain"),
    "tampered-body": (World.tampered, "bad_signature"),
    "signed-by-another-key": (World.signed_by_another_key, "bad_signature"),
    "no-cert-url-header": (lambda w: w.without("SignatureCertChainUrl"), "missing_header"),
    "no-signature-header": (lambda w: w.without("Signature-256"), "missing_header"),
    "151-s-old": (lambda w: w.signed(age_s=151), "stale_timestamp"),
    "151-s-ahead": (lambda w: w.signed(age_s=-151), "stale_timestamp"),
    "wrong-application-id": (
        lambda w: w.signed(skill_id="amzn1.ask.skill.someone-else"),
        "wrong_application_id",
    ),
}


@pytest.fixture
def world(
    guarded_app: Flask,
    guarded_speaker: AlexaSimulator,
    demo_ca: DemoCA,
    other_ca: DemoCA,
    demo_now: datetime,
    clock: ManualClock,
) -> World:
    cache = Path(guarded_app.config["ALEXA_CERT_CACHE"])

    def cached(ca: DemoCA, name: str) -> DemoCA:
        variant = dataclasses.replace(ca, cert_url=ECHO_API + name)
        variant.install_chain(cache)
        return variant

    expired = demo_ca.with_leaf(
        now=demo_now,
        not_before=demo_now - timedelta(days=30),
        not_after=demo_now - timedelta(seconds=1),
    )
    return World(
        speaker=guarded_speaker,
        ca=demo_ca,
        expired=cached(expired, "expired.pem"),
        unnamed=cached(demo_ca.with_leaf(now=demo_now, san=None), "no-san.pem"),
        impostor=cached(other_ca, "impostor.pem"),
        now=clock.now(),
    )


def test_the_unspoiled_request_is_accepted(world: World, guarded_app: Flask) -> None:
    headers, body = world.signed()

    response = guarded_app.test_client().post("/alexa", data=body, headers=headers)

    assert response.status_code == 200


@pytest.mark.parametrize("case", CASES)
def test_a_request_that_fails_verification_is_refused_logged_and_never_handled(
    case: str,
    world: World,
    guarded_app: Flask,
    downloads: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    spoil, reason = CASES[case]
    headers, body = spoil(world)

    with caplog.at_level(logging.WARNING):
        response = guarded_app.test_client().post("/alexa", data=body, headers=headers)

    assert response.status_code == 400
    assert response.get_json()["error"] == reason
    store = coach_of(guarded_app).store
    assert store.get_user(world.speaker.user_id) is None  # no handler saw the user
    assert store.load_run(world.speaker.user_id) is None
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(reason in message for message in logged), logged
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert downloads == []


# -- Whatever a client changes in a real envelope, POST /alexa answers 200 or 400, never 500 -------


TEMPLATES = {
    path.stem: json.loads(path.read_text("utf-8"))
    for path in [*FIXTURES.glob("*.json"), *FIXTURES.glob("intents/*.json")]
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON document a value sits, as a tuple of keys and indexes."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


@st.composite
def changed_envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A recorded envelope with one to three values replaced by arbitrary JSON, or removed."""
    envelope = copy.deepcopy(TEMPLATES[draw(st.sampled_from(sorted(TEMPLATES)))])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        where = draw(st.sampled_from([p for p in paths(envelope) if p]))
        parent = envelope
        for key in where[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[where[-1]]
        else:
            parent[where[-1]] = draw(json_values)
    return envelope


@pytest.fixture(params=[True, False], ids=["dev-mode", "verified"])
def lenient_app(request: pytest.FixtureRequest, app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app({**app_config, "TESTING": False, "DEV_SKIP_VERIFY": request.param})
    yield app
    coach_of(app).store.close()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(envelope=changed_envelopes())
def test_a_changed_envelope_is_answered_or_refused_never_a_500(
    lenient_app: Flask, demo_ca: DemoCA, envelope: dict[str, Any]
) -> None:
    body = json.dumps(envelope).encode()

    response = lenient_app.test_client().post("/alexa", data=body, headers=demo_ca.sign(body))

    assert response.status_code in (200, 400), response.get_data(as_text=True)
    assert response.is_json
