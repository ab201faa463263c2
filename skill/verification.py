"""Proof that a request really came from Alexa, as Amazon requires of skills on web services.

Checked on every request, cheapest first, so a junk request is refused before it can cost a
download or a signature check: both headers present, the cert chain URL, the
`Signature-256` header being base64, the body being a JSON request, the request timestamp,
the application id; then the chain (from memory, the cache directory or a download), its
path validation to a trusted root with the leaf valid now and naming echo-api.amazon.com,
and last the RSA/SHA-256 signature over the raw body. The body checks before the signature
only refuse: nothing is accepted until the signature has matched too.

A chain's path validation depends on the time only through the validity of the certificates
on the path it built, so once a chain has validated, the window in which all of them are
valid is remembered (per chain object, per trust store, least recently used forgotten
first) and a request strictly inside it skips the path building; at or past either edge the
whole path is validated again, so an expired or not-yet-valid chain is refused as before.

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
import contextlib
import hashlib
import http.client
import json
import logging
import os
import posixpath
import re
import socket
import ssl
import tempfile
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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

#: Amazon's chains are ~4 KiB; anything this large is not one (download or cache file).
MAX_CHAIN_BYTES = 64 * 1024
#: A whole download (connect, TLS, headers, body) must be over within this many seconds.
FETCH_DEADLINE_S = 3.0
#: A URL whose chain could not be had is refused without retrying for this long...
FAILED_URL_TTL_S = 60.0
#: ...and at most this many such URLs are remembered (the oldest are forgotten first).
MAX_FAILED_URLS = 256
#: Normalised spellings remembered, so a repeated header costs a dict lookup.
MAX_REMEMBERED_URLS = 64
#: Validated chains whose validity window is remembered (the least recently used go first).
MAX_VALID_WINDOWS = 64

_CERT_HOST = "s3.amazonaws.com"
_CERT_PATH_PREFIX = "/echo.api/"
# RFC 3986 pchar minus "%": escapes would let one file hide behind many spellings.
_SAFE_PATH = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/-]+")
_PEM_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)
_READ_CHUNK = 16 * 1024
# Immutable, so made once rather than for every signature check.
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


class VerificationError(Exception):
    """A refused request; `reason` is a stable code for metrics, str() is for humans.

    Reasons: missing_header, bad_cert_url, cert_fetch_failed, bad_cert_chain, cert_expired,
    cert_san_mismatch, untrusted_chain, bad_signature, malformed_body, stale_timestamp,
    wrong_application_id, skill_id_not_configured.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class _Chain:
    """A parsed chain, with the leaf's key loaded once instead of on every request."""

    leaf: x509.Certificate
    intermediates: list[x509.Certificate]
    key: rsa.RSAPublicKey | None


@dataclass(frozen=True)
class _Window:
    """When a validated chain's whole path is valid, so a request inside it skips path building.

    Holds the chain it was computed for: a window only ever vouches for that exact object.
    """

    chain: _Chain
    not_before: float
    not_after: float


