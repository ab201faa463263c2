"""Pairing a watch without a keyboard, after OAuth 2.0's Device Authorization Grant (RFC 8628).

The watch asks for a pairing and shows a six-digit user code; the person says it to Alexa,
whose PairWatchIntent binds it to their account; the watch meanwhile polls with its device
code and, once the code is bound, gets an access token scoped to that one user. Device codes,
tokens and user codes are stored only as SHA-256 hashes, so a copy of the database pairs
nothing (user codes are hashed too, though six digits alone are cheap to brute-force: their
real protection is living ten minutes).

The limits on guessing a code, and why they hold, are in limits.py.
"""

from __future__ import annotations

import hashlib
import logging
import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NoReturn

from ..clock import Clock
from ..stores.base import (
    DeviceRecord,
    PairingRecord,
    PairingStore,
    Stamps,
    user_counter_scope,
)
from ..user_ref import user_ref
from .known_tokens import KnownToken, KnownTokens
from .limits import (
    CLIENT_START_LIMIT,
    PER_USER_LIMITS,
    START_LIMIT,
    WRONG_CODE_BUDGET,
    RateLimit,
    WrongCodeBudget,
    client_scope,
)
from .protocol import (
    PAIRING_LIFETIME_S,
    POLL_INTERVAL_S,
    SECRET_BYTES,
    SLOW_DOWN_STEP_S,
    USER_CODE_DIGITS,
    USER_CODE_HIGH,
    USER_CODE_LOW,
    IssuedToken,
    PairingStart,
    TokenError,
    TokenErrorCode,
)

log = logging.getLogger(__name__)

#: A poll this fraction of the interval early still counts as on time (network jitter).
POLL_TOLERANCE = 0.2
#: Expired pairings are kept this long, so a late poll hears `expired_token`, not `invalid_grant`.
KEEP_EXPIRED_S = 3600
#: A device's last-seen time is written at most this often, so polls stay reads.
TOUCH_EVERY_S = 60
#: Longer bearer values are refused before hashing; ours are 43 characters.
MAX_TOKEN_LENGTH = 512
_DRAW_ATTEMPTS = 20


class PairingFailure(StrEnum):
    """Why a spoken code did not bind; the skill picks its words from this."""

    MISSING_CODE = "missing_code"
    INVALID_CODE = "invalid_code"
    RATE_LIMITED = "rate_limited"


class PairingError(Exception):
    """A spoken code that did not bind a watch; `.reason` is a PairingFailure.

    For RATE_LIMITED, `.everyone` tells the skill whether this user said too many wrong codes
    (False) or the global budget is spent for all (True), so it can pick the right words.
    """

    def __init__(self, reason: PairingFailure, detail: str = "", *, everyone: bool = False) -> None:
        super().__init__(detail or reason.value)
        self.reason = reason
        self.everyone = everyone


class PairingBusy(Exception):
    """Too many pairings were started lately; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many pairings started; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Authenticated:
    """Whom a token acts for, and the user's stamps as read to believe it (one read)."""

    user_id: str
    stamps: Stamps


def is_user_code(code: str) -> bool:
    """True for a code that could be live: six ASCII digits, no leading zero."""
    return (
        len(code) == USER_CODE_DIGITS
        and code.isascii()
        and code.isdigit()
        and USER_CODE_LOW <= int(code) <= USER_CODE_HIGH
    )


def _digest(kind: str, secret: str) -> str:
    # The kind keeps a token and a device code that happened to be equal from colliding.
    return hashlib.sha256(f"{kind}:{secret}".encode()).hexdigest()


def _new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


