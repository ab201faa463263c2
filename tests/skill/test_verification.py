"""Only requests Alexa really signed, for this skill, and just now, get through."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ask_sdk_core.dispatch_components import AbstractRequestHandler
from ask_sdk_core.skill_builder import SkillBuilder
from ask_sdk_webservice_support.verifier import VerificationException
from flask import Flask
from flask_ask_sdk.skill_adapter import (
    VERIFY_SIGNATURE_APP_CONFIG,
    VERIFY_TIMESTAMP_APP_CONFIG,
    SkillAdapter,
)

from skill.demo_ca import DemoCA
from skill.verification import (
    MAX_CHAIN_BYTES,
    AlexaRequestVerifier,
    SkillAdapterVerifier,
    VerificationError,
    cache_file_name,
    normalise_cert_url,
)

SKILL_ID = "amzn1.ask.skill.test"
CERT_URL = "https://s3.amazonaws.com/echo.api/echo-api-cert-12.pem"


class FakeClock:
    """Wall time that only moves when a test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def envelope(
    *,
    at: datetime,
    request_type: str = "IntentRequest",
    application_id: str = SKILL_ID,
    in_session: bool = False,
) -> bytes:
    """The smallest request body Alexa would send, serialised as it would arrive."""
    application = {"applicationId": application_id}
    body: dict[str, Any] = {
        "version": "1.0",
        "request": {
            "type": request_type,
            "requestId": "amzn1.echo-api.request.test",
            "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "locale": "en-GB",
        },
    }
    if in_session:
        body["session"] = {"new": True, "sessionId": "s", "application": application}
    else:
        body["context"] = {"System": {"application": application}}
    return json.dumps(body).encode("utf-8")


def refuse_fetch(url: str) -> bytes:
    raise AssertionError(f"the verifier should not have downloaded {url}")


@pytest.fixture
def clock(demo_now: datetime) -> FakeClock:
    return FakeClock(demo_now.timestamp())


@pytest.fixture
def cert_dir(tmp_path: Path) -> Path:
    return tmp_path / "certs"


@pytest.fixture
def make_verifier(
    tmp_path: Path, cert_dir: Path, demo_ca: DemoCA, clock: FakeClock
) -> Callable[..., AlexaRequestVerifier]:
    """Build a verifier trusting demo_ca, with `chain_from`'s chain already in its cache dir."""

    def build(
        *, chain_from: DemoCA | None = demo_ca, fetch: Callable[[str], bytes] = refuse_fetch
    ) -> AlexaRequestVerifier:
        if chain_from is not None:
            chain_from.install_chain(cert_dir)
        return AlexaRequestVerifier(
            skill_id=SKILL_ID,
            ca_file=demo_ca.write_root(tmp_path / "root.pem"),
            cert_cache_dir=cert_dir,
            clock=clock,
            fetch=fetch,
        )

    return build


@pytest.fixture
def verifier(make_verifier: Callable[..., AlexaRequestVerifier]) -> AlexaRequestVerifier:
    return make_verifier()


def reason_for(verifier: AlexaRequestVerifier, headers: dict[str, str], body: bytes) -> str:
    with pytest.raises(VerificationError) as refused:
        verifier.verify(headers, body)
    return refused.value.reason


# --- the happy path ---------------------------------------------------------------------------


def test_a_request_alexa_signed_is_accepted_and_its_body_returned(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now)

    assert verifier.verify(demo_ca.sign(body), body) == json.loads(body)


def test_header_names_are_matched_case_insensitively(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now)
    headers = {name.lower(): value for name, value in demo_ca.sign(body).items()}

    assert verifier.verify(headers, body)["request"]["type"] == "IntentRequest"


