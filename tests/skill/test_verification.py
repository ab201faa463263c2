"""Only requests Alexa really signed, for this skill, and just now, get through."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ask_sdk_core.dispatch_components import AbstractRequestHandler
from ask_sdk_core.skill_builder import SkillBuilder
from ask_sdk_webservice_support.verifier import VerificationException
from cryptography import x509
from flask import Flask
from flask_ask_sdk.skill_adapter import (
    VERIFY_SIGNATURE_APP_CONFIG,
    VERIFY_TIMESTAMP_APP_CONFIG,
    SkillAdapter,
)

from sciatica_coach.demo.demo_ca import DemoCA
from skill import verification
from skill.verification import (
    FAILED_URL_TTL_S,
    MAX_CHAIN_BYTES,
    AlexaRequestVerifier,
    RefuseAllVerifier,
    SkillAdapterVerifier,
    VerificationError,
    cache_file_name,
    download_chain,
    normalise_cert_url,
)
from tests.support.chain_server import TRICKLE_S, ChainServer

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
    body["context"] = {"System": {"application": application}}
    if in_session:
        body["session"] = {"new": True, "sessionId": "s", "application": dict(application)}
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
    spelled = "HTTPS://S3.AmazonAWS.com:443/echo.api/x/../echo-api-cert-12.pem"

    name = cache_file_name(normalise_cert_url(spelled))

    assert name == hashlib.sha256(CERT_URL.encode("utf-8")).hexdigest() + ".pem"


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


# --- remembering when a validated chain is valid ----------------------------------------------


class CountingPolicy:
    """Wraps the verifier's policy builder, noting each time a path is about to be validated."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.validations: list[datetime] = []

    def time(self, at: datetime) -> Any:
        self.validations.append(at)
        return self.policy.time(at)


def counting(verifier: AlexaRequestVerifier) -> CountingPolicy:
    policy = CountingPolicy(verifier._policy)
    verifier._policy = policy  # type: ignore[assignment]
    return policy


def outcome_at(verifier: AlexaRequestVerifier, ca: DemoCA, clock: FakeClock, at: datetime) -> str:
    """'accepted' or the refusal's reason, for a request signed and checked at `at`."""
    clock.now = at.timestamp()
    body = envelope(at=at)
    try:
        verifier.verify(ca.sign(body), body)
    except VerificationError as err:
        return err.reason
    return "accepted"


def test_a_validated_chain_is_not_validated_again_inside_its_window(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime, clock: FakeClock
) -> None:
    policy = counting(verifier)

    for seconds in (0, 1, 3600):
        assert outcome_at(verifier, demo_ca, clock, demo_now + timedelta(seconds=seconds)) == (
            "accepted"
        )

    assert policy.validations == [demo_now]


@pytest.mark.parametrize(
    ("edge", "offset_s", "expected"),
    [
        ("not_before", -1, "cert_expired"),
        ("not_before", 0, None),
        ("not_before", 1, "accepted"),
        ("not_after", -1, "accepted"),
        ("not_after", 0, None),
        ("not_after", 1, "cert_expired"),
        ("not_after", 86400, "cert_expired"),
    ],
)
def test_a_remembered_window_answers_as_a_fresh_validation_would(
    edge: str,
    offset_s: int,
    expected: str | None,
    make_verifier: Callable[..., AlexaRequestVerifier],
    demo_ca: DemoCA,
    demo_now: datetime,
    clock: FakeClock,
) -> None:
    """Before, at and after each edge of the leaf's validity, warm or cold, one answer."""
    leaf = demo_ca.leaf_cert
    bound = leaf.not_valid_before_utc if edge == "not_before" else leaf.not_valid_after_utc
    at = bound + timedelta(seconds=offset_s)
    warm = make_verifier()
    assert outcome_at(warm, demo_ca, clock, demo_now) == "accepted"  # its window is known now

    warm_answer = outcome_at(warm, demo_ca, clock, at)
    cold_answer = outcome_at(make_verifier(), demo_ca, clock, at)

    assert warm_answer == cold_answer
    if expected is not None:
        assert warm_answer == expected


def test_a_window_that_has_passed_is_refused_at_the_next_request_and_after(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime, clock: FakeClock
) -> None:
    after = demo_ca.leaf_cert.not_valid_after_utc + timedelta(seconds=1)
    assert outcome_at(verifier, demo_ca, clock, demo_now) == "accepted"

    assert outcome_at(verifier, demo_ca, clock, after) == "cert_expired"
    assert outcome_at(verifier, demo_ca, clock, after + timedelta(days=1)) == "cert_expired"
    # A clock put back inside the window finds the chain good again, as a fresh check would.
    assert outcome_at(verifier, demo_ca, clock, demo_now) == "accepted"


