"""Pairing a watch by voice: codes, RFC 8628 polling, tokens, unpairing and the guessing bound."""

from __future__ import annotations

import random
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.clock import ManualClock
from shared.pairing import (
    CODE_SPACE,
    GLOBAL_LIMIT,
    GUESS_PROBABILITY_TARGET,
    PAIRING_LIFETIME_S,
    PER_USER_LIMIT,
    POLL_INTERVAL_S,
    REALISTIC_LIVE_CODES,
    SLOW_DOWN_STEP_S,
    PairingBusy,
    PairingError,
    PairingFailure,
    PairingService,
    PairingStart,
    RateLimit,
    TokenError,
    TokenErrorCode,
    guess_probability_bound,
    parse_spoken_code,
)
from shared.sqlite_store import SQLiteStore

ALICE = "amzn1.ask.account.ALICE"
BOB = "amzn1.ask.account.BOB"


def pending_error(service: PairingService, device_code: str) -> TokenError:
    with pytest.raises(TokenError) as caught:
        service.exchange(device_code)
    return caught.value


def bind_failure(service: PairingService, user: str, code: str | None) -> PairingFailure:
    with pytest.raises(PairingError) as caught:
        service.bind(user, code)
    return caught.value.reason


def wrong_code(start: PairingStart) -> str:
    """A valid-looking code that is not the live one."""
    return str(100_000 + (int(start.user_code) - 100_000 + 1) % CODE_SPACE)


# -- what Alexa hears --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spoken", "code"),
    [
        ("482913", "482913"),
        ("48 29 13", "482913"),
        ("4 8 2 9 1 3", "482913"),
        ("four eight two nine one three", "482913"),
        ("Four Eight Two Nine One Three", "482913"),
        ("four 8 two 9 one 3", "482913"),
        ("four-eight-two, nine-one-three", "482913"),
        ("one oh two three four five", "102345"),
        ("one zero two three four five", "102345"),
        ("double four eight two nine one", "448291"),
        ("triple seven one two three", "777123"),
        ("  482913  ", "482913"),
        ("012345", "012345"),  # parses; bind refuses it (codes never start with 0)
    ],
)
def test_a_spoken_code_becomes_six_digits(spoken: str, code: str) -> None:
    assert parse_spoken_code(spoken) == code


@pytest.mark.parametrize(
    "spoken",
    [
        None,
        "",
        "?",
        "48291",
        "4829134",
        "four eight two nine one",
        "four eight two nine one three four",
        "four eight to nine one three",  # homophones are not guessed at
        "pair code 482913",
        "48291three3",
        "double",
        "four eight two nine one double",
        "\uff14\uff18\uff12\uff19\uff11\uff13",  # full-width digits: not what Alexa sends
        "48.2913e0",
    ],
)
def test_anything_but_exactly_six_digits_is_no_code(spoken: str | None) -> None:
    assert parse_spoken_code(spoken) is None


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


def test_a_flood_of_starts_is_refused(store: SQLiteStore, clock: ManualClock) -> None:
    service = PairingService(
        store, clock, start_limit=RateLimit("pair-start", limit=3, window_s=600, bucket_s=60)
    )
    for _ in range(3):
        service.start()
    with pytest.raises(PairingBusy) as caught:
        service.start()
    assert caught.value.retry_after > 0
    clock.advance(660)
    service.start()


# -- the whole grant ----------------------------------------------------------------------------


def test_a_watch_gets_a_token_once_alexa_binds_its_code(
    service: PairingService, clock: ManualClock
) -> None:
    start = service.start()
    assert pending_error(service, start.device_code).error is TokenErrorCode.AUTHORIZATION_PENDING
    service.bind(ALICE, start.spoken_code)
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


@pytest.mark.parametrize("spoken", [None, "", "  ", "?"])
def test_no_code_heard_is_a_missing_code(service: PairingService, spoken: str | None) -> None:
    assert bind_failure(service, ALICE, spoken) is PairingFailure.MISSING_CODE


# -- tokens and unpairing -----------------------------------------------------------------------


def paired(service: PairingService, user: str) -> str:
    start = service.start()
    service.bind(user, start.user_code)
    return service.exchange(start.device_code).access_token


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


def test_three_wrong_codes_a_minute_then_even_the_right_one_waits(
    service: PairingService, clock: ManualClock
) -> None:
    start = service.start()
    for _ in range(PER_USER_LIMIT.limit):
        assert bind_failure(service, ALICE, wrong_code(start)) is PairingFailure.INVALID_CODE
    assert bind_failure(service, ALICE, start.user_code) is PairingFailure.RATE_LIMITED
    clock.advance(PER_USER_LIMIT.window_s + PER_USER_LIMIT.bucket_s)
    service.bind(ALICE, start.user_code)


def test_right_codes_do_not_count_against_the_limits(service: PairingService) -> None:
    for _ in range(PER_USER_LIMIT.limit + GLOBAL_LIMIT.limit):
        service.bind(ALICE, service.start().user_code)


def test_codes_that_cannot_be_live_are_not_charged(service: PairingService) -> None:
    for spoken in ["12345", "012345", "four eight two"] * 5:
        assert bind_failure(service, ALICE, spoken) is PairingFailure.INVALID_CODE
    service.bind(ALICE, service.start().user_code)


def test_wrong_codes_from_many_users_hit_the_global_limit(
    service: PairingService, clock: ManualClock
) -> None:
    start = service.start()
    for n in range(GLOBAL_LIMIT.limit):
        assert bind_failure(service, f"user-{n}", wrong_code(start)) is PairingFailure.INVALID_CODE
    assert bind_failure(service, "fresh-user", start.user_code) is PairingFailure.RATE_LIMITED
    clock.advance(GLOBAL_LIMIT.window_s + GLOBAL_LIMIT.bucket_s)
    start = service.start()
    service.bind("fresh-user", start.user_code)


@settings(max_examples=40, deadline=None)
@given(gaps=st.lists(st.floats(min_value=0, max_value=200), min_size=1, max_size=60))
def test_no_span_of_a_codes_lifetime_holds_more_than_the_global_limit(
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


def test_guessing_a_live_code_stays_below_one_in_ten_thousand() -> None:
    bound = guess_probability_bound(GLOBAL_LIMIT.limit, REALISTIC_LIVE_CODES)
    assert GLOBAL_LIMIT.window_s == PAIRING_LIFETIME_S  # the limit covers a whole lifetime
    assert bound < GUESS_PROBABILITY_TARGET == 1 / 10_000
    assert bound == pytest.approx(8.9e-5, rel=0.01)
