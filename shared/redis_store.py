"""The shared store for many app instances: one Redis, the same contract as the SQLite file.

Every change that reads before it writes is one Lua script, so it is atomic and costs one
round trip; plain reads are single commands. Numbers are written as the strings Python
gives (never as numbers Lua computed: Lua would round timestamps), and read back with
float() and int().

Key layout (prefix `sciatica:` by default; T is the first 32 hex digits of SHA-256 of the
user id, so no key names a person):

    {u:T}:user  {u:T}:run  {u:T}:history  {u:T}:history:order
    {u:T}:devices  {u:T}:device:<token hash>
                                a user's keys: one hash tag, so one Redis Cluster slot
    token:<token hash>          -> T; a request carries only its token, so this finds the user
    {pair}:pairing:<device code hash>  {pair}:code:<user code hash>  {pair}:user:<T>
    {pair}:expiry  {pair}:unbound      pairings exist before any user: one global slot
    {rate}:counter:<key>  {rate}:counters
                                rate-limit counters (global, per-user and start limits)

docs/SCALE_OUT.md says which scripts cross slots and what Redis Cluster would need.
redis-py is imported only when a client is made, so the core loads no network client unless
Redis is configured (tests/shared/test_core_is_framework_free.py holds it to that).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .engine import RunState
from .store import (
    CompletedRun,
    CounterCharge,
    DeviceRecord,
    PairingRecord,
    UserRecord,
    VersionConflict,
)

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "sciatica:"
#: Hex digits of SHA-256(user id) in a user's hash tag: 128 bits, so users never share keys.
USER_TAG_HEX = 32
#: Pairing keys outlive their expiry by this much; purge_pairings normally removes them first
#: (an hour after expiry), the TTL only catches them if no watch starts pairing for a day.
PAIRING_GRACE_S = 24 * 3600
#: The shortest life of a rate-limit counter; each charge renews it.
MIN_COUNTER_TTL_S = 60
#: A store call that waits longer than this on Redis fails instead of holding a request.
SOCKET_TIMEOUT_S = 5.0


def connect(url: str) -> redis.Redis:
    """A client on `url` that decodes replies, gives up on a dead server, and pings idle links."""
    import redis  # deferred: see the module docstring

    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=30,  # a PING on a link idle this long finds a dead socket
    )


def user_tag(user_id: str) -> str:
    """The hash-tag part of a user's keys: stable, fixed length, and not the id itself."""
    return hashlib.sha256(user_id.encode()).hexdigest()[:USER_TAG_HEX]


def _num(value: float) -> str:
    # repr round-trips a float exactly; Lua only compares these, it never writes its own.
    return repr(float(value))


def _opt_float(value: str | None) -> float | None:
    return None if value is None else float(value)


# -- Lua --------------------------------------------------------------------------------------
# Key names built inside a script follow the same pattern as RedisStore's key methods.

_DROP_PAIRING = """
local function drop_pairing(prefix, dch)
  local pkey = prefix .. '{pair}:pairing:' .. dch
  local f = redis.call('HMGET', pkey, 'user_code_hash', 'user_tag')
  local existed = redis.call('DEL', pkey)
  if f[1] then
    local ckey = prefix .. '{pair}:code:' .. f[1]
    if redis.call('GET', ckey) == dch then redis.call('DEL', ckey) end
  end
  if f[2] then redis.call('SREM', prefix .. '{pair}:user:' .. f[2], dch) end
  redis.call('ZREM', prefix .. '{pair}:expiry', dch)
  redis.call('ZREM', prefix .. '{pair}:unbound', dch)
  return existed
end
"""

# KEYS: user. ARGV: user_id, created_at.
_ENSURE_USER = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'user_id', ARGV[1], 'created_at', ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'user_id', 'created_at', 'safety_heard_at')
"""

# KEYS: user. ARGV: now.
_MARK_SAFETY = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'safety_heard_at', ARGV[1])
end
"""

# KEYS: run, user. ARGV: expected version ('' = no run), version, state, user_id, created_at.
_SAVE_RUN = """
local found = redis.call('HGET', KEYS[1], 'version') or ''
if found ~= ARGV[1] then return {0, found} end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'user_id', ARGV[4], 'created_at', ARGV[5])
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'state', ARGV[3])
return {1, ''}
"""

# KEYS: history, history:order. ARGV: run_id, record JSON, completed_at.
_RECORD_COMPLETION = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
"""

# KEYS: user, run, history, history:order, devices, {pair}:user:T. ARGV: prefix, user slot.
_DELETE_USER = (
    _DROP_PAIRING
    + """