# --- the cert chain URL -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        (CERT_URL, CERT_URL),
        ("HTTPS://S3.AmazonAWS.com/echo.api/echo-api-cert-12.pem", CERT_URL),
        ("https://s3.amazonaws.com:443/echo.api/echo-api-cert-12.pem", CERT_URL),
        ("https://s3.amazonaws.com/echo.api/../echo.api/echo-api-cert-12.pem", CERT_URL),
        ("https://s3.amazonaws.com/echo.api/./echo-api-cert-12.pem", CERT_URL),
        ("https://s3.amazonaws.com/echo.api//echo-api-cert-12.pem", CERT_URL),
    ],
)
def test_cert_urls_are_normalised_to_one_spelling(given: str, normalised: str) -> None:
    assert normalise_cert_url(given) == normalised


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://s3.amazonaws.com/echo.api/echo-api-cert.pem", id="http"),
        pytest.param("https://notamazon.com/echo.api/echo-api-cert.pem", id="wrong-host"),
        pytest.param("https://s3.amazonaws.com.evil.com/echo.api/cert.pem", id="host-suffix"),
        pytest.param("https://s3.amazonaws.com@evil.com/echo.api/cert.pem", id="userinfo-host"),
        pytest.param("https://me@s3.amazonaws.com/echo.api/cert.pem", id="userinfo"),
        pytest.param("https://s3.amazonaws.com/EcHo.aPi/echo-api-cert.pem", id="path-case"),
        pytest.param("https://s3.amazonaws.com/invalid.path/echo-api-cert.pem", id="wrong-path"),
        pytest.param("https://s3.amazonaws.com/echo.api.evil/cert.pem", id="prefix-lookalike"),
        pytest.param("https://s3.amazonaws.com/echo.api/../invalid.pem", id="dot-dot-escape"),
        pytest.param("https://s3.amazonaws.com/echo.api/%2e%2e/invalid.pem", id="escaped-dots"),
        pytest.param("https://s3.amazonaws.com//echo.api/cert.pem", id="double-slash"),
        pytest.param("https://s3.amazonaws.com/echo.api/", id="directory"),
        pytest.param("https://s3.amazonaws.com:8443/echo.api/echo-api-cert.pem", id="port"),
        pytest.param("https://s3.amazonaws.com:x/echo.api/echo-api-cert.pem", id="bad-port"),
        pytest.param("https://s3.amazonaws.com/echo.api/cert.pem?v=1", id="query"),
        pytest.param("https://s3.amazonaws.com/echo.api/cert.pem#x", id="fragment"),
    ],
)
def test_cert_urls_outside_amazons_echo_api_folder_are_refused(
    url: str, verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now)
    headers = {**demo_ca.sign(body), "SignatureCertChainUrl": url}

    assert reason_for(verifier, headers, body) == "bad_cert_url"


def test_cache_file_is_named_by_the_sha256_of_the_normalised_url() -> None:
    name = cache_file_name(CERT_URL)

    assert name.endswith(".pem")
    assert len(name) == 64 + len(".pem")
    assert name != cache_file_name(CERT_URL.replace("12", "13"))


# --- the certificate chain --------------------------------------------------------------------


def test_an_expired_signing_cert_is_refused(
    make_verifier: Callable[..., AlexaRequestVerifier], demo_ca: DemoCA, demo_now: datetime
) -> None:
    expired = demo_ca.with_leaf(
        now=demo_now,
        not_before=demo_now - timedelta(days=30),
        not_after=demo_now - timedelta(seconds=1),
    )
    body = envelope(at=demo_now)

    assert reason_for(make_verifier(chain_from=expired), expired.sign(body), body) == "cert_expired"


def test_a_signing_cert_not_yet_valid_is_refused(
    make_verifier: Callable[..., AlexaRequestVerifier], demo_ca: DemoCA, demo_now: datetime
) -> None:
    early = demo_ca.with_leaf(now=demo_now, not_before=demo_now + timedelta(hours=1))
    body = envelope(at=demo_now)

    assert reason_for(make_verifier(chain_from=early), early.sign(body), body) == "cert_expired"


@pytest.mark.parametrize("san", [None, "evil.example.com"], ids=["no-san", "wrong-san"])
def test_a_signing_cert_not_naming_echo_api_is_refused(
    san: str | None,
    make_verifier: Callable[..., AlexaRequestVerifier],
    demo_ca: DemoCA,
    demo_now: datetime,
) -> None:
    unnamed = demo_ca.with_leaf(now=demo_now, san=san)
    body = envelope(at=demo_now)

    reason = reason_for(make_verifier(chain_from=unnamed), unnamed.sign(body), body)

    assert reason == "cert_san_mismatch"


def test_a_chain_from_an_untrusted_ca_is_refused(
    make_verifier: Callable[..., AlexaRequestVerifier], other_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now)

    reason = reason_for(make_verifier(chain_from=other_ca), other_ca.sign(body), body)

    assert reason == "untrusted_chain"


