"""Bearer tokens on the watch API (RFC 6750): who is asking, or a 401 that says how to fix it."""

from __future__ import annotations

from flask import Request, g

from shared.pairing.service import Authenticated, PairingService

from .problems import Problem, ProblemType

REALM = "sciatica-watch"


def bearer_token(request: Request) -> str | None:
    """The token from `Authorization: Bearer ...`, or None if there is none in that form."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_user(request: Request, pairing: PairingService) -> tuple[str, str]:
    """The (user id, token) a request acts for; a Problem 401 if it carries no live token."""
    found, token = require_watch(request, pairing)
    return found.user_id, token


def require_watch(request: Request, pairing: PairingService) -> tuple[Authenticated, str]:
    """Whom a request acts for with their stamps, and its token; a 401 if none is live."""
    token = bearer_token(request)
    if token is None:
        raise Problem(
            401,
            "Send the watch's access token as 'Authorization: Bearer <token>'.",
            ProblemType.UNAUTHORIZED,
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
        )
    found = pairing.authenticate_with_stamps(token)
    g.log_user = found and found.user_id  # the request log hashes it, never writes it
    if found is None:
        raise invalid_token()
    return found, token


def invalid_token() -> Problem:
    """The 401 for a token that is unknown, revoked, or was unpaired by voice."""
    return Problem(
        401,
        "This watch is not paired (the token is unknown or was revoked); pair it again.",
        ProblemType.UNAUTHORIZED,
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'},
    )
