"""Pairing a watch by voice: codes, RFC 8628 polling, tokens, unpairing and the guessing bound."""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, target
from hypothesis import strategies as st

from shared.clock import ManualClock
from shared.pairing.limits import (
    CLIENT_START_LIMIT,
    GUESS_PROBABILITY_TARGET,
    PER_USER_LIMITS,
    START_LIMIT,
    WRONG_CODE_BUDGET,
    WRONG_CODE_CAPACITY,
    RateLimit,
    WrongCodeBudget,
    guess_probability_bound,
    largest_wrong_code_capacity,
    worst_case_live_sum,
)
from shared.pairing.protocol import (
    CODE_SPACE,
    PAIRING_LIFETIME_S,
    POLL_INTERVAL_S,
    SLOW_DOWN_STEP_S,
    PairingStart,
    TokenError,
    TokenErrorCode,
)
from shared.pairing.service import PairingBusy, PairingError, PairingFailure, PairingService
from shared.stores.sqlite import SQLiteStore
from skill.spoken_code import parse_spoken_code
from tests.support.core import paired

ALICE = "amzn1.ask.account.ALICE"
BOB = "amzn1.ask.account.BOB"


def pending_error(service: PairingService, device_code: str) -> TokenError:
    with pytest.raises(TokenError) as caught:
        service.exchange(device_code)
    return caught.value


def bind_failure(service: PairingService, user: str, code: str | None) -> PairingFailure:
    return bind_error(service, user, code).reason


def bind_error(service: PairingService, user: str, code: str | None) -> PairingError:
    with pytest.raises(PairingError) as caught:
        service.bind(user, code)
    return caught.value


def wrong_code(start: PairingStart) -> str:
    """A valid-looking code that is not the live one."""
    return str(100_000 + (int(start.user_code) - 100_000 + 1) % CODE_SPACE)


# -- what Alexa hears --------------------------------------------------------------------------


# -- starting -----------------------------------------------------------------------------------


def test_a_pairing_starts_with_rfc_8628_fields(service: PairingService) -> None:
    start = service.start()
    assert 100_000 <= int(start.user_code) <= 999_999
    assert len(start.user_code) == 6
    assert len(start.device_code) >= 43  # 32 random bytes, base64url
    assert start.expires_in == PAIRING_LIFETIME_S == 600
    assert start.interval == POLL_INTERVAL_S == 5
    assert start.spoken_code == " ".join(start.user_code)


def test_two_live_pairings_never_share_a_user_code(store: SQLiteStore, clock: ManualClock) -> None:
    class Repeating(random.Random):
        """Draws 482913 twice, then 555555: the second start must draw again."""

        def __init__(self) -> None:
            super().__init__()
            self.draws = iter([482913, 482913, 555555])

        def randint(self, a: int, b: int) -> int:
            return next(self.draws)

    service = PairingService(store, clock, Repeating())
    assert service.start().user_code == "482913"
    assert service.start().user_code == "555555"


def test_an_expired_code_may_be_drawn_again(store: SQLiteStore, clock: ManualClock) -> None:
    service = PairingService(store, clock, random.Random(1))
    first = service.start()
    clock.advance(PAIRING_LIFETIME_S)
    service.rng = random.Random(1)
    assert service.start().user_code == first.user_code


def test_a_flood_of_starts_from_everywhere_meets_the_global_backstop(
    store: SQLiteStore, clock: ManualClock
) -> None:
    service = PairingService(
        store, clock, start_limit=RateLimit("pair-start", limit=3, window_s=600, bucket_s=60)
    )
    for n in range(3):
        service.start(f"198.51.100.{n}")
    with pytest.raises(PairingBusy) as caught:
        service.start("198.51.100.99")
    assert caught.value.retry_after > 0
    clock.advance(660)
    service.start("198.51.100.99")


def test_the_global_backstop_is_far_above_one_clients_share() -> None:
    assert START_LIMIT.limit >= 50 * CLIENT_START_LIMIT.limit
    assert START_LIMIT.window_s == CLIENT_START_LIMIT.window_s == PAIRING_LIFETIME_S


def start_all(service: PairingService, client: str | None, count: int) -> None:
    for _ in range(count):
        service.start(client)


