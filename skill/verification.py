"""Proof that a request really came from Alexa, as Amazon requires of skills on web services.

Checked on every request, in this order: the cert chain URL, the chain itself (path
validation to a trusted root, leaf valid now and naming echo-api.amazon.com), the
`Signature-256` RSA/SHA-256 signature over the raw body, then (only once the body is known
to be Amazon's) the request timestamp and the application id.

Cert chain URL policy: only `https://s3.amazonaws.com[:443]/echo.api/<file>` is accepted.
Scheme and host are case-insensitive, the path is case-sensitive and dot segments are
resolved before the `/echo.api/` prefix is checked. URLs with a query, fragment, user info,
percent-escapes or a trailing slash are refused (Amazon never sends them, and refusing them
keeps one canonical cache key per chain). The chain is always fetched from the normalised
URL, so what is downloaded is exactly what was checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http.client
import json
import logging
import os
import posixpath
import re
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi
from ask_sdk_webservice_support.verifier import AbstractVerifier, VerificationException
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import verification as x509_verification

logger = logging.getLogger(__name__)

ALEXA_CERT_DOMAIN = "echo-api.amazon.com"
CERT_URL_HEADER = "SignatureCertChainUrl"
SIGNATURE_HEADER = "Signature-256"

#: Allowed clock difference for ordinary requests, and for skill events Amazon may redeliver.
TIMESTAMP_TOLERANCE_S = 150
SKILL_EVENT_TIMESTAMP_TOLERANCE_S = 3600
SKILL_EVENT_PREFIX = "AlexaSkillEvent."

#: Amazon's chains are ~4 KiB; anything this large is not one.
MAX_CHAIN_BYTES = 64 * 1024
FETCH_TIMEOUT_S = 3.0

_CERT_HOST = "s3.amazonaws.com"
_CERT_PATH_PREFIX = "/echo.api/"
# RFC 3986 pchar minus "%": escapes would let one file hide behind many spellings.
_SAFE_PATH = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/-]+")
_PEM_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)


class VerificationError(Exception):
    """A refused request; `reason` is a stable code for metrics, str() is for humans.

    Reasons: missing_header, bad_cert_url, cert_fetch_failed, bad_cert_chain, cert_expired,
    cert_san_mismatch, untrusted_chain, bad_signature, malformed_body, stale_timestamp,
    wrong_application_id.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class _Chain:
    leaf: x509.Certificate
    intermediates: list[x509.Certificate]


