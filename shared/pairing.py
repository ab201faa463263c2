"""Pairing a watch without a keyboard, after OAuth 2.0's Device Authorization Grant (RFC 8628).

The watch asks for a pairing and shows a six-digit user code; the person says it to Alexa,
whose PairWatchIntent binds it to their account; the watch meanwhile polls with its device
code and, once the code is bound, gets an access token scoped to that one user. Device codes,
tokens and user codes are stored only as SHA-256 hashes, so a copy of the database pairs
nothing (user codes are hashed too, though six digits alone are cheap to brute-force: their
real protection is living ten minutes).

How likely is a guessed code? A user code is one of CODE_SPACE = 900,000 values (100000 to
999999: AMAZON.NUMBER drops leading zeros). With at most L codes live (unexpired, unbound) and
at most G wrong guesses in any span of a code's lifetime, an attacker guessing distinct codes
hits one with probability at most G * L / (CODE_SPACE - G), about G * L / 900,000. Locking one
code after N failures does not help (the attacker never knows which code he is near), so the
global limit is the real bound: GLOBAL_LIMIT allows G = 10 wrong codes in any 600 s across all
users, and with L = REALISTIC_LIVE_CODES = 8 that is 80 / 899,990 = 8.9e-5, below 1 in 10,000
(see `guess_probability_bound` and docs/WATCH_API.md). The per-user limit keeps one person's
mishearings from using the global budget up on their own.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import NoReturn

from .clock import Clock
from .store import CounterCharge, DeviceRecord, PairingRecord, PairingStore

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
#: The number of live codes the limits are sized for (about 1,150 pairings a day).
REALISTIC_LIVE_CODES = 8
#: The most a guessed code may succeed with, over its lifetime, at REALISTIC_LIVE_CODES.
GUESS_PROBABILITY_TARGET = 1 / 10_000

_DRAW_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` charges in any span of `window_s`, counted in `bucket_s` buckets."""

    name: str
    limit: int
    window_s: int
    bucket_s: int

    def charge(self, scope: str, now: float) -> CounterCharge:
        """The counter to charge at `now`, summed over the window plus the bucket in progress.

        Counting one bucket more than the window means that at any charge, every earlier
        charge less than `window_s` ago is counted, so no span of `window_s` holds more than
        `limit` charges, however the spans fall across buckets.
        """
        bucket = int(now // self.bucket_s) * self.bucket_s
        return CounterCharge(f"{self.name}:{scope}", bucket, bucket - self.window_s, self.limit)


#: Wrong codes one Alexa user may say: three a minute ("please wait a minute").
PER_USER_LIMIT = RateLimit("pair-user", limit=3, window_s=60, bucket_s=10)
#: Wrong codes all users together may say in any code's lifetime: the guessing bound's G.
GLOBAL_LIMIT = RateLimit("pair-global", limit=10, window_s=PAIRING_LIFETIME_S, bucket_s=60)
#: Pairings anyone may start, so nobody floods the table or crowds the code space.
START_LIMIT = RateLimit("pair-start", limit=300, window_s=PAIRING_LIFETIME_S, bucket_s=60)


def guess_probability_bound(wrong_guesses: int, live_codes: int) -> float:
    """The chance that `wrong_guesses` distinct guesses hit any of `live_codes` codes."""
    return wrong_guesses * live_codes / (CODE_SPACE - wrong_guesses)


class PairingFailure(StrEnum):
    """Why a spoken code did not bind; the skill picks its words from this."""

    MISSING_CODE = "missing_code"
    INVALID_CODE = "invalid_code"
    RATE_LIMITED = "rate_limited"


class PairingError(Exception):
    """A spoken code that did not bind a watch; `.reason` is a PairingFailure."""

    def __init__(self, reason: PairingFailure, detail: str = "") -> None:
        super().__init__(detail or reason.value)
        self.reason = reason


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


def _new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


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
        per_user_limit: RateLimit = PER_USER_LIMIT,
        global_limit: RateLimit = GLOBAL_LIMIT,
        start_limit: RateLimit = START_LIMIT,
        new_secret: Callable[[], str] = _new_secret,
    ) -> None:
        self.store = store
        self.clock = clock
        self.rng = rng or secrets.SystemRandom()
        self.lifetime_s = lifetime_s
        self.interval_s = interval_s
        self.per_user_limit = per_user_limit
        self.global_limit = global_limit
        self.start_limit = start_limit
        self.new_secret = new_secret

    # -- the watch starts ---------------------------------------------------------------

    def start(self) -> PairingStart:
        """Draw a fresh user code and device code; raises PairingBusy under a flood."""
        now = self.clock.now()
        self._tidy(now)
        if not self.store.charge_counters([self.start_limit.charge("all", now)]):
            log.warning("pairing start refused: more than %d lately", self.start_limit.limit)
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
        charging the limits: they tell a guesser nothing. Every other wrong code is charged
        to the user and to everyone, and a rate-limited user is refused even a right code,
        so the limits cannot be sidestepped by watching which answer comes back.
        """
        if spoken_code is None or spoken_code.strip() in {"", "?"}:
            raise PairingError(PairingFailure.MISSING_CODE, "no code was heard")
        code = parse_spoken_code(spoken_code)
        if code is None or not USER_CODE_LOW <= int(code) <= USER_CODE_HIGH:
            raise PairingError(PairingFailure.INVALID_CODE, "not a six-digit pairing code")
        now = self.clock.now()
        user_scope = hashlib.sha256(alexa_user_id.encode()).hexdigest()[:32]
        charges = [
            self.per_user_limit.charge(user_scope, now),
            self.global_limit.charge("all", now),
        ]
        if not self.store.charge_counters(charges):
            log.warning("pairing attempt refused: too many wrong codes")
            raise PairingError(PairingFailure.RATE_LIMITED, "too many wrong codes; wait a bit")
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
        limits = (self.per_user_limit, self.global_limit, self.start_limit)
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