@dataclass
class _UrlLock:
    """One lock per chain URL being loaded, so a slow URL never holds up the others."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


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
    """Verifies Alexa requests; thread-safe, caching chains in memory and on disk.

    The trust store and the policy builder are made once. A request validates the whole
    path at its own time unless it falls strictly inside the window its chain was last found
    valid in, so a cached chain that has since expired is still refused.
    """

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
        roots = load_trusted_roots(ca_file)
        self._policy = x509_verification.PolicyBuilder().store(x509_verification.Store(roots))
        # Part of every window's key, so no window outlives the trust store it was found under.
        self._trust = _fingerprint(roots)
        self._subject = x509.DNSName(ALEXA_CERT_DOMAIN)
        self._cache_dir = Path(cert_cache_dir) if cert_cache_dir is not None else None
        self._clock = clock
        self._fetch = fetch or download_chain
        self._chains: dict[str, _Chain] = {}
        self._normalised: dict[str, str] = {}
        self._failed: OrderedDict[str, tuple[float, VerificationError]] = OrderedDict()
        self._windows: OrderedDict[tuple[str, bytes], _Window] = OrderedDict()
        self._url_locks: dict[str, _UrlLock] = {}
        self._lock = threading.Lock()  # guards the dicts above, never held during I/O

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> dict[str, Any]:
        """Return the parsed body only if every one of Amazon's checks passes."""
        lowered = {key.lower(): value for key, value in headers.items()}
        cert_url = _required_header(lowered, CERT_URL_HEADER)
        signature = _decode_signature(_required_header(lowered, SIGNATURE_HEADER))
        url = self._normalise(cert_url)
        body = _parse_body(raw_body)
        now = self._clock()
        _check_timestamp(body, now)
        _check_application_id(body, self._skill_id)
        chain = self._chain_for(url)
        self._validate_chain(url, chain, now)
        _check_signature(chain, signature, raw_body)
        return body

    def _normalise(self, cert_url: str) -> str:
        url = self._normalised.get(cert_url)
        if url is None:
            url = normalise_cert_url(cert_url)
            with self._lock:
                if len(self._normalised) >= MAX_REMEMBERED_URLS:
                    self._normalised.clear()
                self._normalised[cert_url] = url
        return url

    def _chain_for(self, url: str) -> _Chain:
        chain = self._chains.get(url)
        if chain is not None:
            return chain
        self._raise_if_recently_failed(url)
        url_lock = self._acquire_url_lock(url)
        try:
            with url_lock.lock:
                chain = self._chains.get(url)
                if chain is not None:
                    return chain
                # Whoever held the lock before us may have just failed on this URL.
                self._raise_if_recently_failed(url)
                try:
                    chain = _parse_chain(self._load_chain_pem(url), url)
                except VerificationError as err:
                    self._remember_failure(url, err)
                    raise
                self._chains[url] = chain
                return chain
        finally:
            self._release_url_lock(url, url_lock)

    def _acquire_url_lock(self, url: str) -> _UrlLock:
        with self._lock:
            url_lock = self._url_locks.setdefault(url, _UrlLock())
            url_lock.users += 1
        return url_lock

    def _release_url_lock(self, url: str, url_lock: _UrlLock) -> None:
        with self._lock:
            url_lock.users -= 1
            if url_lock.users == 0:
                del self._url_locks[url]

    def _raise_if_recently_failed(self, url: str) -> None:
        with self._lock:
            failed = self._failed.get(url)
            if failed is None:
                return
            at, err = failed
            if self._clock() - at >= FAILED_URL_TTL_S:
                del self._failed[url]
                return
        raise VerificationError(err.reason, f"{err} (failed recently; not retried yet)")

    def _remember_failure(self, url: str, err: VerificationError) -> None:
        with self._lock:
            self._failed.pop(url, None)
            self._failed[url] = (self._clock(), err)
            while len(self._failed) > MAX_FAILED_URLS:
                self._failed.popitem(last=False)

    def _load_chain_pem(self, url: str) -> bytes:
        cached = self._cache_dir / cache_file_name(url) if self._cache_dir else None
        if cached is not None and cached.is_file():
            logger.debug("using cached chain %s for %s", cached, url)
            return _read_capped(cached, url)
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

    def _validate_chain(self, url: str, chain: _Chain, now: float) -> None:
        """Validate the whole path, unless `now` is strictly inside this chain's known window."""
        key = (url, self._trust)
        with self._lock:
            window = self._windows.get(key)
            if (
                window is not None
                and window.chain is chain
                and window.not_before < now < window.not_after
            ):
                self._windows.move_to_end(key)
                return
        at = datetime.fromtimestamp(now, tz=UTC)
        verifier = self._policy.time(at).build_server_verifier(self._subject)
        try:
            path = verifier.verify(chain.leaf, chain.intermediates)
        except x509_verification.VerificationError as err:
            raise _explain_chain_failure(chain.leaf, at, err) from err
        window = _Window(
            chain=chain,
            not_before=max(cert.not_valid_before_utc for cert in path).timestamp(),
            not_after=min(cert.not_valid_after_utc for cert in path).timestamp(),
        )
        with self._lock:
            self._windows[key] = window
            self._windows.move_to_end(key)
            while len(self._windows) > MAX_VALID_WINDOWS:
                self._windows.popitem(last=False)


class RefuseAllVerifier:
    """Stands in when no skill id is configured: the app runs, every Alexa request is refused.

    Without a skill id there is nothing to tell our traffic from another skill's, so
    accepting anything would be wrong; refusing keeps the watch API and health checks up.
    """

    def __init__(self) -> None:
        logger.warning(
            "SCIATICA_SKILL_ID is not set: every Alexa request will be refused "
            "(skill_id_not_configured)"
        )

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> dict[str, Any]:
        """Always refuses; the adapter verifier logs the reason on every request."""
        raise VerificationError(
            "skill_id_not_configured", "SCIATICA_SKILL_ID is not set, so no request can be ours"
        )


class SkillAdapterVerifier(AbstractVerifier):
    """Lets flask-ask-sdk's SkillAdapter(verifiers=[...]) run our checks instead of its own.

    flask-ask-sdk 1.0 hands verifiers the body decoded with strict UTF-8, so encoding it
    again yields the exact bytes Amazon signed.
    """

    def __init__(self, verifier: AlexaRequestVerifier | RefuseAllVerifier) -> None:
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


