"""What only the Redis store has: its key layout, prefixes, expiry, crash leftovers, reloads.

Its behaviour as a store is the contract, tested on both back ends in test_store_contract.
"""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from shared.redis_connection import connect, user_tag
from shared.routine.engine import RunState
from shared.stores.base import (
    CompletedRun,
    CounterCharge,
    DeviceRecord,
    PairingRecord,
    user_counter_scope,
)
from shared.stores.redis import PAIRING_GRACE_S, RedisStore

NOW = 1_780_000_000.0
ALICE = "amzn1.ask.account.ALICE"


def everything_of(store: RedisStore, user: str) -> None:
    """A user with a finished run, a paired watch (token "t1") and a pairing pending ("d2")."""
    store.save_run(
        user,
        RunState("sciatica", version=1),
        None,
        completed=CompletedRun("run-1", "sciatica", NOW, NOW + 900),
    )
    store.add_pairing(PairingRecord("d1", "u1", NOW, NOW + 600, 5))
    store.bind_pairing("u1", user, NOW)
    store.redeem_pairing("d1", DeviceRecord("t1", user, NOW, NOW), NOW)
    store.add_pairing(PairingRecord("d2", "u2", NOW, NOW + 600, 5))
    store.bind_pairing("u2", user, NOW)
    store.charge_counters([CounterCharge(f"pair-user:{user_counter_scope(user)}", 60, 0, 3)])


def test_a_users_own_keys_share_one_cluster_slot_and_never_name_the_user(
    redis_store: RedisStore,
) -> None:
    everything_of(redis_store, ALICE)
    keys = set(redis_store.client.keys("*"))
    own = {key for key in keys if f"{{u:{user_tag(ALICE)}}}" in key}
    assert {key.rsplit("}:", 1)[1] for key in own} == {
        "user",
        "run",
        "history",
        "history:order",
        "devices",
    }
    assert len({key_slot(key.encode()) for key in own}) == 1
    assert not any(ALICE in key for key in keys)


def test_global_keys_are_the_documented_ones(redis_store: RedisStore) -> None:
    everything_of(redis_store, ALICE)
    redis_store.charge_counters([CounterCharge("pair-global:all", 60, 0, 10)])
    tagged = f"{{u:{user_tag(ALICE)}}}"
    others = {key for key in redis_store.client.keys("*") if tagged not in key}
    assert others == {
        "sciatica:token:t1",
        "sciatica:{pair}:pairings",
        "sciatica:{pair}:codes",
        "sciatica:{pair}:expiry",
        "sciatica:{pair}:bound",
        f"sciatica:{{rate}}:counter:pair-user:{user_counter_scope(ALICE)}",
        "sciatica:{rate}:counter:pair-global:all",
        "sciatica:{rate}:counters",
    }


def test_deleting_a_user_leaves_not_one_key_behind(redis_store: RedisStore) -> None:
    everything_of(redis_store, ALICE)
    redis_store.delete_user(ALICE)
    assert redis_store.client.keys("*") == []


def test_a_watch_lives_under_its_token_so_one_read_finds_it(redis_store: RedisStore) -> None:
    everything_of(redis_store, ALICE)
    assert redis_store.client.smembers(redis_store.user_keys(ALICE)["devices"]) == {"t1"}
    assert redis_store.client.type(redis_store.token_key("t1")) == "string"


def test_an_index_entry_left_by_a_crash_is_cleaned_up_by_the_next_unpairing(
    redis_store: RedisStore,
) -> None:
    """delete_device removes the watch, then its index entry; a crash between leaves the entry."""
    everything_of(redis_store, ALICE)
    redis_store.client.delete(redis_store.token_key("t1"))  # the first step only
    assert redis_store.device("t1") is None
    assert redis_store.delete_devices_of(ALICE) == 0
    assert redis_store.client.exists(redis_store.user_keys(ALICE)["devices"]) == 0


def test_a_redeem_that_fails_its_claim_takes_its_watch_back(redis_store: RedisStore) -> None:
    redis_store.add_pairing(PairingRecord("d1", "u1", NOW, NOW + 600, 5))
    redis_store.bind_pairing("u1", ALICE, NOW)
    redis_store.deny_pairings_of(ALICE, NOW)
    assert not redis_store.redeem_pairing("d1", DeviceRecord("t1", ALICE, NOW, NOW), NOW)
    assert redis_store.client.exists(redis_store.user_keys(ALICE)["devices"]) == 0
    assert redis_store.client.exists(redis_store.token_key("t1")) == 0


def test_pairing_keys_expire_a_grace_period_after_the_latest_pairing(
    redis_store: RedisStore,
) -> None:
    redis_store.add_pairing(PairingRecord("d1", "u1", NOW, NOW + 600, 5))
    redis_store.bind_pairing("u1", ALICE, NOW)
    for key in redis_store.pairing_keys():
        if redis_store.client.exists(key):
            assert 600 < redis_store.client.ttl(key) <= 600 + PAIRING_GRACE_S, key
    assert redis_store.client.exists(redis_store.pairing_keys()[4])  # `bound` has one


def test_counters_expire_after_twice_their_window(redis_store: RedisStore) -> None:
    redis_store.charge_counters([CounterCharge("pair-user:abc", bucket=600, since=540, limit=3)])
    assert 60 < redis_store.client.ttl("sciatica:{rate}:counter:pair-user:abc") <= 120


def test_a_prefix_keeps_two_deployments_apart(redis_store: RedisStore, redis_url: str) -> None:
    other = RedisStore.from_url(redis_url, prefix="staging:")
    try:
        other.save_run(ALICE, RunState("sciatica", version=7), None)
        assert redis_store.load_run(ALICE) is None
        assert all(key.startswith("staging:") for key in redis_store.client.keys("*"))
    finally:
        other.close()


@pytest.mark.parametrize("prefix", ["{sciatica}:", "a}b:"])
def test_a_prefix_that_would_break_the_hash_tags_is_refused(redis_url: str, prefix: str) -> None:
    with pytest.raises(ValueError, match="braces"):
        RedisStore.from_url(redis_url, prefix=prefix)


def test_scripts_are_reloaded_when_redis_has_lost_them(redis_store: RedisStore) -> None:
    """A restart or a failover to a replica empties the script cache; nothing may notice."""
    redis_store.save_run(ALICE, RunState("sciatica", version=1), None)
    redis_store.client.script_flush()
    redis_store.save_run(ALICE, RunState("sciatica", version=2), 1)
    run = redis_store.load_run(ALICE)
    assert run is not None
    assert run.version == 2


def test_a_client_that_returns_bytes_is_refused(redis_url: str) -> None:
    import redis

    raw = redis.Redis.from_url(redis_url)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            RedisStore(raw)
    finally:
        raw.close()


def test_a_store_closes_only_the_client_it_made(redis_url: str) -> None:
    client = connect(redis_url)
    try:
        RedisStore(client).close()
        assert client.ping()
    finally:
        client.close()
