"""Redis Cluster's rule, checked on a plain server: every command touches keys of one slot.

Redis Cluster refuses a command or script whose keys fall in more than one hash slot
(CROSSSLOT), and a script may only touch the keys it was given in KEYS. A plain server
enforces neither, so this test watches the store on a real one with MONITOR: it drives
every store operation (including their failure and clean-up paths), then checks that each
command's keys (as the server itself finds them, with COMMAND GETKEYS) share one slot
(redis-py's key_slot: Redis Cluster's CRC16 of the hash tag), and that every command a
script ran touched only keys the script declared. Every script in the store must have run,
so a new one cannot slip past unchecked.
"""

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

from shared.redis_connection import connect
from shared.routine.engine import RunState, Status
from shared.stores.base import (
    CompletedRun,
    CounterCharge,
    DeviceRecord,
    PairingRecord,
    VersionConflict,
    counter_scopes,
)
from shared.stores.redis import RedisStore, scripts

NOW = 1_780_000_000.0
ALICE = "amzn1.ask.account.ALICE"
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
