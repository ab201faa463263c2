"""Pairing a watch by a spoken code, after RFC 8628.

- protocol.py: what a watch and the server agree on (code shapes, times, token errors)
- limits.py: the rate limits on guessing a code, and why they hold
- service.py: PairingService, which starts, binds, redeems and revokes
"""

from .limits import CLIENT_START_LIMIT, RateLimit, client_scope
from .protocol import DEVICE_CODE_GRANT, IssuedToken, PairingStart, TokenError, TokenErrorCode
from .service import PairingBusy, PairingError, PairingFailure, PairingService

__all__ = [
    "CLIENT_START_LIMIT",
    "DEVICE_CODE_GRANT",
    "IssuedToken",
    "PairingBusy",
    "PairingError",
    "PairingFailure",
    "PairingService",
    "PairingStart",
    "RateLimit",
    "TokenError",
    "TokenErrorCode",
    "client_scope",
]