for _, th in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  redis.call('DEL', ARGV[1] .. 'token:' .. th, ARGV[2] .. 'device:' .. th)
end
for _, dch in ipairs(redis.call('SMEMBERS', KEYS[6])) do drop_pairing(ARGV[1], dch) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
"""
)

# KEYS: pairing, code, expiry, unbound. ARGV: prefix, dch, created_at, expires_at, ttl,
# user_tag ('' if unbound), then field/value pairs for the pairing hash.
_ADD_PAIRING = (
    _DROP_PAIRING
    + """
local holder = redis.call('GET', KEYS[2])
if holder then
  local held_until = redis.call('HGET', ARGV[1] .. '{pair}:pairing:' .. holder, 'expires_at')
  if held_until and tonumber(held_until) > tonumber(ARGV[3]) then return 0 end
  drop_pairing(ARGV[1], holder)  -- expired: it gives up its user code
end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
local fields = redis.call('HMGET', KEYS[1], 'user_id', 'denied')
if not fields[1] and fields[2] == '0' then redis.call('ZADD', KEYS[4], ARGV[4], ARGV[2]) end
if ARGV[6] ~= '' then
  local owned = ARGV[1] .. '{pair}:user:' .. ARGV[6]
  redis.call('SADD', owned, ARGV[2])
  redis.call('EXPIRE', owned, ARGV[5])
end
return 1
"""
)

# KEYS: pairing. ARGV: last_polled_at, interval.
_RECORD_POLL = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'last_polled_at', ARGV[1], 'interval', ARGV[2])
end
"""

# KEYS: code, unbound, {pair}:user:T. ARGV: prefix, user_id, user_tag, now.
_BIND_PAIRING = """
local dch = redis.call('GET', KEYS[1])
if not dch then return 0 end
local pkey = ARGV[1] .. '{pair}:pairing:' .. dch
local f = redis.call('HMGET', pkey, 'expires_at', 'user_id', 'denied')
if not f[1] or tonumber(f[1]) <= tonumber(ARGV[4]) or f[2] or f[3] == '1' then return 0 end
redis.call('HSET', pkey, 'user_id', ARGV[2], 'user_tag', ARGV[3], 'bound_at', ARGV[4])
redis.call('ZREM', KEYS[2], dch)
redis.call('SADD', KEYS[3], dch)
local ttl = redis.call('TTL', pkey)
if ttl > redis.call('TTL', KEYS[3]) then redis.call('EXPIRE', KEYS[3], ttl) end
return 1
"""

# KEYS: {pair}:user:T. ARGV: prefix, user_id, now.
_DENY_PAIRINGS = """
local denied = 0
for _, dch in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local pkey = ARGV[1] .. '{pair}:pairing:' .. dch
  local f = redis.call('HMGET', pkey, 'expires_at', 'user_id', 'denied')
  if not f[1] then
    redis.call('SREM', KEYS[1], dch)
  elseif f[2] == ARGV[2] and f[3] ~= '1' and tonumber(f[1]) > tonumber(ARGV[3]) then
    redis.call('HSET', pkey, 'denied', '1')
    denied = denied + 1
  end
end
return denied
"""

# KEYS: pairing, devices, device, token. ARGV: prefix, dch, user_id, now, user_tag,
# token_hash, created_at, last_seen_at.
_REDEEM_PAIRING = (
    _DROP_PAIRING
    + """
local f = redis.call('HMGET', KEYS[1], 'expires_at', 'user_id', 'denied')
if not f[1] or f[2] ~= ARGV[3] or f[3] == '1' or tonumber(f[1]) <= tonumber(ARGV[4]) then
  return 0
end
drop_pairing(ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], 'user_id', ARGV[3], 'created_at', ARGV[7], 'last_seen_at', ARGV[8])
redis.call('SADD', KEYS[2], ARGV[6])
redis.call('SET', KEYS[4], ARGV[5])
return 1
"""
)

# KEYS: expiry. ARGV: prefix, expired_before.
_PURGE_PAIRINGS = (
    _DROP_PAIRING
    + """
local purged = 0
for _, dch in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])) do
  purged = purged + drop_pairing(ARGV[1], dch)
end
return purged
"""
)

# Devices are found from the token's pointer. KEYS: token. ARGV: prefix, token_hash, ...
_DEVICE_KEY = """
local function device_key()
  local tag = redis.call('GET', KEYS[1])
  if not tag then return nil end
  return ARGV[1] .. '{u:' .. tag .. '}:device:' .. ARGV[2], tag
end
"""