class PairingService:
    """Starts pairings, binds spoken codes, trades device codes for tokens, checks tokens."""

    def __init__(
        self,
        store: PairingStore,
        clock: Clock,
        rng: random.Random | None = None,
        *,
        lifetime_s: int = PAIRING_LIFETIME_S,
        interval_s: int = POLL_INTERVAL_S,
        per_user_limits: Sequence[RateLimit] = PER_USER_LIMITS,
        wrong_code_budget: WrongCodeBudget = WRONG_CODE_BUDGET,
        start_limit: RateLimit = START_LIMIT,
        client_start_limit: RateLimit = CLIENT_START_LIMIT,
        new_secret: Callable[[], str] = _new_secret,
        known_tokens: KnownTokens | None = None,
    ) -> None:
        if wrong_code_budget.window.window_s < lifetime_s:
            # The bound counts the wrong codes of a whole lifetime; a shorter window would not.
            raise ValueError("the wrong-code window must cover a pairing's whole lifetime")
        self.store = store
        self.clock = clock
        self.rng = rng or secrets.SystemRandom()
        self.lifetime_s = lifetime_s
        self.interval_s = interval_s
        self.per_user_limits = tuple(per_user_limits)
        self.known_tokens = known_tokens if known_tokens is not None else KnownTokens()
        self.wrong_code_budget = wrong_code_budget
        self.start_limit = start_limit
        self.client_start_limit = client_start_limit
        self.new_secret = new_secret

    # -- the watch starts ---------------------------------------------------------------

    def start(self, client: str | None = None) -> PairingStart:
        """Draw a fresh user code and device code; raises PairingBusy under a flood.

        `client` is the address the request came from (the API passes it; callers inside the
        server pass none): each address may start only so many, so no one client can crowd
        the live codes that the wrong-code budget divides among, nor the global backstop.
        """
        now = self.clock.now()
        self._tidy(now)
        charges = [self.start_limit.charge("all", now)]
        if client is not None:
            charges.append(self.client_start_limit.charge(client_scope(client), now))
        if not self.store.charge_counters(charges):
            log.warning("pairing start refused: too many lately (from this client or in all)")
            raise PairingBusy(self.start_limit.bucket_s)
        for _ in range(_DRAW_ATTEMPTS):
            user_code = str(self.rng.randint(USER_CODE_LOW, USER_CODE_HIGH))
            device_code = self.new_secret()
            record = PairingRecord(
                device_code_hash=_digest("device", device_code),
                user_code_hash=_digest("user", user_code),
                created_at=now,
                expires_at=now + self.lifetime_s,
                interval=self.interval_s,
            )
            if self.store.add_pairing(record):
                log.info("pairing started; expires in %d s", self.lifetime_s)
                return PairingStart(device_code, user_code, self.lifetime_s, self.interval_s)
        raise RuntimeError("no free user code after repeated draws; is the rng broken?")

    # -- the person speaks the code -----------------------------------------------------

    def bind(self, alexa_user_id: str, code: str | None) -> None:
        """Bind the live code the person said (its six digits) to their account, or raise
        PairingError. The voice side reads the digits out of what Alexa heard.

        Codes that cannot be a live code (not six digits, a leading zero) are refused without
        charging the limits: they tell a guesser nothing. Every other code is charged to the
        user and to the global budget before it is looked up, and refunded if it was right;
        while either is spent even a right code is refused, unlooked-up, so the answer never
        tells a guesser anything the budget did not pay for (see the module docstring). The
        user's limits are charged first, so a refusal for everyone costs this user nothing.
        """
        if code is None:
            raise PairingError(PairingFailure.MISSING_CODE, "no code was heard")
        if not is_user_code(code):
            raise PairingError(PairingFailure.INVALID_CODE, "not a six-digit pairing code")
        now = self.clock.now()
        user_scope = user_counter_scope(alexa_user_id)
        live = self.store.live_pairings(now)
        mine = [limit.charge(user_scope, now) for limit in self.per_user_limits]
        if not self.store.charge_counters(mine):
            log.info(
                "pairing attempt refused: user %s said too many wrong codes",
                user_ref(alexa_user_id),
            )
            raise PairingError(PairingFailure.RATE_LIMITED, "too many wrong codes; wait a bit")
        everyones = [self.wrong_code_budget.charge(now, live)]
        if not self.store.charge_counters(everyones):
            self.store.refund_counters(mine)  # it was not this user's doing
            log.warning(
                "pairing attempt by user %s refused: wrong-code budget spent (%d live codes)",
                user_ref(alexa_user_id),
                live,
            )
            raise PairingError(
                PairingFailure.RATE_LIMITED,
                "too many wrong codes lately, from everyone; wait a few minutes",
                everyone=True,
            )
        charges = [*mine, *everyones]
        if self.store.bind_pairing(_digest("user", code), alexa_user_id, now):
            self.store.refund_counters(charges)  # only wrong codes count against the limits
            log.info("pairing code bound to user %s", user_ref(alexa_user_id))
            return
        log.info("pairing code said by user %s matched no live pairing", user_ref(alexa_user_id))
        raise PairingError(PairingFailure.INVALID_CODE, "no watch is waiting with that code")

    # -- the watch polls for its token --------------------------------------------------

    def exchange(self, device_code: str | None) -> IssuedToken:
        """Trade a bound device code for an access token, once; else raise TokenError."""
        if not device_code:
            raise TokenError(TokenErrorCode.INVALID_REQUEST, "device_code is required")
        key = _digest("device", device_code)
        now = self.clock.now()
        pairing = self.store.pairing(key)
        if pairing is None:
            raise TokenError(TokenErrorCode.INVALID_GRANT, "unknown or already used device code")
        if now >= pairing.expires_at:
            raise TokenError(TokenErrorCode.EXPIRED_TOKEN, "the code expired; pair again")
        if pairing.denied:
            raise TokenError(TokenErrorCode.ACCESS_DENIED, "pairing was cancelled by voice")
        if pairing.user_id is None:
            self._pending(key, pairing, now)
        token = self.new_secret()
        device = DeviceRecord(_digest("token", token), pairing.user_id, now, now)
        if not self.store.redeem_pairing(key, device, now):
            raise TokenError(TokenErrorCode.INVALID_GRANT, "the device code was already used")
        log.info("watch paired to user %s; token issued", user_ref(pairing.user_id))
        return IssuedToken(token)

    def _pending(self, key: str, pairing: PairingRecord, now: float) -> NoReturn:
        """Record the poll and raise pending, or slow_down if it came too soon."""
        too_soon = (
            pairing.last_polled_at is not None
            and now - pairing.last_polled_at < pairing.interval * (1 - POLL_TOLERANCE)
        )
        interval = pairing.interval + SLOW_DOWN_STEP_S if too_soon else pairing.interval
        self.store.record_poll(key, now, interval)
        if too_soon:
            raise TokenError(
                TokenErrorCode.SLOW_DOWN, f"poll at most every {interval} s", interval=interval
            )
        raise TokenError(TokenErrorCode.AUTHORIZATION_PENDING, "say the code to Alexa")

    # -- tokens -------------------------------------------------------------------------

    def authenticate(self, token: str | None) -> str | None:
        """The user a bearer token belongs to, or None if it is unknown or revoked."""
        found = self.authenticate_with_stamps(token)
        return None if found is None else found.user_id

    def authenticate_with_stamps(self, token: str | None) -> Authenticated | None:
        """The token's user and their stamps; one small read for a token seen before.

        A known token is believed only under the watches epoch it was seen valid under
        (known_tokens.py says why that is safe across instances); the stamps read for that
        comes back with the answer, so a cue poll needs no other read to answer a 304.
        """
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        key = _digest("token", token)
        known = self.known_tokens.get(key)
        if known is not None:
            stamps = self.store.stamps(known.user_id)
            if stamps.watches == known.epoch:
                self._seen(key, known)
                return Authenticated(known.user_id, stamps)
            self.known_tokens.drop(key)
        device = self.store.device(key)
        if device is None:
            return None
        stamps = self.store.stamps(device.user_id)
        if stamps.watches is None:  # paired before epochs were kept: give the user one
            self.store.renew_watches_epoch(device.user_id)
            stamps = self.store.stamps(device.user_id)
        again = self.store.device(key) if stamps.watches is not None else None
        if again is not None and again.user_id == device.user_id:
            assert stamps.watches is not None
            known = KnownToken(device.user_id, stamps.watches, device.last_seen_at)
            self.known_tokens.put(key, known)
            self._seen(key, known)
        else:
            self._seen(key, KnownToken(device.user_id, "", device.last_seen_at))
        return Authenticated(device.user_id, stamps)

    def _seen(self, key: str, known: KnownToken) -> None:
        """Record that the watch was seen, at most every TOUCH_EVERY_S (polls stay reads)."""
        now = self.clock.now()
        if now - known.last_seen_at >= TOUCH_EVERY_S:
            self.store.touch_device(key, now)
            known.last_seen_at = now

    def revoke_token(self, token: str) -> bool:
        """Unpair the one watch holding `token`; False if it was not paired."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return False
        key = _digest("token", token)
        self.known_tokens.drop(key)  # the epoch refuses it everywhere; this frees the entry
        return self.store.delete_device(key)

    def revoke_user(self, user_id: str) -> int:
        """Unpair every watch of a user, and refuse codes bound but not yet redeemed.

        Returns how many watches that was, counting a watch still polling with a bound code
        (it hears `access_denied`), so "unpair my watch" right after pairing also works.
        """
        devices = self.store.delete_devices_of(user_id)
        pending = self.store.deny_pairings_of(user_id, self.clock.now())
        log.info(
            "unpaired %d watch(es) and %d pending pairing(s) of user %s",
            devices,
            pending,
            user_ref(user_id),
        )
        return devices + pending

    # -- housekeeping -------------------------------------------------------------------

    def _tidy(self, now: float) -> None:
        self.store.purge_pairings(now - KEEP_EXPIRED_S)
        limits = (
            *self.per_user_limits,
            self.wrong_code_budget.window,
            self.start_limit,
            self.client_start_limit,
        )
        oldest = max(limit.window_s + limit.bucket_s for limit in limits)
        self.store.purge_counters(int(now) - oldest)
