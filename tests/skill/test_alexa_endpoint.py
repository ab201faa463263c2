"""POST /alexa: every recorded envelope is answered; every bad request is a 400, never a 500."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sciatica_coach import create_app
from sciatica_coach.app import coach_of
from shared.clock import ManualClock
from skill.demo_ca import DemoCA
from skill.simulator import AlexaSimulator

FIXTURES = Path(__file__).parents[1] / "fixtures" / "alexa"
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