def test_one_client_cannot_block_pairing_for_everyone_else(
    service: PairingService, clock: ManualClock
) -> None:
    start_all(service, "203.0.113.7", CLIENT_START_LIMIT.limit)
    with pytest.raises(PairingBusy):
        service.start("203.0.113.7")
    service.start("203.0.113.8")  # the next client is still served
    service.start()  # and so is the server itself (the demo, the tests)
    clock.advance(CLIENT_START_LIMIT.window_s + CLIENT_START_LIMIT.bucket_s)
    service.start("203.0.113.7")


def test_an_ipv6_client_counts_by_its_64_network(service: PairingService) -> None:
    for host in range(1, CLIENT_START_LIMIT.limit + 1):
        service.start(f"2001:db8:0:7::{host:x}")
    with pytest.raises(PairingBusy):
        service.start("2001:db8:0:7:ffff::1")  # another address of the same /64
    service.start("2001:db8:0:8::1")


def test_an_ipv4_client_counts_the_same_when_it_arrives_over_ipv6(
    service: PairingService,
) -> None:
    start_all(service, "192.0.2.10", CLIENT_START_LIMIT.limit)
    with pytest.raises(PairingBusy):
        service.start("::ffff:192.0.2.10")


# -- the whole grant ----------------------------------------------------------------------------


def test_a_watch_gets_a_token_once_alexa_binds_its_code(
    service: PairingService, clock: ManualClock
) -> None:
    start = service.start()
    assert pending_error(service, start.device_code).error is TokenErrorCode.AUTHORIZATION_PENDING
    service.bind(ALICE, parse_spoken_code(start.spoken_code))  # as the skill hears it
    clock.advance(start.interval)
    issued = service.exchange(start.device_code)
    assert issued.token_type == "Bearer"
    assert len(issued.access_token) >= 43
    assert service.authenticate(issued.access_token) == ALICE


def test_a_device_code_is_traded_only_once(service: PairingService) -> None:
    start = service.start()
    service.bind(ALICE, start.user_code)
    service.exchange(start.device_code)
    assert pending_error(service, start.device_code).error is TokenErrorCode.INVALID_GRANT


@pytest.mark.parametrize(
    ("device_code", "error"),
    [
        ("never-issued", TokenErrorCode.INVALID_GRANT),
        ("", TokenErrorCode.INVALID_REQUEST),
        (None, TokenErrorCode.INVALID_REQUEST),
    ],
)
def test_unknown_or_missing_device_codes_are_refused(
    service: PairingService, device_code: str | None, error: TokenErrorCode
) -> None:
    assert pending_error(service, device_code).error is error  # type: ignore[arg-type]


def test_a_code_expires_after_ten_minutes(service: PairingService, clock: ManualClock) -> None:
    start = service.start()
    clock.advance(PAIRING_LIFETIME_S)
    assert bind_failure(service, ALICE, start.user_code) is PairingFailure.INVALID_CODE
    assert pending_error(service, start.device_code).error is TokenErrorCode.EXPIRED_TOKEN


def test_a_code_bound_in_time_expires_if_the_watch_comes_too_late(
    service: PairingService, clock: ManualClock
) -> None:
    start = service.start()
    service.bind(ALICE, start.user_code)
    clock.advance(PAIRING_LIFETIME_S + 1)
    assert pending_error(service, start.device_code).error is TokenErrorCode.EXPIRED_TOKEN


def test_polling_too_fast_slows_the_watch_down_by_five_seconds_each_time(
    service: PairingService, clock: ManualClock
) -> None:
    start = service.start()
    assert pending_error(service, start.device_code).error is TokenErrorCode.AUTHORIZATION_PENDING
    clock.advance(1)
    first = pending_error(service, start.device_code)
    assert first.error is TokenErrorCode.SLOW_DOWN
    assert first.interval == POLL_INTERVAL_S + SLOW_DOWN_STEP_S == 10
    clock.advance(5)  # the old interval is no longer enough
    second = pending_error(service, start.device_code)
    assert second.error is TokenErrorCode.SLOW_DOWN
    assert second.interval == 15
    clock.advance(15)
    assert pending_error(service, start.device_code).error is TokenErrorCode.AUTHORIZATION_PENDING


