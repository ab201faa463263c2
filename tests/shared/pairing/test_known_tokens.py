"""Tokens remembered per instance: one small read per poll, and never alive after revocation.

Each test runs on SQLite and on Redis (and a Redis Cluster where the suite has one), with two
pairing services over one store standing for two instances of the app: what one revokes,
the other refuses at its very next check, though nothing is sent between them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.clock import ManualClock
from shared.pairing.known_tokens import KnownTokens
from shared.pairing.service import TOUCH_EVERY_S, PairingService
from tests.support.core import paired
from tests.support.stores import AnyStore, StoreSpec

ALICE = "amzn1.ask.account.ALICE"
BOB = "amzn1.ask.account.BOB"


@dataclass
class CountingStore:
    """The store, counting the reads a check makes, and able to act between two of them."""

    inner: Any
    reads: list[str] = field(default_factory=list)
    after_device: list[Any] = field(default_factory=list)

    def device(self, token_hash: str) -> Any:
        self.reads.append("device")
        found = self.inner.device(token_hash)
        while self.after_device:
            self.after_device.pop(0)()
        return found

    def stamps(self, user_id: str) -> Any:
        self.reads.append("stamps")
        return self.inner.stamps(user_id)

    def touch_device(self, token_hash: str, now: float) -> None:
        self.reads.append("touch")
        self.inner.touch_device(token_hash, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_780_000_000.0)


@pytest.fixture
def stores(store_spec: StoreSpec) -> Iterator[tuple[AnyStore, AnyStore]]:
    """Two connections to one store: instance `a`'s and instance `b`'s."""
    a, b = store_spec.open(), store_spec.open()
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def a(stores: tuple[AnyStore, AnyStore], clock: ManualClock) -> PairingService:
    return PairingService(CountingStore(stores[0]), clock, random.Random(1))


@pytest.fixture
def b(stores: tuple[AnyStore, AnyStore], clock: ManualClock) -> PairingService:
    return PairingService(stores[1], clock, random.Random(2))


def reads(service: PairingService) -> list[str]:
    counting = service.store
    assert isinstance(counting, CountingStore)
    taken, counting.reads[:] = list(counting.reads), []
    return taken


def test_a_token_seen_before_is_checked_with_one_read_that_brings_the_stamps(
    a: PairingService, b: PairingService
) -> None:
    token = paired(b, ALICE)
    assert a.authenticate(token) == ALICE
    reads(a)
    found = a.authenticate_with_stamps(token)
    assert found is not None
    assert found.user_id == ALICE
    assert found.stamps.watches is not None
    assert reads(a) == ["stamps"]


@pytest.mark.parametrize(
    "revoke",
    [
        pytest.param(lambda b, token: b.revoke_token(token), id="unpaired-watch"),
        pytest.param(lambda b, token: b.revoke_user(ALICE), id="unpaired-by-voice"),
        pytest.param(lambda b, token: b.store.delete_user(ALICE), id="skill-disabled"),
    ],
)
def test_a_token_revoked_on_another_instance_is_refused_at_the_next_check(
    a: PairingService, b: PairingService, revoke: Any
) -> None:
    token = paired(b, ALICE)
    assert a.authenticate(token) == ALICE
    assert a.authenticate(token) == ALICE  # remembered now
    revoke(b, token)
    assert a.authenticate(token) is None
    assert a.authenticate(token) is None


def test_another_watch_paired_costs_a_full_check_but_keeps_the_token(
    a: PairingService, b: PairingService
) -> None:
    token = paired(b, ALICE)
    a.authenticate(token)
    paired(b, ALICE)
    reads(a)
    assert a.authenticate(token) == ALICE
    assert reads(a) == ["stamps", "device", "stamps", "device"]
    assert a.authenticate(token) == ALICE
    assert reads(a) == ["stamps"]


def test_a_revocation_between_the_reads_of_a_first_check_is_never_remembered(
    a: PairingService, b: PairingService
) -> None:
    token = paired(b, ALICE)
    counting = a.store
    assert isinstance(counting, CountingStore)
    # The watch is read, then unpaired elsewhere, before the epoch is read.
    counting.after_device.append(lambda: b.revoke_user(ALICE))
    a.authenticate(token)
    assert a.authenticate(token) is None


def test_a_users_token_never_answers_for_another(a: PairingService, b: PairingService) -> None:
    alice, bob = paired(b, ALICE), paired(b, BOB)
    assert [a.authenticate(t) for t in (alice, bob, alice, bob)] == [ALICE, BOB, ALICE, BOB]
    b.revoke_user(BOB)
    assert [a.authenticate(t) for t in (alice, bob)] == [ALICE, None]


def test_a_remembered_watch_is_still_marked_seen_once_a_minute(
    a: PairingService, b: PairingService, clock: ManualClock
) -> None:
    token = paired(b, ALICE)
    a.authenticate(token)
    reads(a)
    clock.advance(TOUCH_EVERY_S - 1)
    a.authenticate(token)
    assert "touch" not in reads(a)
    clock.advance(1)
    a.authenticate(token)
    assert reads(a) == ["stamps", "touch"]
    a.authenticate(token)
    assert reads(a) == ["stamps"]


def test_a_watch_paired_before_epochs_were_kept_gets_one(
    a: PairingService, b: PairingService, stores: tuple[AnyStore, AnyStore]
) -> None:
    token = paired(b, ALICE)
    store = stores[1]
    if hasattr(store, "client"):
        store.client.hdel(store.user_keys(ALICE)["run"], "watches")
    else:
        with store._write() as conn:
            conn.execute("DELETE FROM stamps")
    assert store.stamps(ALICE).watches is None
    assert a.authenticate(token) == ALICE
    assert store.stamps(ALICE).watches is not None
    b.revoke_user(ALICE)
    assert a.authenticate(token) is None


def test_the_cache_keeps_at_most_its_limit_and_forgets_the_least_recent() -> None:
    from shared.pairing.known_tokens import KnownToken

    known = KnownTokens(limit=2)
    for name in ("x", "y"):
        known.put(name, KnownToken(name, "e", 0.0))
    assert known.get("x") is not None  # x is now the most recent
    known.put("z", KnownToken("z", "e", 0.0))
    assert (known.get("x"), known.get("y")) == (KnownToken("x", "e", 0.0), None)
    assert len(known) == 2


def test_on_redis_a_crash_halfway_through_an_unpairing_leaves_no_remembered_token_alive(
    redis_store: Any, clock: ManualClock
) -> None:
    """The watch and its user's epoch are in different slots: no one script does both."""
    a = PairingService(redis_store, clock, random.Random(1))
    b = PairingService(redis_store, clock, random.Random(2))
    token = paired(b, ALICE)
    assert a.authenticate(token) == ALICE  # remembered by `a`
    moves = []
    renew = redis_store._new_watches_epoch

    def crash_after_the_first(tag: str) -> None:
        if moves:
            raise ConnectionError("the instance died here")
        moves.append(tag)
        renew(tag)

    redis_store._new_watches_epoch = crash_after_the_first
    with pytest.raises(ConnectionError):
        b.revoke_user(ALICE)
    assert a.authenticate(token) is None