@pytest.mark.parametrize("spoil", ["expired", "not-yet-valid", "wrong-san", "untrusted"])
def test_a_chain_that_failed_validation_is_validated_again_every_time(
    spoil: str,
    make_verifier: Callable[..., AlexaRequestVerifier],
    demo_ca: DemoCA,
    other_ca: DemoCA,
    demo_now: datetime,
    clock: FakeClock,
) -> None:
    ca = {
        "expired": demo_ca.with_leaf(
            now=demo_now, not_before=demo_now - timedelta(days=30), not_after=demo_now
        ),
        "not-yet-valid": demo_ca.with_leaf(now=demo_now, not_before=demo_now + timedelta(hours=1)),
        "wrong-san": demo_ca.with_leaf(now=demo_now, san="evil.example.com"),
        "untrusted": other_ca,
    }[spoil]
    verifier = make_verifier(chain_from=ca)
    policy = counting(verifier)
    later = demo_now + timedelta(seconds=1)

    first = outcome_at(verifier, ca, clock, later)
    second = outcome_at(verifier, ca, clock, later)

    assert first == second != "accepted"
    assert len(policy.validations) == 2


def test_a_window_found_under_one_trust_store_is_not_used_under_another(
    tmp_path: Path,
    cert_dir: Path,
    demo_ca: DemoCA,
    other_ca: DemoCA,
    demo_now: datetime,
    clock: FakeClock,
) -> None:
    """Two verifiers share the chain files on disk, never what they found out about them."""
    demo_ca.install_chain(cert_dir)

    def trusting(ca: DemoCA) -> AlexaRequestVerifier:
        return AlexaRequestVerifier(
            skill_id=SKILL_ID,
            ca_file=ca.write_root(tmp_path / f"{id(ca)}.pem"),
            cert_cache_dir=cert_dir,
            clock=clock,
            fetch=refuse_fetch,
        )

    assert outcome_at(trusting(demo_ca), demo_ca, clock, demo_now) == "accepted"
    assert outcome_at(trusting(other_ca), demo_ca, clock, demo_now) == "untrusted_chain"
    assert verification._fingerprint([demo_ca.intermediate_cert]) != verification._fingerprint(
        [x509.load_pem_x509_certificate(demo_ca.root_pem())]
    )


def test_only_so_many_windows_are_remembered_the_least_recently_used_forgotten_first(
    monkeypatch: pytest.MonkeyPatch,
    verifier: AlexaRequestVerifier,
    demo_ca: DemoCA,
    demo_now: datetime,
    cert_dir: Path,
    clock: FakeClock,
) -> None:
    monkeypatch.setattr(verification, "MAX_VALID_WINDOWS", 2)
    urls = [made_up_url(f"chain-{n}") for n in range(3)]
    for url in urls:
        (cert_dir / cache_file_name(url)).write_bytes(demo_ca.chain_pem())
    policy = counting(verifier)
    body = envelope(at=demo_now)

    def verify_with(url: str) -> None:
        verifier.verify({**demo_ca.sign(body), "SignatureCertChainUrl": url}, body)

    for url in [urls[0], urls[1], urls[0], urls[2]]:  # urls[1] is the least recently used
        verify_with(url)
    assert len(policy.validations) == 3
    verify_with(urls[0])
    verify_with(urls[2])
    assert len(policy.validations) == 3
    verify_with(urls[1])
    assert len(policy.validations) == 4


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


