"""What only the Redis store has: its key layout, prefixes, expiry, crash leftovers, reloads.

Its behaviour as a store is the contract, tested on both back ends in test_store_contract."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import redis
from redis.crc import key_slot

from shared.redis_connection import connect, user_tag
from shared.routine.engine import RunState, Status
from shared.stores.base import (
    CompletedRun,
    CounterCharge,
    DeviceRecord,
    PairingRecord,
    VersionConflict,
    counter_scopes,
    user_counter_scope,
)
from shared.stores.redis import PAIRING_GRACE_S, RedisStore, scripts

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


# -- Redis Cluster's rule, checked on a plain server: every command touches keys of one slot -------


BOB = "amzn1.ask.account.BOB"
#: A bound on waiting for MONITOR to catch up, so a broken server fails instead of hanging.
LIMIT_S = 10.0
#: One MONITOR line: time, [db client], then the command's arguments, each quoted.
LINE = re.compile(r"^[\d.]+ \[(\d+) ([^\]]+)\] (.*)$")
ARGUMENT = re.compile(r'"((?:[^"\\]|\\.)*)"')
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b"}


def unquote(raw: str) -> str:
    """One MONITOR argument as it was sent: its escapes (\\" \\\\ \\n \\xHH) undone."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        if raw[i] != "\\":
            out.append(raw[i])
            i += 1
        elif raw[i + 1] == "x":
            out.append(chr(int(raw[i + 2 : i + 4], 16)))
            i += 4
        else:
            out.append(ESCAPES.get(raw[i + 1], raw[i + 1]))
            i += 2
    return "".join(out)


@dataclass
class Command:
    """A command the store sent; for a script, the commands it ran inside Redis."""

    args: list[str]
    ran: list[list[str]] = field(default_factory=list)

    @property
    def is_script(self) -> bool:
        return self.args[0].upper() in ("EVAL", "EVALSHA")


def parse(lines: list[str], ours: set[str]) -> list[Command]:
    """The commands sent from the connections `ours`, each script with what it ran."""
    commands: list[Command] = []
    script: Command | None = None
    for line in lines:
        match = LINE.match(line)
        assert match, f"not a MONITOR line: {line!r}"
        _, client, rest = match.groups()
        args = [unquote(raw) for raw in ARGUMENT.findall(rest)]
        if client == "lua":
            if script is not None:  # a script's commands follow it, atomically
                script.ran.append(args)
            continue
        command = Command(args) if client in ours else None
        if command is not None:
            commands.append(command)
        script = command if command is not None and command.is_script else None
    return commands


@contextmanager
def monitoring(url: str) -> Iterator[list[str]]:
    """Every MONITOR line while the block runs, read on a thread of its own."""
    client = redis.Redis.from_url(url, decode_responses=True)
    monitor = client.monitor()
    monitor.__enter__()
    lines: list[str] = []

    def read() -> None:
        while True:
            try:
                lines.append(monitor.connection.read_response())
            except (redis.RedisError, OSError, ValueError):
                return  # the block ended and closed the link under the read

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield lines
    finally:
        client.close()
        monitor.connection.disconnect()
        reader.join(LIMIT_S)


def every_operation(store: RedisStore) -> None:
    """Each store method, with the failure and clean-up paths that run scripts of their own."""
    store.ensure_user(ALICE, NOW)
    store.get_user(ALICE)
    store.mark_safety_heard(ALICE, NOW + 1)
    store.save_run(ALICE, RunState("sciatica", version=1, run_id="run-1"), None)
    with pytest.raises(VersionConflict):
        store.save_run(ALICE, RunState("sciatica", version=2), 0)
    finished = RunState("sciatica", version=2, status=Status.COMPLETED, run_id="run-1")
    store.save_run(ALICE, finished, 1, completed=CompletedRun("run-1", "sciatica", NOW, NOW + 9))
    store.load_run(ALICE)
    store.history(ALICE)
    store.history_since(ALICE, NOW)
    # Pairing: an expired holder gives up its code; a poll; a bind; a count.
    store.add_pairing(PairingRecord("d0", "u1", NOW - 700, NOW - 100, 5))
    store.add_pairing(PairingRecord("d1", "u1", NOW, NOW + 600, 5))
    store.pairing("d1")
    store.record_poll("d1", NOW + 5, 10)
    store.bind_pairing("u1", ALICE, NOW + 6)
    store.live_pairings(NOW + 6)
    # A redeem whose claim fails takes its device back; then one that succeeds.
    assert not store.redeem_pairing("d1", DeviceRecord("t0", BOB, NOW, NOW), NOW + 7)
    assert store.redeem_pairing("d1", DeviceRecord("t1", ALICE, NOW, NOW), NOW + 7)
    store.device("t1")
    store.touch_device("t1", NOW + 100)
    store.delete_device("t1")
    # An index entry whose watch is gone (a crash between two steps) is cleaned up later.
    store.add_pairing(PairingRecord("d2", "u2", NOW, NOW + 600, 5))
    store.bind_pairing("u2", ALICE, NOW + 8)
    store.redeem_pairing("d2", DeviceRecord("t2", ALICE, NOW, NOW), NOW + 8)
    store.client.delete(store.token_key("t2"))
    assert store.device("t2") is None
    # Denying, deleting a user's devices, purging.
    store.add_pairing(PairingRecord("d3", "u3", NOW, NOW + 600, 5))
    store.bind_pairing("u3", ALICE, NOW + 9)
    store.deny_pairings_of(ALICE, NOW + 9)
    store.add_pairing(PairingRecord("d4", "u4", NOW, NOW + 600, 5))
    store.bind_pairing("u4", ALICE, NOW + 9)
    store.redeem_pairing("d4", DeviceRecord("t4", ALICE, NOW, NOW), NOW + 9)
    store.delete_devices_of(ALICE)
    store.add_pairing(PairingRecord("d5", "u5", NOW, NOW + 10, 5))
    store.purge_pairings(NOW + 20)
    # Counters, the user's own among them.
    charges = [CounterCharge("pair-global:all", 60, 0, 10)]
    charges += [CounterCharge(f"pair-user:{scope}", 60, 0, 3) for scope in counter_scopes(ALICE)]
    store.charge_counters(charges)
    store.refund_counters(charges[:1])
    store.purge_counters(0)
    # Forgetting a user who has a bit of everything.
    store.add_pairing(PairingRecord("d6", "u6", NOW, NOW + 600, 5))
    store.bind_pairing("u6", ALICE, NOW + 10)
    store.add_pairing(PairingRecord("d7", "u7", NOW, NOW + 600, 5))
    store.bind_pairing("u7", ALICE, NOW + 10)
    store.redeem_pairing("d7", DeviceRecord("t7", ALICE, NOW, NOW), NOW + 10)
    store.delete_user(ALICE)
    store.purge_counters(10**9)
    # A server that lost its scripts (a restart, a failover): they are loaded again.
    store.client.script_flush()
    store.ensure_user(BOB, NOW)


@pytest.fixture
def commands(redis_url: str, redis_store: RedisStore) -> list[Command]:
    """What a store sent while every_operation ran (on a database emptied by redis_store)."""
    name = f"slot-check-{secrets.token_hex(4)}"
    store = RedisStore(connect(redis_url, client_name=name), owns_client=True)
    marker = f"slot-check-done-{secrets.token_hex(4)}"
    try:
        with monitoring(redis_url) as lines:
            every_operation(store)
            ours = {c["addr"] for c in store.client.client_list() if c["name"] == name}
            store.client.echo(marker)
            deadline = time.monotonic() + LIMIT_S
            while not any(marker in line for line in lines[-5:]):
                assert time.monotonic() < deadline, "MONITOR never showed the last command"
                time.sleep(0.01)
            seen = list(lines)
    finally:
        store.close()
    return parse(seen, ours)


def keys_of(client: redis.Redis, args: list[str]) -> list[str]:
    """The keys in a command, as the server finds them (none for a command without keys)."""
    try:
        return list(client.command_getkeys(*args))
    except redis.ResponseError:
        return []


def test_every_command_and_script_stays_in_one_slot_and_scripts_touch_only_their_keys(
    commands: list[Command], redis_store: RedisStore
) -> None:
    client = redis_store.client
    assert commands, "MONITOR saw nothing from the store"
    for command in commands:
        keys = keys_of(client, command.args)
        slots = {key_slot(key.encode()) for key in keys}
        assert len(slots) <= 1, f"{command.args[0]} spans slots {slots}: {keys}"
        if not command.is_script:
            continue
        declared = set(keys)
        for ran in command.ran:
            touched = set(keys_of(client, ran))
            assert touched <= declared, f"a script ran {ran[0]} on undeclared {touched - declared}"


def test_every_script_of_the_store_was_run(commands: list[Command]) -> None:
    ran = {command.args[1] for command in commands if command.is_script and command.ran}
    missing = {
        name for name, lua in scripts().items() if hashlib.sha1(lua.encode()).hexdigest() not in ran
    }
    assert not missing, f"every_operation never ran {sorted(missing)}"
