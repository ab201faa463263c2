"""Pairing a watch without a keyboard, after OAuth 2.0's Device Authorization Grant (RFC 8628).

The watch asks for a pairing and shows a six-digit user code; the person says it to Alexa,
whose PairWatchIntent binds it to their account; the watch meanwhile polls with its device
code and, once the code is bound, gets an access token scoped to that one user. Device codes,
tokens and user codes are stored only as SHA-256 hashes, so a copy of the database pairs
nothing (user codes are hashed too, though six digits alone are cheap to brute-force: their
real protection is living ten minutes).

How likely is a guessed code? A user code is one of N = CODE_SPACE = 900,000 values (100000
to 999999: AMAZON.NUMBER drops leading zeros), drawn at random among those no other live code
holds. A wrong code checked while L codes are live (unexpired, unbound) hits one of them with
probability at most L / (N - m), where m counts the values already ruled out. So over any span
of a code's lifetime (600 s) the chance that some guess hits some live code is at most
sum(L_i) / (N - m) over the wrong codes i checked in that span.

The global budget follows L: a wrong code is checked only while fewer than C // L wrong codes
were checked in the last 600 s (C = WRONG_CODE_CAPACITY; L read from the store at the
attempt), and every bind is refused while that budget is spent. The i-th wrong code of any
600 s span was therefore checked with i <= C // L_i, i.e. L_i <= C // i, so

    sum(L_i) <= sum over L >= 1 of (C // L)        however L rises and falls in the span

(with a steady L it is G * L with G = C // L; without counting a falling L this way, eight
live codes dropping to one would allow twice the bound). m is at most C earlier wrong codes
plus the other live codes at each draw, at most START_LIMIT.limit. With C = 25 and that limit
at 1,000: sum(L_i) <= 87 and the chance is at most 87 / (900,000 - 1,025) = 9.7e-5, below the
target of 1 in 10,000 (`guess_probability_bound`; `largest_wrong_code_capacity` picks C). One
code alone is hit with at most 25 / 898,975 = 2.8e-5. At L = 1 that allows 25 wrong codes per
600 s, at L = 5 five, and from L = 26 none: a fixed six-digit code cannot keep the bound with
more codes live than that, so binds wait until some expire or are bound.

Per Alexa user, PER_USER_LIMITS allow 4 wrong codes per 600 s and 2 per minute, so one
account spends at most 4 of the 25 (and nobody can rotate codes faster than a mishearing
would); per client address, CLIENT_START_LIMIT allows 10 pairings per 600 s, so nobody fills
the live-code count alone; START_LIMIT is the global backstop on starts.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import random
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NoReturn

from ..clock import Clock
from ..stores.base import (
    CounterCharge,
    DeviceRecord,
    PairingRecord,
    PairingStore,
    user_counter_scope,
)

log = logging.getLogger(__name__)

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
#: A poll this fraction of the interval early still counts as on time (network jitter).
POLL_TOLERANCE = 0.2
#: Expired pairings are kept this long, so a late poll hears `expired_token`, not `invalid_grant`.
KEEP_EXPIRED_S = 3600
#: A device's last-seen time is written at most this often, so polls stay reads.
TOUCH_EVERY_S = 60
#: Longer bearer values are refused before hashing; ours are 43 characters.
MAX_TOKEN_LENGTH = 512
#: The most a guessed code may succeed with, over a code's lifetime, however many are live.
GUESS_PROBABILITY_TARGET = 1 / 10_000

_DRAW_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` charges in any span of `window_s`, counted in `bucket_s` buckets."""

    name: str
    limit: int
    window_s: int
    bucket_s: int

    def charge(self, scope: str, now: float, limit: int | None = None) -> CounterCharge:
        """The counter to charge at `now`, summed over the window plus the bucket in progress.

        Counting one bucket more than the window means that at any charge, every earlier
        charge less than `window_s` ago is counted, so no span of `window_s` holds more than
        `limit` charges, however the spans fall across buckets. `limit` overrides the fixed
        one for a limit that moves (the wrong-code budget).
        """
        bucket = int(now // self.bucket_s) * self.bucket_s
        allowed = self.limit if limit is None else limit
        return CounterCharge(f"{self.name}:{scope}", bucket, bucket - self.window_s, allowed)


@dataclass(frozen=True, slots=True)
class WrongCodeBudget:
    """Wrong codes all users together may say in any span of `window`: capacity // live codes.

    `window.limit` is the capacity itself, the budget while at most one code is live.
    """

    window: RateLimit

    @property
    def capacity(self) -> int:
        return self.window.limit

    def limit_for(self, live_codes: int) -> int:
        """How many wrong codes the last window may hold for one more to be checked."""
        return self.capacity // max(1, live_codes)

    def charge(self, now: float, live_codes: int) -> CounterCharge:
        return self.window.charge("all", now, self.limit_for(live_codes))


def worst_case_live_sum(capacity: int) -> int:
    """The most live codes the wrong codes of one window can add up to, under `capacity`.

    The i-th wrong code of a window was checked only if i <= capacity // L_i, so L_i <= the
    largest L with capacity // L >= i; summed over i that is the sum of capacity // L.
    """
    return sum(capacity // live for live in range(1, capacity + 1))


#: Wrong codes one Alexa user may say: 4 per code lifetime, and 2 a minute.
PER_USER_LIMITS = (
    RateLimit("pair-user", limit=4, window_s=PAIRING_LIFETIME_S, bucket_s=60),
    RateLimit("pair-user-minute", limit=2, window_s=60, bucket_s=10),
)
#: Pairings one client address may start: a watch needs one per 10 minutes at most.
CLIENT_START_LIMIT = RateLimit("pair-client", limit=10, window_s=PAIRING_LIFETIME_S, bucket_s=60)
#: Pairings everyone together may start: the backstop that bounds the table and the draws.
START_LIMIT = RateLimit("pair-start", limit=1000, window_s=PAIRING_LIFETIME_S, bucket_s=60)


def guess_probability_bound(capacity: int, max_live: int = START_LIMIT.limit) -> float:
    """The most any guessing can succeed with in one code lifetime, under `capacity`.

    The wrong codes checked in any 600 s add up to at most `worst_case_live_sum` live codes,
    and each hits with at most 1 / (N - m): m counts the earlier wrong codes (fewer than
    `capacity`) and the other codes live when a code was drawn (at most `max_live`).
    """
    return worst_case_live_sum(capacity) / (CODE_SPACE - capacity - max_live)


def largest_wrong_code_capacity(target: float = GUESS_PROBABILITY_TARGET) -> int:
    """The largest capacity whose worst case stays below `target`."""
    capacity = 0
    while guess_probability_bound(capacity + 1) < target:
        capacity += 1
    return capacity


#: The capacity C: 25 for the 1 in 10,000 target, so 25 wrong codes per 600 s at one live code.
WRONG_CODE_CAPACITY = largest_wrong_code_capacity()
WRONG_CODE_BUDGET = WrongCodeBudget(
    RateLimit("pair-global", WRONG_CODE_CAPACITY, window_s=PAIRING_LIFETIME_S, bucket_s=60)
)


def client_scope(address: str | None) -> str:
    """The start-limit key for a client address: an IPv6 client counts by its /64 network.

    One IPv6 host usually holds a whole /64, so counting single addresses would let it start
    pairings without end. The key is hashed, so no address is stored.
    """
    key = address or "unknown"
    try:
        ip = ipaddress.ip_address(key)
    except ValueError:
        pass
    else:
        if isinstance(ip, ipaddress.IPv6Address):
            mapped = ip.ipv4_mapped
            key = str(mapped) if mapped else f"{int(ip) >> 64:x}/64"
        else:
            key = str(ip)
    return hashlib.sha256(key.encode()).hexdigest()[:32]


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


class PairingBusy(Exception):
    """Too many pairings were started lately; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many pairings started; retry in {retry_after} s")
        self.retry_after = retry_after


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


def _digest(kind: str, secret: str) -> str:
    # The kind keeps a token and a device code that happened to be equal from colliding.
    return hashlib.sha256(f"{kind}:{secret}".encode()).hexdigest()


#: Device codes and access tokens: 256 random bits as unpadded base64url (RFC 4648 5).
SECRET_BYTES = 32
SECRET_LENGTH = 43
SECRET_ALPHABET = "A-Za-z0-9_-"


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

    def bind(self, alexa_user_id: str, spoken_code: str | None) -> None:
        """Bind the live code the person said to their account, or raise PairingError.

        Codes that cannot be a live code (not six digits, a leading zero) are refused without
        charging the limits: they tell a guesser nothing. Every other code is charged to the
        user and to the global budget before it is looked up, and refunded if it was right;
        while either is spent even a right code is refused, unlooked-up, so the answer never
        tells a guesser anything the budget did not pay for (see the module docstring). The
        user's limits are charged first, so a refusal for everyone costs this user nothing.
        """
        if spoken_code is None or spoken_code.strip() in {"", "?"}:
            raise PairingError(PairingFailure.MISSING_CODE, "no code was heard")
        code = parse_spoken_code(spoken_code)
        if code is None or not USER_CODE_LOW <= int(code) <= USER_CODE_HIGH:
            raise PairingError(PairingFailure.INVALID_CODE, "not a six-digit pairing code")
        now = self.clock.now()
        user_scope = user_counter_scope(alexa_user_id)
        live = self.store.live_pairings(now)
        mine = [limit.charge(user_scope, now) for limit in self.per_user_limits]
        if not self.store.charge_counters(mine):
            log.info("pairing attempt refused: this user said too many wrong codes")
            raise PairingError(PairingFailure.RATE_LIMITED, "too many wrong codes; wait a bit")
        everyones = [self.wrong_code_budget.charge(now, live)]
        if not self.store.charge_counters(everyones):
            self.store.refund_counters(mine)  # it was not this user's doing
            log.warning("pairing attempt refused: wrong-code budget spent (%d live codes)", live)
            raise PairingError(
                PairingFailure.RATE_LIMITED,
                "too many wrong codes lately, from everyone; wait a few minutes",
                everyone=True,
            )
        charges = [*mine, *everyones]
        if self.store.bind_pairing(_digest("user", code), alexa_user_id, now):
            self.store.refund_counters(charges)  # only wrong codes count against the limits
            log.info("pairing code bound to a user")
            return
        log.info("pairing code did not match a live pairing")
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
        log.info("watch paired; token issued")
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
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        key = _digest("token", token)
        device = self.store.device(key)
        if device is None:
            return None
        now = self.clock.now()
        if now - device.last_seen_at >= TOUCH_EVERY_S:
            self.store.touch_device(key, now)
        return device.user_id

    def revoke_token(self, token: str) -> bool:
        """Unpair the one watch holding `token`; False if it was not paired."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return False
        return self.store.delete_device(_digest("token", token))

    def revoke_user(self, user_id: str) -> int:
        """Unpair every watch of a user, and refuse codes bound but not yet redeemed.

        Returns how many watches that was, counting a watch still polling with a bound code
        (it hears `access_denied`), so "unpair my watch" right after pairing also works.
        """
        devices = self.store.delete_devices_of(user_id)
        pending = self.store.deny_pairings_of(user_id, self.clock.now())
        log.info("unpaired %d watch(es) and %d pending pairing(s)", devices, pending)
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


# -- spoken codes -------------------------------------------------------------------------------

_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
# "double four" is how many en-GB, en-AU and en-IN speakers read a repeated digit.
_REPEATS = {"double": 2, "triple": 3}
_SEPARATORS = re.compile(r"[\s,.;:/\-]+")


def parse_spoken_code(value: str | None) -> str | None:
    """The six digits in a slot value ("48 29 13", "four eight two nine one three"), or None.

    Digits and digit words may be mixed; "oh" is zero; "double"/"triple" repeat the next
    digit. Homophones such as "for" or "to" are not guessed at: anything else gives None.
    """
    if value is None:
        return None
    digits: list[str] = []
    repeat = 1
    for word in _SEPARATORS.split(value.strip().lower()):
        if not word:
            continue
        if word in _REPEATS and repeat == 1:
            repeat = _REPEATS[word]
            continue
        spelled = word if word.isascii() and word.isdigit() else _DIGIT_WORDS.get(word)
        if spelled is None:
            return None
        digits.append(spelled[0] * repeat + spelled[1:])
        repeat = 1
    code = "".join(digits)
    if repeat != 1 or len(code) != USER_CODE_DIGITS:
        return None
    return code