class FailingFetch:
    """A download that never works (a made-up URL, S3 down), remembering who asked."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        raise TimeoutError("timed out")


def made_up_url(name: str) -> str:
    return f"https://s3.amazonaws.com/echo.api/{name}.pem"


def test_a_failed_download_is_refused(
    make_verifier: Callable[..., AlexaRequestVerifier], demo_ca: DemoCA, demo_now: datetime
) -> None:
    verifier = make_verifier(chain_from=None, fetch=FailingFetch())
    body = envelope(at=demo_now)

    assert reason_for(verifier, demo_ca.sign(body), body) == "cert_fetch_failed"


def test_a_cache_file_too_large_to_be_a_chain_is_refused_unread(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime, cert_dir: Path
) -> None:
    padded = demo_ca.chain_pem() + b"\n" * MAX_CHAIN_BYTES
    (cert_dir / cache_file_name(CERT_URL)).write_bytes(padded)
    body = envelope(at=demo_now)

    assert reason_for(verifier, demo_ca.sign(body), body) == "bad_cert_chain"


def _spoiled(demo_ca: DemoCA, demo_now: datetime, spoil: str) -> tuple[dict[str, str], bytes]:
    """A request for a made-up chain URL with one cheap-to-spot fault."""
    at = demo_now - timedelta(seconds=600) if spoil == "stale-timestamp" else demo_now
    app = "amzn1.ask.skill.someone-else" if spoil == "wrong-application" else SKILL_ID
    body = b"{not json" if spoil == "not-json" else envelope(at=at, application_id=app)
    headers = {**demo_ca.sign(body), "SignatureCertChainUrl": made_up_url("made-up-1")}
    if spoil == "no-signature":
        del headers["Signature-256"]
    if spoil == "signature-not-base64":
        headers["Signature-256"] = "%%%"
    if spoil == "bad-url":
        headers["SignatureCertChainUrl"] = "https://s3.amazonaws.com/elsewhere/made-up-1.pem"
    return headers, body


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        ("no-signature", "missing_header"),
        ("signature-not-base64", "bad_signature"),
        ("bad-url", "bad_cert_url"),
        ("not-json", "malformed_body"),
        ("stale-timestamp", "stale_timestamp"),
        ("wrong-application", "wrong_application_id"),
    ],
)
def test_a_junk_request_is_refused_before_anything_is_downloaded(
    spoil: str,
    reason: str,
    make_verifier: Callable[..., AlexaRequestVerifier],
    demo_ca: DemoCA,
    demo_now: datetime,
) -> None:
    fetch = FailingFetch()
    verifier = make_verifier(chain_from=None, fetch=fetch)
    headers, body = _spoiled(demo_ca, demo_now, spoil)

    assert reason_for(verifier, headers, body) == reason
    assert fetch.urls == []


def test_a_url_that_failed_is_not_fetched_again_until_the_pause_is_over(
    make_verifier: Callable[..., AlexaRequestVerifier],
    demo_ca: DemoCA,
    demo_now: datetime,
    clock: FakeClock,
) -> None:
    fetch = FailingFetch()
    verifier = make_verifier(chain_from=None, fetch=fetch)

    for _ in range(3):
        body = envelope(at=datetime.fromtimestamp(clock.now, UTC))
        assert reason_for(verifier, demo_ca.sign(body), body) == "cert_fetch_failed"
    assert fetch.urls == [CERT_URL]

    clock.now += FAILED_URL_TTL_S
    body = envelope(at=datetime.fromtimestamp(clock.now, UTC))
    assert reason_for(verifier, demo_ca.sign(body), body) == "cert_fetch_failed"
    assert fetch.urls == [CERT_URL, CERT_URL]


def test_only_so_many_failed_urls_are_remembered(
    monkeypatch: pytest.MonkeyPatch,
    make_verifier: Callable[..., AlexaRequestVerifier],
    demo_ca: DemoCA,
    demo_now: datetime,
) -> None:
    monkeypatch.setattr(verification, "MAX_FAILED_URLS", 3)
    fetch = FailingFetch()
    verifier = make_verifier(chain_from=None, fetch=fetch)
    body = envelope(at=demo_now)
    urls = [made_up_url(f"made-up-{n}") for n in range(4)]

    for url in [*urls, urls[-1], urls[0]]:
        headers = {**demo_ca.sign(body), "SignatureCertChainUrl": url}
        assert reason_for(verifier, headers, body) == "cert_fetch_failed"

    # The newest failure is still remembered; the oldest was forgotten and tried again.
    assert fetch.urls == [*urls, urls[0]]


def test_a_slow_download_does_not_hold_up_requests_for_another_chain(
    make_verifier: Callable[..., AlexaRequestVerifier], demo_ca: DemoCA, demo_now: datetime
) -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def fetch(url: str) -> bytes:
        if url == made_up_url("slow"):
            started.set()
            release.wait(5)
            finished.set()
            raise TimeoutError("S3 is slow today")
        return demo_ca.chain_pem()

    verifier = make_verifier(chain_from=None, fetch=fetch)
    body = envelope(at=demo_now)
    slow_headers = {**demo_ca.sign(body), "SignatureCertChainUrl": made_up_url("slow")}
    slow = threading.Thread(target=reason_for_quietly, args=(verifier, slow_headers, body))
    slow.start()
    try:
        assert started.wait(5)
        verifier.verify(demo_ca.sign(body), body)  # another URL: downloads while "slow" hangs
        assert not finished.is_set()
    finally:
        release.set()
        slow.join(5)


def reason_for_quietly(
    verifier: AlexaRequestVerifier, headers: dict[str, str], body: bytes
) -> None:
    with contextlib.suppress(VerificationError):
        verifier.verify(headers, body)


def test_without_a_skill_id_every_request_is_refused(demo_ca: DemoCA, demo_now: datetime) -> None:
    body = envelope(at=demo_now)

    with pytest.raises(VerificationError) as refused:
        RefuseAllVerifier().verify(demo_ca.sign(body), body)

    assert refused.value.reason == "skill_id_not_configured"


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


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[" * 5000, b'{"request": {"n": ' + b"7" * 5000 + b"}}"],
    ids=["broken", "deeply-nested", "huge-integer"],
)
def test_a_signed_body_that_is_not_json_is_refused(
    body: bytes, verifier: AlexaRequestVerifier, demo_ca: DemoCA
) -> None:
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


def test_a_request_in_a_session_names_the_skill_in_context_and_session(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime
) -> None:
    body = envelope(at=demo_now, in_session=True)

    assert verifier.verify(demo_ca.sign(body), body)["session"]["new"] is True


def test_a_session_naming_another_skill_is_refused(
    verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime
) -> None:
    data = json.loads(envelope(at=demo_now, in_session=True))
    data["session"]["application"]["applicationId"] = "amzn1.ask.skill.someone-else"
    body = json.dumps(data).encode()

    assert reason_for(verifier, demo_ca.sign(body), body) == "wrong_application_id"


@pytest.mark.parametrize(
    "context",
    [None, [], {}, {"System": []}, {"System": {}}, {"System": {"application": "x"}}],
    ids=["null", "list", "empty", "system-list", "no-application", "application-string"],
)
def test_the_application_id_must_be_in_context_even_if_the_session_has_it(
    context: Any, verifier: AlexaRequestVerifier, demo_ca: DemoCA, demo_now: datetime
) -> None:
    # Alexa puts context.System.application in every request, skill events included.
    data = json.loads(envelope(at=demo_now, in_session=True))
    data["context"] = context
    body = json.dumps(data).encode()

    assert reason_for(verifier, demo_ca.sign(body), body) == "wrong_application_id"


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


# -- Fetching a chain over a real socket: small, direct and quick, or not at all ----------


DEADLINE_S = 0.4
#: Slack for a loaded machine; a per-read timeout would let a trickle run for minutes.
SLACK_S = 1.0


def test_a_chain_is_downloaded_whole(chain_server: ChainServer) -> None:
    assert download_chain(chain_server.url("/chain.pem")) == chain_server.payload


def test_a_response_declaring_more_than_the_cap_is_refused(chain_server: ChainServer) -> None:
    with pytest.raises(ValueError, match="over"):
        download_chain(chain_server.url("/declared-too-big.pem"))


def test_a_body_without_a_length_is_cut_off_at_the_cap(chain_server: ChainServer) -> None:
    with pytest.raises(ValueError, match="over"):
        download_chain(chain_server.url("/endless.pem"))


def test_a_redirect_is_refused_and_not_followed(chain_server: ChainServer) -> None:
    with pytest.raises(ValueError, match="302"):
        download_chain(chain_server.url("/redirect.pem"))

    assert chain_server.paths == ["/redirect.pem"]


def test_an_error_status_is_refused(chain_server: ChainServer) -> None:
    with pytest.raises(ValueError, match="404"):
        download_chain(chain_server.url("/missing.pem"))


@pytest.mark.parametrize("path", ["/trickle-body.pem", "/trickle-headers.pem"])
def test_a_trickling_server_is_cut_off_at_the_total_deadline(
    chain_server: ChainServer, path: str
) -> None:
    # Each byte arrives well within any per-read timeout; only a total deadline stops this.
    assert TRICKLE_S < DEADLINE_S / 4
    start = time.monotonic()

    with pytest.raises(TimeoutError):
        download_chain(chain_server.url(path), deadline_s=DEADLINE_S)

    assert time.monotonic() - start < DEADLINE_S + SLACK_S


def test_nothing_but_http_and_https_is_fetched() -> None:
    with pytest.raises(ValueError, match="cannot download"):
        download_chain("file:///etc/passwd")