def download_chain(
    url: str, *, deadline_s: float = FETCH_DEADLINE_S, max_bytes: int = MAX_CHAIN_BYTES
) -> bytes:
    """GET one small file: a size cap, no redirects, and one deadline for the whole exchange.

    A socket timeout alone bounds each read, not the download: a server trickling a byte at
    a time could hold a request thread for ever. A watchdog shuts the socket at the deadline,
    whatever phase (connect, TLS, headers, body) the download is in.
    """
    parts = urlsplit(url)
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname or "",
            parts.port,
            timeout=deadline_s,
            context=ssl.create_default_context(),
        )
    elif parts.scheme == "http":
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=deadline_s)
    else:
        raise ValueError(f"cannot download {url!r}")
    deadline = time.monotonic() + deadline_s
    watchdog = threading.Timer(deadline_s, _shut, args=(conn,))
    watchdog.daemon = True
    watchdog.start()
    try:
        data = _get(conn, parts.path or "/", deadline, max_bytes)
    except (OSError, http.client.HTTPException) as err:
        if time.monotonic() >= deadline:
            raise TimeoutError(f"download of {url} took over {deadline_s:g} s") from err
        raise
    finally:
        watchdog.cancel()
        conn.close()
    if time.monotonic() >= deadline:
        raise TimeoutError(f"download of {url} took over {deadline_s:g} s")
    return data


def _get(conn: http.client.HTTPConnection, path: str, deadline: float, max_bytes: int) -> bytes:
    conn.request("GET", path, headers={"Accept": "*/*", "Connection": "close"})
    response = conn.getresponse()
    if response.status != 200:
        # http.client never follows a redirect; a 3xx is refused like any other non-200.
        raise ValueError(f"HTTP {response.status} {response.reason}: only a 200 is accepted")
    declared = response.getheader("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ValueError(f"response declares {declared} bytes, over {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed while reading the body")
        if conn.sock is not None:
            conn.sock.settimeout(remaining)
        chunk = response.read1(min(_READ_CHUNK, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise ValueError(f"response is over {max_bytes} bytes")


def _shut(conn: http.client.HTTPConnection) -> None:
    """Wake a read blocked on `conn`'s socket, from the watchdog thread."""
    sock = conn.sock
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed, or never connected
        sock.shutdown(socket.SHUT_RDWR)


def _read_capped(path: Path, url: str) -> bytes:
    """Read a cache file, refusing one too large to be a chain rather than loading it whole."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CHAIN_BYTES + 1)
    except OSError as err:
        raise VerificationError(
            "bad_cert_chain", f"cannot read cached chain {path}: {err}"
        ) from err
    if len(data) > MAX_CHAIN_BYTES:
        raise VerificationError(
            "bad_cert_chain", f"cached chain {path} for {url} is over {MAX_CHAIN_BYTES} bytes"
        )
    return data


def _required_header(lowered: Mapping[str, str], name: str) -> str:
    value = lowered.get(name.lower(), "").strip()
    if not value:
        raise VerificationError("missing_header", f"missing {name} header")
    return value


def _decode_signature(signature_b64: str) -> bytes:
    try:
        return base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError) as err:
        raise VerificationError("bad_signature", "Signature-256 is not base64") from err


def _parse_chain(pem: bytes, url: str) -> _Chain:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as err:
        raise VerificationError("bad_cert_chain", f"{url} is not a PEM chain: {err}") from err
    key = certs[0].public_key()
    return _Chain(
        leaf=certs[0],
        intermediates=certs[1:],
        key=key if isinstance(key, rsa.RSAPublicKey) else None,
    )


def _fingerprint(roots: list[x509.Certificate]) -> bytes:
    """One digest of a whole trust store, in order; equal only for the same roots."""
    digest = hashlib.sha256()
    for root in roots:
        digest.update(root.fingerprint(_SHA256))
    return digest.digest()


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


def _check_signature(chain: _Chain, signature: bytes, raw_body: bytes) -> None:
    if chain.key is None:
        raise VerificationError("bad_signature", "signing cert does not hold an RSA key")
    try:
        chain.key.verify(signature, raw_body, _PKCS1V15, _SHA256)
    except InvalidSignature as err:
        raise VerificationError("bad_signature", "body does not match Signature-256") from err


def _parse_body(raw_body: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw_body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        # ValueError covers bad JSON and integers too long to convert; RecursionError, nesting.
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
    """context.System.application is in every request Alexa sends, skill events included.

    session.application, sent only in sessions, must agree with it when it is there.
    """
    found = _dig(body, "context", "System", "application", "applicationId")
    if found != skill_id:
        raise VerificationError(
            "wrong_application_id", f"context.System.application names skill {found!r}"
        )
    session = body.get("session")
    if isinstance(session, dict) and session.get("application") is not None:
        in_session = _dig(session, "application", "applicationId")
        if in_session != skill_id:
            raise VerificationError(
                "wrong_application_id", f"session.application names skill {in_session!r}"
            )


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data
