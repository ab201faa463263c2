"""How likely is a guessed code? A user code is one of N = CODE_SPACE = 900,000 values (100000
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
from dataclasses import dataclass

from ..stores.base import CounterCharge
from .protocol import CODE_SPACE, PAIRING_LIFETIME_S

#: The most a guessed code may succeed with, over a code's lifetime, however many are live.
GUESS_PROBABILITY_TARGET = 1 / 10_000


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