def test_a_bound_code_is_traded_even_if_the_watch_polls_early(
    service: PairingService, clock: ManualClock
) -> None:
    start = service.start()
    pending_error(service, start.device_code)
    service.bind(ALICE, start.user_code)
    clock.advance(1)
    assert service.authenticate(service.exchange(start.device_code).access_token) == ALICE


def test_a_code_binds_one_user_only(service: PairingService) -> None:
    start = service.start()
    service.bind(ALICE, start.user_code)
    assert bind_failure(service, BOB, start.user_code) is PairingFailure.INVALID_CODE


def test_no_code_heard_is_a_missing_code(service: PairingService) -> None:
    assert bind_failure(service, ALICE, None) is PairingFailure.MISSING_CODE


# -- tokens and unpairing -----------------------------------------------------------------------


def test_tokens_are_256_bit_and_distinct(service: PairingService) -> None:
    tokens = {paired(service, ALICE) for _ in range(5)}
    assert len(tokens) == 5
    assert all(len(token) == 43 for token in tokens)  # 32 bytes, base64url without padding


@pytest.mark.parametrize("token", ["", "nope", "x" * 10_000, None])
def test_unknown_tokens_authenticate_no_one(service: PairingService, token: str | None) -> None:
    paired(service, ALICE)
    assert service.authenticate(token) is None


def test_revoking_a_token_unpairs_that_watch_only(service: PairingService) -> None:
    first, second = paired(service, ALICE), paired(service, ALICE)
    assert service.revoke_token(first) is True
    assert service.authenticate(first) is None
    assert service.authenticate(second) == ALICE
    assert service.revoke_token(first) is False


def test_unpairing_by_voice_revokes_every_watch_of_that_user(service: PairingService) -> None:
    alice_tokens = [paired(service, ALICE), paired(service, ALICE)]
    bob_token = paired(service, BOB)
    assert service.revoke_user(ALICE) == 2
    assert [service.authenticate(t) for t in alice_tokens] == [None, None]
    assert service.authenticate(bob_token) == BOB
    assert service.revoke_user(ALICE) == 0


def test_unpairing_right_after_binding_denies_the_waiting_watch(service: PairingService) -> None:
    start = service.start()
    service.bind(ALICE, start.user_code)
    assert service.revoke_user(ALICE) == 1
    assert pending_error(service, start.device_code).error is TokenErrorCode.ACCESS_DENIED


def test_forgetting_a_user_forgets_their_watches(
    service: PairingService, store: SQLiteStore
) -> None:
    token = paired(service, ALICE)
    waiting = service.start()
    service.bind(ALICE, waiting.user_code)
    store.delete_user(ALICE)
    assert service.authenticate(token) is None
    assert pending_error(service, waiting.device_code).error is TokenErrorCode.INVALID_GRANT


def test_the_database_never_holds_a_raw_secret(service: PairingService, store: SQLiteStore) -> None:
    start = service.start()
    waiting = service.start()
    service.bind(ALICE, start.user_code)
    token = service.exchange(start.device_code).access_token
    dump = "\n".join(sqlite3.connect(store.path).iterdump())
    for secret in (start.device_code, start.user_code, waiting.device_code, waiting.user_code):
        assert secret not in dump
    assert token not in dump
    assert "CREATE TABLE pairings" in dump  # the dump did see the tables
    assert "CREATE TABLE devices" in dump


# -- rate limits and the guessing bound ---------------------------------------------------------