_DEVICE = (
    _DEVICE_KEY
    + """
local dkey = device_key()
if not dkey then return nil end
local f = redis.call('HMGET', dkey, 'user_id', 'created_at', 'last_seen_at')
if not f[1] then redis.call('DEL', KEYS[1]) return nil end  -- a pointer left behind
return f
"""
)

# ARGV[3]: now.
_TOUCH_DEVICE = (
    _DEVICE_KEY
    + """
local dkey = device_key()
if dkey and redis.call('EXISTS', dkey) == 1 then
  redis.call('HSET', dkey, 'last_seen_at', ARGV[3])
end
"""
)

_DELETE_DEVICE = (
    _DEVICE_KEY
    + """
local dkey, tag = device_key()
if not dkey then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[1] .. '{u:' .. tag .. '}:devices', ARGV[2])
return redis.call('DEL', dkey)
"""
)

# KEYS: devices. ARGV: prefix, user_tag.
_DELETE_DEVICES_OF = """
local deleted = 0
for _, th in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local token = ARGV[1] .. 'token:' .. th
  if redis.call('GET', token) == ARGV[2] then redis.call('DEL', token) end
  deleted = deleted + redis.call('DEL', ARGV[1] .. '{u:' .. ARGV[2] .. '}:device:' .. th)
end
redis.call('DEL', KEYS[1])
return deleted
"""

# KEYS: n counters, then the index. ARGV: since, limit, bucket, ttl for each counter.
_CHARGE_COUNTERS = """
local n = #KEYS - 1
for i = 1, n do
  local since, limit = tonumber(ARGV[4 * i - 3]), tonumber(ARGV[4 * i - 2])
  local used = 0
  local fields = redis.call('HGETALL', KEYS[i])
  for j = 1, #fields, 2 do
    if tonumber(fields[j]) >= since then used = used + tonumber(fields[j + 1]) end
  end
  if used >= limit then return 0 end
end
for i = 1, n do
  redis.call('HINCRBY', KEYS[i], ARGV[4 * i - 1], 1)
  redis.call('EXPIRE', KEYS[i], ARGV[4 * i])
  redis.call('SADD', KEYS[n + 1], KEYS[i])
end
return 1
"""

# KEYS: counters. ARGV: the bucket of each.
_REFUND_COUNTERS = """
for i = 1, #KEYS do
  local count = tonumber(redis.call('HGET', KEYS[i], ARGV[i]))
  if count and count > 0 then redis.call('HINCRBY', KEYS[i], ARGV[i], -1) end
end
"""

# KEYS: the index. ARGV: older_than.
_PURGE_COUNTERS = """
local purged = 0
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  for _, bucket in ipairs(redis.call('HKEYS', key)) do
    if tonumber(bucket) < tonumber(ARGV[1]) then
      purged = purged + redis.call('HDEL', key, bucket)
    end
  end
  if redis.call('EXISTS', key) == 0 then redis.call('SREM', KEYS[1], key) end
end
return purged
"""


