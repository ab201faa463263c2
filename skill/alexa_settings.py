"""The person's time zone, read from their Alexa device through Alexa's Device Settings API.

GET {apiEndpoint}/v2/devices/{deviceId}/settings/System.timeZone with the request's
apiAccessToken answers a JSON string such as "Europe/Berlin". The endpoint comes from the
request envelope, so it is only called where we trust it: Amazon's own API hosts over https
(api.amazonalexa.com, api.eu.amazonalexa.com, api.fe.amazonalexa.com, api.fe.amazon.com),
plus the origins a deployment lists in SCIATICA_ALEXA_API_HOSTS (plain http only on
loopback, for a local fake). Anything else is refused before a socket is opened, so an
envelope can never make the server fetch a URL of its choosing.

A whole Alexa request must be answered within 8 seconds, and the time zone is a nicety: the
call is short (connect and each read bounded by `timeout_s`, the whole answer by twice
that), follows no redirect, reads at most `max_bytes`, and every failure is one
SettingsApiError with the reason, for the caller to fall back on. The hosts are trusted,
so a host trickling its headers a byte at a time within each read's bound is not guarded
against; one trickling its body is.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import requests

from shared.routine.settings import SettingsError, check_time_zone

#: Connect timeout, and the bound on each read, in seconds (the whole answer: twice this).
DEFAULT_TIMEOUT_S = 1.0
#: The largest answer read: a zone name in quotes is under 70 bytes.
MAX_ANSWER_BYTES = 1024
#: Amazon's API hosts, by region: api., api.eu., api.fe.amazonalexa.com.
_AMAZON_HOST = re.compile(r"api(?:\.[a-z]{2})?\.amazonalexa\.com")
_AMAZON_HOSTS_EXTRA = frozenset({"api.fe.amazon.com"})
#: The characters an origin may have: no userinfo, query, fragment, escapes or spaces.
_ORIGIN_CHARS = re.compile(r"[A-Za-z0-9.:/\[\]-]+")
#: Longest device id and access token accepted (Alexa's are a few hundred characters).
_MAX_DEVICE_ID = 512
_MAX_TOKEN = 8192
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class SettingsApiError(Exception):
    """The time zone could not be read; the message says why (never with the token)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Scheme, host and port of an API endpoint, as compared and as called."""

    scheme: str
    host: str
    port: int

    def url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == _DEFAULT_PORTS[self.scheme] else f":{self.port}"
        return f"{self.scheme}://{host}{port}{path}"

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_origin(text: str) -> Origin:
    """`scheme://host[:port]` (a trailing slash allowed); ValueError says what is wrong."""
    if not isinstance(text, str) or not _ORIGIN_CHARS.fullmatch(text):
        raise ValueError("must be scheme://host[:port], with no user, path, query or fragment")
    parts = urlsplit(text)
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError("must start with https:// (or http:// for a loopback address)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError("must be scheme://host[:port], with no user, path, query or fragment")
    host = parts.hostname
    if not host:
        raise ValueError("names no host")
    port = parts.port  # ValueError if out of range
    return Origin(parts.scheme, host, port if port is not None else _DEFAULT_PORTS[parts.scheme])


def parse_extra_origins(text: str) -> tuple[Origin, ...]:
    """SCIATICA_ALEXA_API_HOSTS: comma-separated origins; http only on loopback addresses."""
    origins = []
    for item in (piece.strip() for piece in text.split(",")):
        if not item:
            continue
        origin = parse_origin(item)
        if origin.scheme == "http" and not origin.is_loopback:
            raise ValueError(f"{item}: plain http is allowed only on a loopback address")
        origins.append(origin)
    return tuple(origins)


class AlexaSettings:
    """A client of the Device Settings API that calls trusted hosts only."""

    def __init__(
        self,
        extra_origins: Iterable[Origin] = (),
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.extra_origins = frozenset(extra_origins)
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes

    def trusted_origin(self, api_endpoint: object) -> Origin | None:
        """The endpoint's origin if we may call it, else None."""
        try:
            origin = parse_origin(api_endpoint)  # type: ignore[arg-type]
        except ValueError:
            return None
        if origin in self.extra_origins:
            return origin
        amazon = _AMAZON_HOST.fullmatch(origin.host) or origin.host in _AMAZON_HOSTS_EXTRA
        if amazon and origin.scheme == "https" and origin.port == 443:
            return origin
        return None

    def time_zone(self, api_endpoint: object, device_id: object, token: object) -> str:
        """The device's time zone (an IANA name this machine knows); SettingsApiError if not."""
        origin = self.trusted_origin(api_endpoint)
        if origin is None:
            raise SettingsApiError("the request's apiEndpoint is not a host we call")
        if not isinstance(device_id, str) or not 0 < len(device_id) <= _MAX_DEVICE_ID:
            raise SettingsApiError("the request carries no usable device id")
        if not isinstance(token, str) or len(token) > _MAX_TOKEN:
            raise SettingsApiError("the request carries no usable access token")
        if not _TOKEN_CHARS.fullmatch(token):
            raise SettingsApiError("the request carries no usable access token")
        url = origin.url(f"/v2/devices/{quote(device_id, safe='')}/settings/System.timeZone")
        body = self._get(url, token)
        try:
            zone = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise SettingsApiError("the answer is not JSON") from None
        try:
            return check_time_zone(zone)
        except SettingsError as exc:
            raise SettingsApiError(f"the answer is no time zone we know: {exc.problem}") from None

    def _get(self, url: str, token: str) -> bytes:
        """The body of a 200 answer, read within the bounds; SettingsApiError otherwise."""
        deadline = time.monotonic() + 2 * self.timeout_s
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Accept-Encoding": "identity",
        }
        try:
            with requests.Session() as http:
                http.trust_env = False  # no proxy or .netrc from the environment sees the token
                response = http.get(
                    url,
                    headers=headers,
                    timeout=(self.timeout_s, self.timeout_s),
                    allow_redirects=False,
                    stream=True,
                )
                with response:
                    return self._read(response, deadline)
        except requests.Timeout:
            raise SettingsApiError(f"no answer within {self.timeout_s:g} s") from None
        except (requests.RequestException, OSError) as exc:
            raise SettingsApiError(f"the call failed: {type(exc).__name__}") from None

    def _read(self, response: requests.Response, deadline: float) -> bytes:
        if response.status_code != 200:
            # A redirect is refused like any other answer: it would lead to a host unchecked.
            raise SettingsApiError(f"HTTP {response.status_code}: only a 200 is accepted")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise SettingsApiError(f"the answer declares {declared} bytes, over {self.max_bytes}")
        body = bytearray()
        for chunk in response.iter_content(chunk_size=256):
            body += chunk
            if len(body) > self.max_bytes:
                raise SettingsApiError(f"the answer is over {self.max_bytes} bytes")
            if time.monotonic() > deadline:
                raise SettingsApiError(f"the answer took over {2 * self.timeout_s:g} s")
        return bytes(body)