class CheckingStore(SQLiteStore):
    """An SQLite store that notes every code looked up: when, how many were live, and if wrong."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.checks: list[tuple[float, int, bool]] = []

    def bind_pairing(self, user_code_hash: str, user_id: str, now: float) -> bool:
        live = self.live_pairings(now)
        bound = super().bind_pairing(user_code_hash, user_id, now)
        self.checks.append((now, live, bound))
        return bound

    def wrong_checks(self) -> list[tuple[float, int]]:
        return [(at, live) for at, live, bound in self.checks if not bound]


@pytest.fixture
def checking_store(tmp_path: Path) -> Iterator[CheckingStore]:
    store = CheckingStore(tmp_path / "checked.sqlite3")
    yield store
    store.close()


def a_users_limit(window_s: int) -> RateLimit:
    return next(limit for limit in PER_USER_LIMITS if limit.window_s == window_s)


def test_two_wrong_codes_a_minute_then_even_the_right_one_waits(
    service: PairingService, clock: ManualClock
) -> None:
    start = service.start()
    minute = a_users_limit(60)
    for _ in range(minute.limit):
        assert bind_failure(service, ALICE, wrong_code(start)) is PairingFailure.INVALID_CODE
    refused = bind_error(service, ALICE, start.user_code)
    assert (refused.reason, refused.everyone) == (PairingFailure.RATE_LIMITED, False)
    assert (
        bind_failure(service, BOB, wrong_code(start)) is PairingFailure.INVALID_CODE
    )  # others may
    clock.advance(minute.window_s + minute.bucket_s)
    service.bind(ALICE, start.user_code)


def test_one_account_gets_four_wrong_codes_in_a_codes_whole_lifetime(
    service: PairingService, clock: ManualClock
) -> None:
    start = service.start()
    lifetime = a_users_limit(PAIRING_LIFETIME_S)
    assert lifetime.limit == 4
    for _ in range(lifetime.limit):
        assert bind_failure(service, ALICE, wrong_code(start)) is PairingFailure.INVALID_CODE
        clock.advance(61)  # slow enough for the minute limit
    for _ in range(3):  # still refused minutes later, well inside the code's lifetime
        assert bind_failure(service, ALICE, start.user_code) is PairingFailure.RATE_LIMITED
        clock.advance(60)
    clock.advance(lifetime.window_s)
    service.bind(ALICE, service.start().user_code)


def test_a_user_who_disables_the_skill_leaves_no_wrong_code_count_behind(
    service: PairingService, store: SQLiteStore
) -> None:
    start = service.start()
    for _ in range(a_users_limit(60).limit):
        bind_failure(service, ALICE, wrong_code(start))
    assert bind_failure(service, ALICE, start.user_code) is PairingFailure.RATE_LIMITED
    store.delete_user(ALICE)  # the skill was disabled: nothing about her is kept
    service.bind(ALICE, start.user_code)


def test_one_account_can_spend_only_a_small_share_of_the_global_budget() -> None:
    lifetime = a_users_limit(PAIRING_LIFETIME_S)
    assert lifetime.limit / WRONG_CODE_BUDGET.limit_for(1) <= 1 / 5
    assert WRONG_CODE_BUDGET.window.window_s == PAIRING_LIFETIME_S


def test_a_refusal_for_everyone_is_not_charged_to_the_user(
    checking_store: CheckingStore, clock: ManualClock
) -> None:
    # Codes that live a minute, so the global window can be a minute and pass before hers.
    minute_budget = WrongCodeBudget(RateLimit("pair-global", WRONG_CODE_CAPACITY, 60, 10))
    service = PairingService(
        checking_store, clock, random.Random(9), lifetime_s=60, wrong_code_budget=minute_budget
    )
    start = service.start()
    for n in range(WRONG_CODE_CAPACITY):
        bind_failure(service, f"user-{n}", wrong_code(start))
    for _ in range(10):  # ALICE keeps trying while the budget is spent...
        assert bind_error(service, ALICE, start.user_code).everyone
    clock.advance(70)  # the global window has passed; her own 600 s window has not
    service.bind(ALICE, service.start().user_code)  # ...and none of it counted against her


def test_right_codes_do_not_count_against_the_limits(service: PairingService) -> None:
    for _ in range(2 * WRONG_CODE_CAPACITY):
        service.bind(ALICE, service.start().user_code)


def test_codes_that_cannot_be_live_are_not_charged(service: PairingService) -> None:
    for spoken in ["12345", "012345", "four eight two"] * 5:
        assert bind_failure(service, ALICE, spoken) is PairingFailure.INVALID_CODE
    service.bind(ALICE, service.start().user_code)


@pytest.mark.parametrize("live", [1, 2, 5, 8, 25])
def test_the_global_budget_shrinks_as_more_codes_are_live(
    checking_store: CheckingStore, clock: ManualClock, live: int
) -> None:
    service = PairingService(checking_store, clock, random.Random(live))
    starts = [service.start() for _ in range(live)]
    budget = WRONG_CODE_CAPACITY // live
    taken = {start.user_code for start in starts}
    guesses = (str(code) for code in range(100_000, 999_999) if str(code) not in taken)
    for n in range(budget):
        assert bind_failure(service, f"user-{n}", next(guesses)) is PairingFailure.INVALID_CODE
    # The budget is spent: nobody's code is looked up, not even a right one.
    refused = bind_error(service, "fresh-user", starts[0].user_code)
    assert (refused.reason, refused.everyone) == (PairingFailure.RATE_LIMITED, True)
    assert len(checking_store.checks) == budget
    clock.advance(WRONG_CODE_BUDGET.window.window_s + WRONG_CODE_BUDGET.window.bucket_s)
    service.bind("fresh-user", service.start().user_code)


def test_with_more_codes_live_than_the_bound_allows_no_code_is_looked_up(
    checking_store: CheckingStore, clock: ManualClock
) -> None:
    service = PairingService(checking_store, clock, random.Random(7))
    starts = [service.start() for _ in range(WRONG_CODE_CAPACITY + 1)]
    assert bind_failure(service, ALICE, starts[0].user_code) is PairingFailure.RATE_LIMITED
    assert checking_store.checks == []
    clock.advance(PAIRING_LIFETIME_S)  # they expire unbound
    service.bind(ALICE, service.start().user_code)


def test_a_falling_live_count_cannot_stretch_the_budget(
    checking_store: CheckingStore, clock: ManualClock
) -> None:
    """The worst case for an attacker: many codes live at first, then fewer and fewer.

    Twenty-five codes start 20 s apart and expire one by one; at every moment the attacker
    (a fresh Alexa account each time) says as many wrong codes as the budget lets through.
    """
    service = PairingService(checking_store, clock, random.Random(3))
    taken = set()
    for _ in range(WRONG_CODE_CAPACITY):
        taken.add(service.start().user_code)
        clock.advance(20)
    guesses = (str(code) for code in range(100_000, 999_999) if str(code) not in taken)
    accounts = (f"attacker-{n}" for n in range(10_000))
    while checking_store.live_pairings(clock.now()):
        while True:
            try:
                service.bind(next(accounts), next(guesses))
            except PairingError as exc:
                if exc.reason is PairingFailure.RATE_LIMITED:
                    break
        clock.advance(5)
    checked = checking_store.wrong_checks()
    assert checked[-1][0] - checked[0][0] < PAIRING_LIFETIME_S  # all in one lifetime
    live_sum = sum(live for _, live in checked)
    assert live_sum == worst_case_live_sum(WRONG_CODE_CAPACITY) == 87  # the bound is met, exactly
    assert live_sum / (CODE_SPACE - len(checked) - len(taken)) < GUESS_PROBABILITY_TARGET


def wrong_codes_per_window(checked: list[tuple[float, int]]) -> list[list[tuple[float, int]]]:
    """Every run of checked wrong codes that fits in one code lifetime, by its first check."""
    return [
        [(at, live) for at, live in checked[i:] if at < first + PAIRING_LIFETIME_S]
        for i, (first, _) in enumerate(checked)
    ]


ATTEMPTS = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=150, allow_nan=False),
        st.sampled_from(["start", "wrong", "wrong", "right"]),
        st.integers(min_value=1, max_value=12),  # how many in a burst
        st.integers(min_value=0, max_value=3),  # which account says it: 0 means a fresh one
    ),
    max_size=40,
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(capacity=st.one_of(st.just(WRONG_CODE_CAPACITY), st.integers(1, 8)), attempts=ATTEMPTS)
# Three codes 100 s apart, one wrong code while all three live, more as they expire.
@example(
    capacity=2,
    attempts=[
        *[(0, "start", 1, 0), (100, "start", 1, 0), (100, "start", 1, 0)],
        *[(50, "wrong", 1, 0), (350, "wrong", 3, 0), (100, "wrong", 3, 0)],
    ],
)
def test_no_lifetime_ever_checks_more_wrong_codes_than_the_bound_allows(
    tmp_path_factory: pytest.TempPathFactory,
    capacity: int,
    attempts: list[tuple[float, str, int, int]],
) -> None:
    """For any number of live codes and any attempts, the guessing bound holds in every window.

    In any span of a code's lifetime, the i-th wrong code looked up had at most
    capacity // i codes live, so their live counts add up to at most worst_case_live_sum;
    at the real capacity that keeps the chance of any hit below 1 in 10,000.
    """
    store = CheckingStore(tmp_path_factory.mktemp("bound") / "bound.sqlite3")
    clock = ManualClock(1_780_000_000.0)
    budget = WrongCodeBudget(RateLimit("pair-global", capacity, PAIRING_LIFETIME_S, 60))
    service = PairingService(store, clock, random.Random(1), wrong_code_budget=budget)
    starts: list[PairingStart] = []
    said = 0
    try:
        for gap, kind, burst, account in attempts:
            clock.advance(gap)
            for _ in range(burst):
                said += 1
                if kind == "start":
                    starts.append(service.start(f"192.0.2.{said % 50}"))
                    continue
                user = f"account-{account}" if account else f"fresh-{said}"
                right = kind == "right" and starts
                code = starts[said % len(starts)].user_code if right else str(100_000 + said)
                with contextlib.suppress(PairingError):
                    service.bind(user, code)
        checked = store.wrong_checks()
    finally:
        store.close()
    windows = wrong_codes_per_window(checked)
    # Steer the search towards the windows that come closest to the bound.
    target(max((sum(live for _, live in w) for w in windows), default=0) / capacity)
    for window in windows:
        for i, (_, live) in enumerate(window, start=1):
            assert i <= budget.limit_for(live)
        live_sum = sum(live for _, live in window)
        assert live_sum <= worst_case_live_sum(capacity)
        if capacity == WRONG_CODE_CAPACITY:
            chance = live_sum / (CODE_SPACE - capacity - START_LIMIT.limit)
            assert chance < GUESS_PROBABILITY_TARGET


def test_the_capacity_is_the_largest_that_keeps_one_in_ten_thousand() -> None:
    assert WRONG_CODE_CAPACITY == largest_wrong_code_capacity(GUESS_PROBABILITY_TARGET) == 25
    assert guess_probability_bound(WRONG_CODE_CAPACITY) < GUESS_PROBABILITY_TARGET == 1 / 10_000
    assert guess_probability_bound(WRONG_CODE_CAPACITY + 1) >= GUESS_PROBABILITY_TARGET
    assert guess_probability_bound(WRONG_CODE_CAPACITY) == pytest.approx(9.68e-5, rel=0.01)
    # With a steady number L of codes live, G = C // L wrong codes keep G * L / N below it too.
    for live in range(1, WRONG_CODE_CAPACITY + 2):
        g = WRONG_CODE_BUDGET.limit_for(live)
        assert g * live / (CODE_SPACE - g) < GUESS_PROBABILITY_TARGET


@settings(max_examples=40, deadline=None)
@given(gaps=st.lists(st.floats(min_value=0, max_value=200), min_size=1, max_size=60))
def test_no_span_of_a_codes_lifetime_holds_more_than_a_limit(
    tmp_path_factory: pytest.TempPathFactory, gaps: list[float]
) -> None:
    limit = RateLimit("g", limit=4, window_s=600, bucket_s=60)
    store = SQLiteStore(tmp_path_factory.mktemp("limit") / "x.sqlite3")
    now, accepted = 1_780_000_000.0, []
    for gap in gaps:
        now += gap
        if store.charge_counters([limit.charge("all", now)]):
            accepted.append(now)
    store.close()
    for i, first in enumerate(accepted):
        in_span = [t for t in accepted[i:] if t < first + limit.window_s]
        assert len(in_span) <= limit.limit


def test_a_pairing_cannot_outlive_the_window_its_wrong_codes_are_counted_in(
    store: SQLiteStore, clock: ManualClock
) -> None:
    with pytest.raises(ValueError, match="lifetime"):
        PairingService(store, clock, lifetime_s=PAIRING_LIFETIME_S + 1)