def normalise_cert_url(url: str) -> str:
    """Reduce a SignatureCertChainUrl to the one spelling we fetch and cache, or refuse it."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as err:
        raise VerificationError("bad_cert_url", f"unparseable cert URL {url!r}") from err
    if parts.scheme.lower() != "https":
        raise VerificationError("bad_cert_url", f"cert URL must use https: {url!r}")
    if (parts.hostname or "") != _CERT_HOST or parts.username is not None:
        raise VerificationError("bad_cert_url", f"cert URL must be on {_CERT_HOST}: {url!r}")
    if port not in (None, 443):
        raise VerificationError("bad_cert_url", f"cert URL must use port 443: {url!r}")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise VerificationError("bad_cert_url", f"cert URL must not have a query: {url!r}")
    if not _SAFE_PATH.fullmatch(parts.path) or parts.path.endswith("/"):
        raise VerificationError("bad_cert_url", f"cert URL path is not a plain file: {url!r}")
    path = posixpath.normpath(parts.path)
    # normpath keeps a leading "//", which must not pass as "/".
    if not path.startswith(_CERT_PATH_PREFIX) or path.startswith("//"):
        raise VerificationError("bad_cert_url", f"cert URL must be under /echo.api/: {url!r}")
    return f"https://{_CERT_HOST}{path}"


def cache_file_name(normalised_url: str) -> str:
    """Hash the URL so any accepted path maps to one safe, flat file name."""
    return hashlib.sha256(normalised_url.encode("utf-8")).hexdigest() + ".pem"


def load_trusted_roots(ca_file: str | os.PathLike[str] | None = None) -> list[x509.Certificate]:
    """Load roots one by one so a single odd certificate in a bundle cannot sink the rest."""
    path = Path(ca_file) if ca_file else Path(certifi.where())
    roots: list[x509.Certificate] = []
    with warnings.catch_warnings():
        # certifi ships a root with a non-positive serial; that is the bundle's business.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        for block in _PEM_BLOCK.findall(path.read_bytes()):
            try:
                roots.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                logger.warning("skipping an unparseable root in %s", path)
    if not roots:
        raise ValueError(f"no trusted root certificates in {path}")
    logger.info("trusting %d root certificate(s) from %s", len(roots), path)
    return roots


class AlexaRequestVerifier:
    """Verifies Alexa requests; thread-safe, caching chains in memory and on disk."""

    def __init__(
        self,
        *,
        skill_id: str,
        ca_file: str | os.PathLike[str] | None,
        cert_cache_dir: str | os.PathLike[str] | None,
        clock: Callable[[], float] = time.time,
        fetch: Callable[[str], bytes] | None = None,
    ) -> None:
        if not skill_id:
            raise ValueError("a skill id is required: it is what stops other skills' traffic")
        self._skill_id = skill_id
        self._store = x509_verification.Store(load_trusted_roots(ca_file))
        self._cache_dir = Path(cert_cache_dir) if cert_cache_dir is not None else None
        self._clock = clock
        self._fetch = fetch or download_chain
        self._chains: dict[str, _Chain] = {}
        self._lock = threading.Lock()

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> dict[str, Any]:
        """Return the parsed body only if every one of Amazon's checks passes."""
        lowered = {key.lower(): value for key, value in headers.items()}
        cert_url = _required_header(lowered, CERT_URL_HEADER)
        signature_b64 = _required_header(lowered, SIGNATURE_HEADER)
        now = self._clock()
        chain = self._chain_for(normalise_cert_url(cert_url))
        self._validate_chain(chain, datetime.fromtimestamp(now, tz=UTC))
        _check_signature(chain.leaf, signature_b64, raw_body)
        body = _parse_body(raw_body)
        _check_timestamp(body, now)
        _check_application_id(body, self._skill_id)
        return body

    def _chain_for(self, url: str) -> _Chain:
        chain = self._chains.get(url)
        if chain is not None:
            return chain
        with self._lock:
            chain = self._chains.get(url)
            if chain is None:
                chain = _parse_chain(self._load_chain_pem(url), url)
                self._chains[url] = chain
        return chain

    def _load_chain_pem(self, url: str) -> bytes:
        cached = self._cache_dir / cache_file_name(url) if self._cache_dir else None
        if cached is not None and cached.is_file():
            logger.debug("using cached chain %s for %s", cached, url)
            return cached.read_bytes()
        logger.info("downloading Alexa cert chain %s", url)
        try:
            pem = self._fetch(url)
        except (OSError, ValueError, http.client.HTTPException) as err:
            raise VerificationError("cert_fetch_failed", f"could not fetch {url}: {err}") from err
        if len(pem) > MAX_CHAIN_BYTES:
            raise VerificationError(
                "cert_fetch_failed", f"{url} is over {MAX_CHAIN_BYTES} bytes: not a cert chain"
            )
        _parse_chain(pem, url)  # never cache a file that is not a chain
        if cached is not None:
            _write_atomically(cached, pem)
        return pem

    def _validate_chain(self, chain: _Chain, now: datetime) -> None:
        verifier = (
            x509_verification.PolicyBuilder()
            .store(self._store)
            .time(now)
            .build_server_verifier(x509.DNSName(ALEXA_CERT_DOMAIN))
        )
        try:
            verifier.verify(chain.leaf, chain.intermediates)
        except x509_verification.VerificationError as err:
            raise _explain_chain_failure(chain.leaf, now, err) from err