class RedisStore:
    """Store and PairingStore on Redis, for any number of app instances sharing one server."""

    def __init__(
        self, client: redis.Redis, *, prefix: str = DEFAULT_PREFIX, owns_client: bool = False
    ) -> None:
        if not client.get_connection_kwargs().get("decode_responses"):
            raise ValueError("RedisStore needs a client made with decode_responses=True")
        self.client = client
        self.prefix = prefix
        self._owns_client = owns_client
        scripts = {
            "ensure_user": _ENSURE_USER,
            "mark_safety": _MARK_SAFETY,
            "save_run": _SAVE_RUN,
            "record_completion": _RECORD_COMPLETION,
            "delete_user": _DELETE_USER,
            "add_pairing": _ADD_PAIRING,
            "record_poll": _RECORD_POLL,
            "bind_pairing": _BIND_PAIRING,
            "deny_pairings": _DENY_PAIRINGS,
            "redeem_pairing": _REDEEM_PAIRING,
            "purge_pairings": _PURGE_PAIRINGS,
            "device": _DEVICE,
            "touch_device": _TOUCH_DEVICE,
            "delete_device": _DELETE_DEVICE,
            "delete_devices_of": _DELETE_DEVICES_OF,
            "charge_counters": _CHARGE_COUNTERS,
            "refund_counters": _REFUND_COUNTERS,
            "purge_counters": _PURGE_COUNTERS,
        }
        # register_script runs EVALSHA and reloads the script if Redis lost it (a restart).
        self._scripts = {name: client.register_script(lua) for name, lua in scripts.items()}

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX) -> RedisStore:
        """A store with its own connection pool on `url` (redis://, rediss:// or unix://)."""
        return cls(connect(url), prefix=prefix, owns_client=True)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def _run(self, script: str, keys: Sequence[str], args: Sequence[object] = ()) -> Any:
        return self._scripts[script](keys=list(keys), args=list(args))

    # -- key names ------------------------------------------------------------------------

    def _user_slot(self, user_id: str) -> str:
        return f"{self.prefix}{{u:{user_tag(user_id)}}}:"

    def _pair(self, name: str) -> str:
        return f"{self.prefix}{{pair}}:{name}"

    def _token(self, token_hash: str) -> str:
        return f"{self.prefix}token:{token_hash}"

    def _counter(self, key: str) -> str:
        return f"{self.prefix}{{rate}}:counter:{key}"

    # -- users ----------------------------------------------------------------------------

    def ensure_user(self, user_id: str, now: float) -> UserRecord:
        fields = self._run("ensure_user", [self._user_slot(user_id) + "user"], [user_id, _num(now)])
        return _user(fields)

    def get_user(self, user_id: str) -> UserRecord | None:
        fields = self.client.hmget(
            self._user_slot(user_id) + "user", ["user_id", "created_at", "safety_heard_at"]
        )
        return _user(fields) if fields[0] is not None else None

    def mark_safety_heard(self, user_id: str, now: float) -> None:
        self._run("mark_safety", [self._user_slot(user_id) + "user"], [_num(now)])

    def delete_user(self, user_id: str) -> None:
        slot = self._user_slot(user_id)
        keys = [slot + name for name in ("user", "run", "history", "history:order", "devices")]
        keys.append(self._pair(f"user:{user_tag(user_id)}"))
        self._run("delete_user", keys, [self.prefix, slot])

    # -- runs -----------------------------------------------------------------------------

    def load_run(self, user_id: str) -> RunState | None:
        state = self.client.hget(self._user_slot(user_id) + "run", "state")
        return RunState.from_dict(json.loads(state)) if state is not None else None

    def save_run(self, user_id: str, state: RunState, expected_version: int | None) -> None:
        slot = self._user_slot(user_id)
        saved, found = self._run(
            "save_run",
            [slot + "run", slot + "user"],
            [
                "" if expected_version is None else str(expected_version),
                str(state.version),
                json.dumps(state.to_dict(), separators=(",", ":")),
                user_id,
                _num(state.started_at or 0.0),
            ],
        )
        if not saved:
            raise VersionConflict(user_id, expected_version, int(found) if found else None)

    # -- history --------------------------------------------------------------------------

    def record_completion(self, user_id: str, run: CompletedRun) -> None:
        slot = self._user_slot(user_id)
        record = {
            "routine_id": run.routine_id,
            "started_at": run.started_at,
            "completed_at": run.completed_at,
        }
        self._run(
            "record_completion",
            [slot + "history", slot + "history:order"],
            [run.run_id, json.dumps(record), _num(run.completed_at)],
        )

    def history(self, user_id: str, limit: int = 20) -> list[CompletedRun]:
        if limit == 0:
            return []
        slot = self._user_slot(user_id)
        # A negative limit means no limit, as SQLite's LIMIT -1 does.
        run_ids = self.client.zrevrange(slot + "history:order", 0, limit - 1 if limit > 0 else -1)
        if not run_ids:
            return []
        runs = []
        for run_id, raw in zip(run_ids, self.client.hmget(slot + "history", run_ids), strict=True):
            if raw is None:
                continue  # the user was deleted between the two reads
            data = json.loads(raw)
            runs.append(
                CompletedRun(run_id, data["routine_id"], data["started_at"], data["completed_at"])
            )
        return runs

    # -- watch pairing --------------------------------------------------------------------

    def add_pairing(self, pairing: PairingRecord) -> bool:
        dch = pairing.device_code_hash
        lifetime = max(1, math.ceil(pairing.expires_at - pairing.created_at))
        fields: dict[str, str] = {
            "user_code_hash": pairing.user_code_hash,
            "created_at": _num(pairing.created_at),
            "expires_at": _num(pairing.expires_at),
            "interval": str(pairing.interval),
            "denied": "1" if pairing.denied else "0",
        }
        tag = ""
        if pairing.last_polled_at is not None:
            fields["last_polled_at"] = _num(pairing.last_polled_at)
        if pairing.user_id is not None:
            tag = user_tag(pairing.user_id)
            fields.update(user_id=pairing.user_id, user_tag=tag)
        if pairing.bound_at is not None:
            fields["bound_at"] = _num(pairing.bound_at)
        added = self._run(
            "add_pairing",
            [
                self._pair(f"pairing:{dch}"),
                self._pair(f"code:{pairing.user_code_hash}"),
                self._pair("expiry"),
                self._pair("unbound"),
            ],
            [
                self.prefix,
                dch,
                _num(pairing.created_at),
                _num(pairing.expires_at),
                lifetime + PAIRING_GRACE_S,
                tag,
                *(item for pair in fields.items() for item in pair),
            ],
        )
        return bool(added)

    def pairing(self, device_code_hash: str) -> PairingRecord | None:
        fields = self.client.hgetall(self._pair(f"pairing:{device_code_hash}"))
        if not fields:
            return None
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
            [self._pair(f"pairing:{device_code_hash}")],
            [_num(polled_at), str(interval)],
        )

    def bind_pairing(self, user_code_hash: str, user_id: str, now: float) -> bool:
        tag = user_tag(user_id)
        keys = [
            self._pair(f"code:{user_code_hash}"),
            self._pair("unbound"),
            self._pair(f"user:{tag}"),
        ]
        bound = self._run(
            "bind_pairing",
            keys,
            [self.prefix, user_id, tag, _num(now)],
        )
        return bool(bound)

    def live_pairings(self, now: float) -> int:
        return int(self.client.zcount(self._pair("unbound"), f"({_num(now)}", "+inf"))

    def deny_pairings_of(self, user_id: str, now: float) -> int:
        return int(
            self._run(
                "deny_pairings",
                [self._pair(f"user:{user_tag(user_id)}")],
                [self.prefix, user_id, _num(now)],
            )
        )

    def redeem_pairing(self, device_code_hash: str, device: DeviceRecord, now: float) -> bool:
        slot = self._user_slot(device.user_id)
        redeemed = self._run(
            "redeem_pairing",
            [
                self._pair(f"pairing:{device_code_hash}"),
                slot + "devices",
                slot + f"device:{device.token_hash}",
                self._token(device.token_hash),
            ],
            [
                self.prefix,
                device_code_hash,
                device.user_id,
                _num(now),
                user_tag(device.user_id),
                device.token_hash,
                _num(device.created_at),
                _num(device.last_seen_at),
            ],
        )
        return bool(redeemed)

    def purge_pairings(self, expired_before: float) -> int:
        return int(
            self._run("purge_pairings", [self._pair("expiry")], [self.prefix, _num(expired_before)])
        )

    # -- devices --------------------------------------------------------------------------

    def device(self, token_hash: str) -> DeviceRecord | None:
        fields = self._run("device", [self._token(token_hash)], [self.prefix, token_hash])
        if not fields:
            return None
        user_id, created_at, last_seen_at = fields
        return DeviceRecord(token_hash, user_id, float(created_at), float(last_seen_at))

    def touch_device(self, token_hash: str, now: float) -> None:
        self._run("touch_device", [self._token(token_hash)], [self.prefix, token_hash, _num(now)])

    def delete_device(self, token_hash: str) -> bool:
        return bool(
            self._run("delete_device", [self._token(token_hash)], [self.prefix, token_hash])
        )

    def delete_devices_of(self, user_id: str) -> int:
        return int(
            self._run(
                "delete_devices_of",
                [self._user_slot(user_id) + "devices"],
                [self.prefix, user_tag(user_id)],
            )
        )

    # -- rate-limit counters --------------------------------------------------------------

    def charge_counters(self, charges: Sequence[CounterCharge]) -> bool:
        if not charges:
            return True
        args: list[object] = []
        for charge in charges:
            # A bucket counts until it falls out of the window; twice the window covers it.
            ttl = max(MIN_COUNTER_TTL_S, 2 * (charge.bucket - charge.since))
            args += [charge.since, charge.limit, charge.bucket, ttl]
        keys = [self._counter(charge.key) for charge in charges]
        return bool(self._run("charge_counters", [*keys, self._counter_index()], args))

    def refund_counters(self, charges: Sequence[CounterCharge]) -> None:
        if charges:
            self._run(
                "refund_counters",
                [self._counter(charge.key) for charge in charges],
                [charge.bucket for charge in charges],
            )

    def purge_counters(self, older_than: int) -> int:
        return int(self._run("purge_counters", [self._counter_index()], [older_than]))

    def _counter_index(self) -> str:
        return f"{self.prefix}{{rate}}:counters"


def _user(fields: Sequence[str | None]) -> UserRecord:
    user_id, created_at, safety_heard_at = fields
    if user_id is None or created_at is None:
        raise ValueError("a user record without its id or creation time")
    return UserRecord(user_id, float(created_at), _opt_float(safety_heard_at))
