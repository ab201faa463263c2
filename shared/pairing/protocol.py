"""What a watch and the server agree on when pairing (RFC 8628): code shapes, times, errors.

docs/WATCH_API.md documents each of these for watch makers; the reference watch
(wearable/client) keeps its own copy of the few it needs, held to these by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: RFC 8628 3.4: the grant type a watch names when it trades its device code.
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE_LOW = 100_000
USER_CODE_HIGH = 999_999
CODE_SPACE = USER_CODE_HIGH - USER_CODE_LOW + 1
USER_CODE_DIGITS = 6

#: How long a pairing can be bound and redeemed (RFC 8628's `expires_in`).
PAIRING_LIFETIME_S = 600
#: The least time between two token polls (RFC 8628's `interval`).
POLL_INTERVAL_S = 5
#: RFC 8628 3.5: after `slow_down` the interval grows by 5 s for this and every later poll.
SLOW_DOWN_STEP_S = 5
#: Device codes and access tokens: 256 random bits as unpadded base64url (RFC 4648 5).
SECRET_BYTES = 32
SECRET_LENGTH = 43
SECRET_ALPHABET = "A-Za-z0-9_-"


class TokenErrorCode(StrEnum):
    """RFC 8628 3.5 and RFC 6749 5.2 error codes the token endpoint answers with."""

    AUTHORIZATION_PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    EXPIRED_TOKEN = "expired_token"
    ACCESS_DENIED = "access_denied"
    INVALID_GRANT = "invalid_grant"
    INVALID_REQUEST = "invalid_request"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"


class TokenError(Exception):
    """A device code that cannot (yet) be traded for a token; `.error` says why, per RFC 8628."""

    def __init__(
        self, error: TokenErrorCode, description: str, interval: int | None = None
    ) -> None:
        super().__init__(f"{error.value}: {description}")
        self.error = error
        self.description = description
        self.interval = interval


@dataclass(frozen=True, slots=True)
class PairingStart:
    """What the watch gets to begin pairing: RFC 8628's device authorization response."""

    device_code: str
    user_code: str
    expires_in: int
    interval: int

    @property
    def spoken_code(self) -> str:
        """The code spaced out digit by digit, as the watch shows it to be read aloud."""
        return " ".join(self.user_code)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An access token for one user's cues; shown to the watch once and never stored."""

    access_token: str
    token_type: str = "Bearer"