def test_a_cached_chain_that_has_since_expired_is_refused(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime, clock: FakeClock
) -> None:
    first = envelope(at=demo_now)
    verifier.verify(demo_ca.sign(first), first)  # the chain is now cached in memory

    later = demo_ca.leaf_cert.not_valid_after_utc + timedelta(seconds=1)
    clock.now = later.timestamp()
    body = envelope(at=later)

    assert reason_for(verifier, demo_ca.sign(body), body) == "cert_expired"


def test_a_cache_dir_that_holds_garbage_is_refused(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime, cert_dir: Path
) -> None:
    (cert_dir / cache_file_name(CERT_URL)).write_bytes(b"not a certificate")
    body = envelope(at=demo_now)

    assert reason_for(verifier, demo_ca.sign(body), body) == "bad_cert_chain"


# --- fetching and caching chains --------------------------------------------------------------


class CountingFetch:
    """Serves one fixed payload and remembers who asked."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.urls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        return self.payload


def test_a_chain_in_the_cache_dir_is_used_without_downloading(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now)

    verifier.verify(demo_ca.sign(body), body)  # refuse_fetch would raise


def test_a_chain_is_downloaded_once_then_served_from_memory_and_disk(
    make_verifier: Callable[..., AlexaRequestVerifier],
    demo_ca: DemoCA,
    demo_now: datetime,
    cert_dir: Path,
) -> None:
    fetch = CountingFetch(demo_ca.chain_pem())
    verifier = make_verifier(chain_from=None, fetch=fetch)
    body = envelope(at=demo_now)

    verifier.verify(demo_ca.sign(body), body)
    verifier.verify(demo_ca.sign(body), body)

    assert fetch.urls == [CERT_URL]
    assert (cert_dir / cache_file_name(CERT_URL)).read_bytes() == demo_ca.chain_pem()
    make_verifier(chain_from=None).verify(demo_ca.sign(body), body)  # a restart reuses the file


def test_the_chain_is_fetched_from_the_normalised_url(
    make_verifier: Callable[..., AlexaRequestVerifier], demo_ca: DemoCA, demo_now: datetime
) -> None:
    fetch = CountingFetch(demo_ca.chain_pem())
    verifier = make_verifier(chain_from=None, fetch=fetch)
    body = envelope(at=demo_now)
    headers = {
        **demo_ca.sign(body),
        "SignatureCertChainUrl": "HTTPS://S3.amazonaws.com:443/echo.api/x/../echo-api-cert-12.pem",
    }

    verifier.verify(headers, body)

    assert fetch.urls == [CERT_URL]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(b"-" * (MAX_CHAIN_BYTES + 1), "cert_fetch_failed", id="oversized"),
        pytest.param(b"<Error>AccessDenied</Error>", "bad_cert_chain", id="not-pem"),
    ],
)
def test_a_download_that_is_not_a_chain_is_refused_and_not_cached(
    payload: bytes,
    reason: str,
    make_verifier: Callable[..., AlexaRequestVerifier],
    demo_ca: DemoCA,
    demo_now: datetime,
    cert_dir: Path,
) -> None:
    verifier = make_verifier(chain_from=None, fetch=CountingFetch(payload))
    body = envelope(at=demo_now)

    assert reason_for(verifier, demo_ca.sign(body), body) == reason
    assert not (cert_dir / cache_file_name(CERT_URL)).exists()


def test_a_failed_download_is_refused(
    make_verifier: Callable[..., AlexaRequestVerifier], demo_ca: DemoCA, demo_now: datetime
) -> None:
    def unreachable(url: str) -> bytes:
        raise TimeoutError("timed out")

    verifier = make_verifier(chain_from=None, fetch=unreachable)
    body = envelope(at=demo_now)

    assert reason_for(verifier, demo_ca.sign(body), body) == "cert_fetch_failed"


# --- the signature ----------------------------------------------------------------------------


def test_a_body_changed_after_signing_is_refused(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now)
    tampered = body.replace(b"IntentRequest", b"LaunchRequest")

    assert reason_for(verifier, demo_ca.sign(body), tampered) == "bad_signature"


def test_a_body_signed_by_another_key_is_refused(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, other_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now)

    headers = demo_ca.sign(body, key=other_ca.leaf_key)

    assert reason_for(verifier, headers, body) == "bad_signature"


def test_a_signature_that_is_not_base64_is_refused(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now)
    headers = {**demo_ca.sign(body), "Signature-256": "not base64!"}

    assert reason_for(verifier, headers, body) == "bad_signature"


def test_the_legacy_sha1_signature_header_is_not_enough(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now)
    headers = demo_ca.sign(body)
    headers["Signature"] = headers.pop("Signature-256")

    assert reason_for(verifier, headers, body) == "missing_header"


@pytest.mark.parametrize("header", ["SignatureCertChainUrl", "Signature-256"])
def test_a_request_missing_a_signature_header_is_refused(
    header: str, verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now)
    headers = demo_ca.sign(body)
    del headers[header]

    assert reason_for(verifier, headers, body) == "missing_header"


def test_a_signed_body_that_is_not_json_is_refused(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA
) -> None:
    body = b"{not json"

    assert reason_for(verifier, demo_ca.sign(body), body) == "malformed_body"


# --- the timestamp ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_type", "age_s", "accepted"),
    [
        ("IntentRequest", 150, True),
        ("IntentRequest", -150, True),
        ("IntentRequest", 151, False),
        ("IntentRequest", -151, False),
        ("AlexaSkillEvent.SkillDisabled", 3000, True),
        ("AlexaSkillEvent.SkillDisabled", 3601, False),
        ("LaunchRequest", 3000, False),
    ],
)
def test_requests_must_be_recent_and_skill_events_get_an_hour(
    request_type: str,
    age_s: int,
    accepted: bool,
    verifier: AlexaRequestVerifier,
    demo_ca: DemoCA,
    demo_now: datetime,
) -> None:
    body = envelope(at=demo_now - timedelta(seconds=age_s), request_type=request_type)

    if accepted:
        verifier.verify(demo_ca.sign(body), body)
    else:
        assert reason_for(verifier, demo_ca.sign(body), body) == "stale_timestamp"


def test_a_request_without_a_timestamp_is_refused(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA
) -> None:
    body = json.dumps({"request": {"type": "IntentRequest"}}).encode()

    assert reason_for(verifier, demo_ca.sign(body), body) == "malformed_body"


# --- the application id -----------------------------------------------------------------------


def test_a_request_for_another_skill_is_refused(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now, application_id="amzn1.ask.skill.someone-else")

    assert reason_for(verifier, demo_ca.sign(body), body) == "wrong_application_id"


def test_the_application_id_may_come_from_the_session(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now, in_session=True)

    assert verifier.verify(demo_ca.sign(body), body)["session"]["new"] is True


# --- plugging into flask-ask-sdk --------------------------------------------------------------


class SayOk(AbstractRequestHandler):
    def can_handle(self, handler_input: Any) -> bool:
        return True

    def handle(self, handler_input: Any) -> Any:
        return handler_input.response_builder.speak("ok").response


@pytest.fixture
def skill_app(verifier: AlexaRequestVerifier) -> Flask:
    """A Flask app where our verifier replaces the SDK's own (SHA-1, network-bound) ones."""
    builder = SkillBuilder()
    builder.add_request_handler(SayOk())
    app = Flask(__name__)
    app.config[VERIFY_SIGNATURE_APP_CONFIG] = False
    app.config[VERIFY_TIMESTAMP_APP_CONFIG] = False
    adapter = SkillAdapter(
        skill=builder.create(),
        skill_id=SKILL_ID,
        verifiers=[SkillAdapterVerifier(verifier)],
        app=app,
    )
    adapter.register(app=app, route="/alexa")
    return app


def test_the_skill_adapter_answers_a_signed_request_with_non_ascii_text(
    skill_app: Flask, demo_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now).replace(b'"en-GB"', '"en-GB", "note": "Grüße"'.encode())

    response = skill_app.test_client().post("/alexa", data=body, headers=demo_ca.sign(body))

    assert response.status_code == 200
    assert "ok" in response.get_data(as_text=True)


def test_the_skill_adapter_rejects_a_tampered_request(
    skill_app: Flask, demo_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now)
    headers = demo_ca.sign(body)

    response = skill_app.test_client().post("/alexa", data=body + b" ", headers=headers)

    assert response.status_code == 400


def test_the_adapter_verifier_raises_the_sdk_exception_with_our_reason(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now, application_id="amzn1.ask.skill.someone-else")

    with pytest.raises(VerificationException) as refused:
        SkillAdapterVerifier(verifier).verify(demo_ca.sign(body), body.decode(), None)

    assert refused.value.reason == "wrong_application_id"