class SkillAdapterVerifier(AbstractVerifier):
    """Lets flask-ask-sdk's SkillAdapter(verifiers=[...]) run our checks instead of its own.

    flask-ask-sdk 1.0 hands verifiers the body decoded with strict UTF-8, so encoding it
    again yields the exact bytes Amazon signed.
    """

    def __init__(self, verifier: AlexaRequestVerifier) -> None:
        self._verifier = verifier

    def verify(
        self,
        headers: Mapping[str, str],
        serialized_request_env: str | bytes,
        deserialized_request_env: object,
    ) -> None:
        """Translate our error into the SDK's, keeping the reason for logs and metrics."""
        raw = (
            serialized_request_env.encode("utf-8")
            if isinstance(serialized_request_env, str)
            else serialized_request_env
        )
        try:
            self._verifier.verify(headers, raw)
        except VerificationError as err:
            logger.warning("refused Alexa request: %s (%s)", err.reason, err)
            exc = VerificationException(f"{err.reason}: {err}")
            exc.reason = err.reason  # type: ignore[attr-defined]
            raise exc from err


def download_chain(url: str) -> bytes:
    """Fetch with a size cap, a timeout and no redirects: a chain is small and lives right here."""
    opener = urllib.request.build_opener(_NoRedirect)
    with opener.open(url, timeout=FETCH_TIMEOUT_S) as response:
        data = response.read(MAX_CHAIN_BYTES + 1)
    if len(data) > MAX_CHAIN_BYTES:
        raise ValueError(f"response is over {MAX_CHAIN_BYTES} bytes")
    return data


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        raise urllib.error.HTTPError(req.full_url, code, "redirects are refused", headers, fp)


def _required_header(lowered: Mapping[str, str], name: str) -> str:
    value = lowered.get(name.lower(), "").strip()
    if not value:
        raise VerificationError("missing_header", f"missing {name} header")
    return value


def _parse_chain(pem: bytes, url: str) -> _Chain:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as err:
        raise VerificationError("bad_cert_chain", f"{url} is not a PEM chain: {err}") from err
    return _Chain(leaf=certs[0], intermediates=certs[1:])


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _explain_chain_failure(
    leaf: x509.Certificate, now: datetime, err: Exception
) -> VerificationError:
    """Name the commonest failures precisely; the verifier's own message is free text."""
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        return VerificationError(
            "cert_expired",
            f"signing cert valid {leaf.not_valid_before_utc} to {leaf.not_valid_after_utc}, "
            f"not at {now}",
        )
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if ALEXA_CERT_DOMAIN not in names:
        return VerificationError(
            "cert_san_mismatch", f"signing cert does not name {ALEXA_CERT_DOMAIN}: {names}"
        )
    return VerificationError("untrusted_chain", f"cert chain did not validate: {err}")


def _check_signature(leaf: x509.Certificate, signature_b64: str, raw_body: bytes) -> None:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError) as err:
        raise VerificationError("bad_signature", "Signature-256 is not base64") from err
    key = leaf.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise VerificationError("bad_signature", "signing cert does not hold an RSA key")
    try:
        key.verify(signature, raw_body, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as err:
        raise VerificationError("bad_signature", "body does not match Signature-256") from err


def _parse_body(raw_body: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw_body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise VerificationError("malformed_body", f"body is not UTF-8 JSON: {err}") from err
    if not isinstance(body, dict) or not isinstance(body.get("request"), dict):
        raise VerificationError("malformed_body", "body has no request object")
    return body


def _check_timestamp(body: dict[str, Any], now: float) -> None:
    request = body["request"]
    stamp = request.get("timestamp")
    try:
        sent = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        sent = None
    if sent is None or sent.tzinfo is None:
        raise VerificationError("malformed_body", f"request.timestamp is not ISO 8601: {stamp!r}")
    request_type = request.get("type")
    is_skill_event = isinstance(request_type, str) and request_type.startswith(SKILL_EVENT_PREFIX)
    tolerance = SKILL_EVENT_TIMESTAMP_TOLERANCE_S if is_skill_event else TIMESTAMP_TOLERANCE_S
    skew = now - sent.timestamp()
    if abs(skew) > tolerance:
        raise VerificationError(
            "stale_timestamp", f"request.timestamp {stamp} is {skew:+.0f} s from now"
        )


def _check_application_id(body: dict[str, Any], skill_id: str) -> None:
    found = _dig(body, "context", "System", "application", "applicationId")
    if found is None:
        found = _dig(body, "session", "application", "applicationId")
    if found != skill_id:
        raise VerificationError("wrong_application_id", f"request is for skill {found!r}")


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
