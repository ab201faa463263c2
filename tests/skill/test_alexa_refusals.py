"""Every refusal the issue lists, through POST /alexa: a logged 400 that no handler sees.

The app trusts the demo root; each broken chain is put in its cert cache under its own
URL, so nothing is ever downloaded (the `downloads` fixture would notice).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from sciatica_coach.app import coach_of
from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock

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
