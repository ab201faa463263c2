"""The shared store for many app instances: one Redis, the same contract as the SQLite file.

Every change that reads before it writes is one Lua script (lua/), so it is atomic and costs one
round trip; plain reads are single commands. Numbers are written as the strings Python
gives (never as numbers Lua computed: Lua would round timestamps), also inside the JSON of
a pairing or a device, and read back with float() and int().

Every script and every command touches keys of one Redis Cluster slot only, and a script
is given every key it touches in KEYS (tests/shared/stores/test_redis.py watches every
command on a real server to hold it to that). Key layout (prefix `sciatica:` by default;
T is the first 32 hex digits of SHA-256 of the user id, so no key names a person):

    {u:T}:user  {u:T}:run  {u:T}:history  {u:T}:history:order  {u:T}:devices
    {u:T}:voice  {u:T}:settings
                        one user's keys: one hash tag, so one slot; `devices` is the set of
                        the token hashes of the user's watches, `settings` their own settings'
                        JSON
    token:<token hash>  a paired watch (its user's tag and id, when it was paired and last
                        seen): a request carries only its token, so one GET finds it
    {pair}:pairings  {pair}:codes  {pair}:expiry  {pair}:unbound  {pair}:bound
                        pairings exist before any user: five fixed keys in one slot, each a
                        hash or sorted set over all pairings, so every script names them all
    {rate}:counter:<key>  {rate}:counters
                        rate-limit counters (global, start, and per user) and their index

An operation over more than one slot is split into single-slot steps, ordered so that a
crash between two steps leaves nothing unsafe (docs/SCALE_OUT.md goes through each). redis-py
is imported only when a client is made, so the core loads no network client unless Redis is
configured (tests/shared/test_framework_free.py holds it to that).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..redis_connection import (
    DEFAULT_PREFIX,
    MasterTracker,
    check_decoded,
    check_prefix,
    connect,
    user_tag,
)
from ..routine.engine import RunState
from .base import (
    CompletedRun,
    CounterCharge,
    DeviceRecord,
    PairingRecord,
    Stamps,
    UserRecord,
    UserVoice,
    VersionConflict,
    counter_scopes,
    decode_run,
    new_epoch,
)

if TYPE_CHECKING:
    import redis
    import redis.cluster

log = logging.getLogger(__name__)

#: Pairing keys outlive the latest pairing's expiry by this much; purge_pairings normally
#: removes expired pairings first (an hour after expiry), the TTL only catches them if no
#: watch starts pairing for a day.
PAIRING_GRACE_S = 24 * 3600
#: The shortest life of a rate-limit counter; each charge renews it.
MIN_COUNTER_TTL_S = 60
#: Counters named in one purge script at most, so no script holds Redis for long.
PURGE_BATCH = 256


def _num(value: float) -> str:
    # repr round-trips a float exactly; Lua only compares these, it never writes its own.
    return repr(float(value))


def _opt_float(value: str | None) -> float | None:
    return None if value is None else float(value)


#: Scripts that run after pairings.lua, which names the five pairing keys and its helpers.
_AFTER_PAIRINGS = frozenset(
    [
        "add_pairing",
        "bind_pairing",
        "claim_pairing",
        "deny_pairings",
        "drop_pairings_of",
        "purge_pairings",
        "record_poll",
    ]
)
#: Every script the store runs, by name (tests/shared/stores/test_redis.py runs them all).
SCRIPT_NAMES = (
    "ensure_user",
    "mark_safety",
    "save_run",
    "history_since",
    "delete_user_keys",
    "touch_device",
    "drop_token",
    "add_pairing",
    "record_poll",
    "bind_pairing",
    "deny_pairings",
    "claim_pairing",
    "purge_pairings",
    "drop_pairings_of",
    "charge_counters",
    "refund_counters",
    "purge_counters",
)


@cache
def scripts() -> dict[str, str]:
    """Every script's Lua by name, read from the package's lua/ folder (each file says its KEYS
    and ARGV); a pairing script is pairings.lua followed by its own file."""
    folder = resources.files(__package__).joinpath("lua")
    prelude = folder.joinpath("pairings.lua").read_text("utf-8")
    return {
        name: (prelude if name in _AFTER_PAIRINGS else "")
        + folder.joinpath(f"{name}.lua").read_text("utf-8")
        for name in SCRIPT_NAMES
    }


class RedisStore:
    """Store and PairingStore on Redis, for any number of app instances sharing one server."""

    def __init__(
        self,
        client: redis.Redis | redis.RedisCluster,
        *,
        prefix: str = DEFAULT_PREFIX,
        owns_client: bool = False,
    ) -> None:
        check_decoded(client, "RedisStore")
        self.client = client
        self.prefix = check_prefix(prefix)
        self._owns_client = owns_client
        # register_script runs EVALSHA and reloads the script if Redis lost it (a restart,
        # a failover to a replica, a new cluster node).
        self._scripts = {name: client.register_script(lua) for name, lua in scripts().items()}
        self._master = MasterTracker(client)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX) -> RedisStore:
        """A store with its own client on `url` (see connect), its keys under `prefix`."""
        return cls(connect(url), prefix=prefix, owns_client=True)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def _run(self, script: str, keys: Sequence[str], args: Sequence[object] = ()) -> Any:
        self._master.follow()
        return self._scripts[script](keys=list(keys), args=list(args))

    # -- key names ------------------------------------------------------------------------

    def user_keys(self, user_id: str) -> dict[str, str]:
        """The names of one user's keys, all in the slot of their hash tag."""
        slot = f"{self.prefix}{{u:{user_tag(user_id)}}}:"
        names = ("user", "run", "history", "history:order", "devices", "voice", "settings")
        return {name: slot + name for name in names}

    def pairing_keys(self) -> list[str]:
        """The five keys every pairing script names, in the order the scripts expect."""
        names = ("pairings", "codes", "expiry", "unbound", "bound")
        return [f"{self.prefix}{{pair}}:{name}" for name in names]

    def token_key(self, token_hash: str) -> str:
        return f"{self.prefix}token:{token_hash}"

    def counter_key(self, key: str) -> str:
        return f"{self.prefix}{{rate}}:counter:{key}"

    def counter_index(self) -> str:
        return f"{self.prefix}{{rate}}:counters"

    # -- users ----------------------------------------------------------------------------

    def ensure_user(self, user_id: str, now: float) -> UserRecord:
        fields = self._run("ensure_user", [self.user_keys(user_id)["user"]], [user_id, _num(now)])
        return _user(fields)

    def get_user(self, user_id: str) -> UserRecord | None:
        fields = self.client.hmget(
            self.user_keys(user_id)["user"], ["user_id", "created_at", "safety_heard_at"]
        )
        return _user(fields) if fields[0] is not None else None

    def mark_safety_heard(self, user_id: str, now: float) -> None:
        self._run("mark_safety", [self.user_keys(user_id)["user"]], [_num(now)])

    def load_voice(self, user_id: str) -> UserVoice:
        profile, offset, tuning = self.client.hmget(
            self.user_keys(user_id)["voice"], ["profile", "offset_s", "tuning"]
        )
        return UserVoice(
            profile or None, float(offset) if offset is not None else 0.0, tuning or None
        )

    def save_voice(self, user_id: str, voice: UserVoice, now: float) -> None:
        key = self.user_keys(user_id)["voice"]
        with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            fields = {"offset_s": _num(voice.offset_s), "updated_at": _num(now)}
            if voice.profile is not None:
                fields["profile"] = voice.profile
            if voice.tuning is not None:
                fields["tuning"] = voice.tuning
            pipe.hset(key, mapping=fields)
            pipe.execute()

    def load_settings(self, user_id: str) -> str | None:
        return self.client.get(self.user_keys(user_id)["settings"])

    def save_settings(self, user_id: str, settings: str, now: float) -> None:
        self.client.set(self.user_keys(user_id)["settings"], settings)

    def delete_user(self, user_id: str) -> None:
        """Forget a user, one slot at a time: pairings, watches, their own keys, counters.

        Pairings go first, so none can still turn into a watch; then every watch the user's
        index names, then the user's keys (the index with them), then their counters. A
        crash part-way leaves nothing that works: at worst counters that expire on their
        own, or watches still listed and still valid, which running it again removes.
        """
        tag = user_tag(user_id)
        self._run("drop_pairings_of", self.pairing_keys(), [tag])
        keys = self.user_keys(user_id)
        self._drop_tokens(self.client.smembers(keys["devices"]), tag)
        self._run("delete_user_keys", list(keys.values()))
        suffixes = tuple(f":{scope}" for scope in counter_scopes(user_id))
        index = self.counter_index()
        counters = [key for key in self.client.smembers(index) if key.endswith(suffixes)]
        for start in range(0, len(counters), PURGE_BATCH):
            self._run("purge_counters", [index, *counters[start : start + PURGE_BATCH]], [""])

    def _drop_tokens(self, token_hashes: Sequence[str] | set[str], tag: str) -> int:
        """Delete the watches of these tokens that belong to `tag`; how many there were.

        A watch and its user's epoch live in different slots, so no one script can change
        both: the epoch moves on before the tokens go (no token remembered until now is
        believed) and again after (nor one remembered while they went). A crash between
        leaves at most a token remembered in those microseconds, never one from before.
        """
        if not token_hashes:
            return 0
        self._new_watches_epoch(tag)
        # Lua's false arrives as None (RESP2) or False (RESP3): either way, falsy.
        dropped = sum(
            bool(self._run("drop_token", [self.token_key(token_hash)], [tag]))
            for token_hash in token_hashes
        )
        self._new_watches_epoch(tag)
        return dropped

    # -- runs -----------------------------------------------------------------------------

    def load_run(self, user_id: str) -> RunState | None:
        state, version = self.client.hmget(self.user_keys(user_id)["run"], ["state", "version"])
        if state is None:
            return None
        return decode_run(user_id, state, int(version) if version is not None else -1)

    def load_run_and_stamp(self, user_id: str) -> tuple[RunState | None, str | None]:
        key = self.user_keys(user_id)["run"]
        state, version, stamp = self.client.hmget(key, ["state", "version", "stamp"])
        if state is None:
            return None, None
        return decode_run(
            user_id, state, int(version) if version is not None else -1
        ), stamp or None

    def save_run(
        self,
        user_id: str,
        state: RunState,
        expected_version: int | None,
        completed: CompletedRun | None = None,
        stamp: str | None = None,
    ) -> None:
        keys = self.user_keys(user_id)
        finished: list[str] = ["", "", ""]
        if completed is not None:
            record = {
                "routine_id": completed.routine_id,
                "started_at": completed.started_at,
                "completed_at": completed.completed_at,
            }
            finished = [completed.run_id, json.dumps(record), _num(completed.completed_at)]
        saved, found = self._run(
            "save_run",
            [keys["run"], keys["user"], keys["history"], keys["history:order"]],
            [
                "" if expected_version is None else str(expected_version),
                str(state.version),
                json.dumps(state.to_dict(), separators=(",", ":")),
                user_id,
                _num(state.started_at or 0.0),
                *finished,
                stamp or "",
            ],
        )
        if not saved:
            raise VersionConflict(user_id, expected_version, int(found) if found else None)

    def stamps(self, user_id: str) -> Stamps:
        """One HMGET: the stamp and the watches epoch live in the run's own hash."""
        run, watches = self.client.hmget(self.user_keys(user_id)["run"], ["stamp", "watches"])
        return Stamps(run or None, watches or None)

    def renew_watches_epoch(self, user_id: str) -> None:
        self._new_watches_epoch(user_tag(user_id))

    def _new_watches_epoch(self, tag: str) -> None:
        """The user's set of watches changed: no token cached before this is believed."""
        self.client.hset(f"{self.prefix}{{u:{tag}}}:run", "watches", new_epoch())

    # -- history --------------------------------------------------------------------------

    def history(self, user_id: str, limit: int = 20) -> list[CompletedRun]:
        if limit == 0:
            return []
        keys = self.user_keys(user_id)
        # A negative limit means no limit, as SQLite's LIMIT -1 does.
        run_ids = self.client.zrevrange(keys["history:order"], 0, limit - 1 if limit > 0 else -1)
        if not run_ids:
            return []
        runs = []
        raws = self.client.hmget(keys["history"], run_ids)
        for run_id, raw in zip(run_ids, raws, strict=True):
            if raw is None:
                continue  # the user was deleted between the two reads
            runs.append(_completed(run_id, raw))
        return runs

    def history_since(self, user_id: str, since: float) -> list[CompletedRun]:
        keys = self.user_keys(user_id)
        found = self._run("history_since", [keys["history:order"], keys["history"]], [_num(since)])
        return [_completed(found[i], found[i + 1]) for i in range(0, len(found), 2)]

    # -- watch pairing --------------------------------------------------------------------

    def add_pairing(self, pairing: PairingRecord) -> bool:
        lifetime = max(1, math.ceil(pairing.expires_at - pairing.created_at))
        record: dict[str, str] = {
            "user_code_hash": pairing.user_code_hash,
            "created_at": _num(pairing.created_at),
            "expires_at": _num(pairing.expires_at),
            "interval": str(pairing.interval),
            "denied": "1" if pairing.denied else "0",
        }
        tag = ""
        if pairing.last_polled_at is not None:
            record["last_polled_at"] = _num(pairing.last_polled_at)
        if pairing.user_id is not None:
            tag = user_tag(pairing.user_id)
            record.update(user_id=pairing.user_id, user_tag=tag)
        if pairing.bound_at is not None:
            record["bound_at"] = _num(pairing.bound_at)
        unbound = pairing.user_id is None and not pairing.denied
        added = self._run(
            "add_pairing",
            self.pairing_keys(),
            [
                pairing.device_code_hash,
                pairing.user_code_hash,
                _num(pairing.created_at),
                _num(pairing.expires_at),
                lifetime + PAIRING_GRACE_S,
                json.dumps(record),
                tag,
                "1" if unbound else "0",
            ],
        )
        return bool(added)

    def pairing(self, device_code_hash: str) -> PairingRecord | None:
        raw = self.client.hget(self.pairing_keys()[0], device_code_hash)
        if raw is None:
            return None
        fields = json.loads(raw)
        return PairingRecord(
            device_code_hash=device_code_hash,
            user_code_hash=fields["user_code_hash"],
            created_at=float(fields["created_at"]),
            expires_at=float(fields["expires_at"]),
            interval=int(fields["interval"]),
            last_polled_at=_opt_float(fields.get("last_polled_at")),
            user_id=fields.get("user_id"),
            bound_at=_opt_float(fields.get("bound_at")),
            denied=fields.get("denied") == "1",
        )

    def record_poll(self, device_code_hash: str, polled_at: float, interval: int) -> None:
        self._run(
            "record_poll",
            self.pairing_keys(),
            [device_code_hash, _num(polled_at), str(interval)],
        )

    def bind_pairing(self, user_code_hash: str, user_id: str, now: float) -> bool:
        bound = self._run(
            "bind_pairing",
            self.pairing_keys(),
            [user_code_hash, user_id, user_tag(user_id), _num(now)],
        )
        return bool(bound)

    def live_pairings(self, now: float) -> int:
        return int(self.client.zcount(self.pairing_keys()[3], f"({_num(now)}", "+inf"))

    def deny_pairings_of(self, user_id: str, now: float) -> int:
        return int(
            self._run(
                "deny_pairings",
                self.pairing_keys(),
                [user_id, user_tag(user_id), _num(now)],
            )
        )

    def redeem_pairing(self, device_code_hash: str, device: DeviceRecord, now: float) -> bool:
        """Swap the pairing for the watch: watch first, then the pairing, each in its slot.

        The watch is listed in the user's index and written under its token before the
        pairing is claimed, and taken back if the claim fails. Its token is handed to nobody
        until the claim has succeeded, so a watch left by a crash in between is one nobody
        can use, and the pairing stays redeemable by the watch's retry; two redeems racing
        claim it once.
        """
        tag = user_tag(device.user_id)
        watch = {
            "user_tag": tag,
            "user_id": device.user_id,
            "created_at": _num(device.created_at),
            "last_seen_at": _num(device.last_seen_at),
        }
        devices = self.user_keys(device.user_id)["devices"]
        self.client.sadd(devices, device.token_hash)
        if not self.client.set(self.token_key(device.token_hash), json.dumps(watch), nx=True):
            return False  # that token is taken: never, for a fresh 256-bit token
        claimed = self._run(
            "claim_pairing",
            self.pairing_keys(),
            [device_code_hash, device.user_id, _num(now)],
        )
        if not claimed:
            # Taken back unseen (nobody holds the token yet): no epoch to move on.
            self._run("drop_token", [self.token_key(device.token_hash)], [tag])
            self.client.srem(devices, device.token_hash)
        else:
            self._new_watches_epoch(tag)
        return bool(claimed)

    def purge_pairings(self, expired_before: float) -> int:
        return int(self._run("purge_pairings", self.pairing_keys(), [_num(expired_before)]))

    # -- devices --------------------------------------------------------------------------

    def device(self, token_hash: str) -> DeviceRecord | None:
        """One GET: a watch lives under its token, since every poll starts by asking this."""
        raw = self.client.get(self.token_key(token_hash))
        if raw is None:
            return None
        watch = json.loads(raw)
        return DeviceRecord(
            token_hash,
            watch["user_id"],
            float(watch["created_at"]),
            float(watch["last_seen_at"]),
        )

    def touch_device(self, token_hash: str, now: float) -> None:
        self._run("touch_device", [self.token_key(token_hash)], [_num(now)])

    def delete_device(self, token_hash: str) -> bool:
        """Remove the watch (its token stops working there and then), then its index entry."""
        raw = self.client.get(self.token_key(token_hash))
        if raw is None:
            return False
        tag = json.loads(raw)["user_tag"]
        if not self._drop_tokens([token_hash], tag):
            return False
        self.client.srem(f"{self.prefix}{{u:{tag}}}:devices", token_hash)
        return True

    def delete_devices_of(self, user_id: str) -> int:
        """Remove every watch the user's index names, then those index entries."""
        devices = self.user_keys(user_id)["devices"]
        tokens = self.client.smembers(devices)
        deleted = self._drop_tokens(tokens, user_tag(user_id))
        if tokens:
            self.client.srem(devices, *tokens)
        return deleted

    # -- rate-limit counters --------------------------------------------------------------

    def charge_counters(self, charges: Sequence[CounterCharge]) -> bool:
        if not charges:
            return True
        args: list[object] = []
        for charge in charges:
            # A bucket counts until it falls out of the window; twice the window covers it.
            ttl = max(MIN_COUNTER_TTL_S, 2 * (charge.bucket - charge.since))
            args += [charge.since, charge.limit, charge.bucket, ttl]
        keys = [self.counter_key(charge.key) for charge in charges]
        return bool(self._run("charge_counters", [*keys, self.counter_index()], args))

    def refund_counters(self, charges: Sequence[CounterCharge]) -> None:
        if charges:
            self._run(
                "refund_counters",
                [self.counter_key(charge.key) for charge in charges],
                [charge.bucket for charge in charges],
            )

    def purge_counters(self, older_than: int) -> int:
        """Purge the counters the index names now, a batch per script; later ones wait."""
        index = self.counter_index()
        counters = sorted(self.client.smembers(index))
        purged = 0
        for start in range(0, len(counters), PURGE_BATCH):
            batch = counters[start : start + PURGE_BATCH]
            purged += int(self._run("purge_counters", [index, *batch], [older_than]))
        return purged


def _completed(run_id: str, raw: str) -> CompletedRun:
    """A history entry from its id and its JSON record."""
    data = json.loads(raw)
    return CompletedRun(run_id, data["routine_id"], data["started_at"], data["completed_at"])


def _user(fields: Sequence[str | None]) -> UserRecord:
    user_id, created_at, safety_heard_at = fields
    if user_id is None or created_at is None:
        raise ValueError("a user record without its id or creation time")
    return UserRecord(user_id, float(created_at), _opt_float(safety_heard_at))
