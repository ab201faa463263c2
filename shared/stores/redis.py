"""The shared store for many app instances: one Redis, the same contract as the SQLite file.

Every change that reads before it writes is one Lua script, so it is atomic and costs one
round trip; plain reads are single commands. Numbers are written as the strings Python
gives (never as numbers Lua computed: Lua would round timestamps), also inside the JSON of
a pairing or a device, and read back with float() and int().

Every script and every command touches keys of one Redis Cluster slot only, and a script
is given every key it touches in KEYS (tests/shared/test_redis_slots.py watches every
command on a real server to hold it to that). Key layout (prefix `sciatica:` by default;
T is the first 32 hex digits of SHA-256 of the user id, so no key names a person):

    {u:T}:user  {u:T}:run  {u:T}:history  {u:T}:history:order  {u:T}:devices
                        one user's keys: one hash tag, so one slot; `devices` is the set of
                        the token hashes of the user's watches
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
configured (tests/shared/test_core_is_framework_free.py holds it to that).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..routine.engine import RunState
from .base import (
    CompletedRun,
    CounterCharge,
    DeviceRecord,
    PairingRecord,
    UserRecord,
    UserVoice,
    VersionConflict,
    counter_scopes,
    decode_run,
)

if TYPE_CHECKING:
    import redis
    import redis.cluster

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "sciatica:"
#: Where from_url finds the prefix when none is given: two deployments can share one Redis.
PREFIX_ENV = "SCIATICA_REDIS_PREFIX"
#: Hex digits of SHA-256(user id) in a user's hash tag: 128 bits, so users never share keys.
USER_TAG_HEX = 32
#: Pairing keys outlive the latest pairing's expiry by this much; purge_pairings normally
#: removes expired pairings first (an hour after expiry), the TTL only catches them if no
#: watch starts pairing for a day.
PAIRING_GRACE_S = 24 * 3600
#: The shortest life of a rate-limit counter; each charge renews it.
MIN_COUNTER_TTL_S = 60
#: A store call that waits longer than this on Redis fails instead of holding a request.
SOCKET_TIMEOUT_S = 5.0
#: Counters named in one purge script at most, so no script holds Redis for long.
PURGE_BATCH = 256
#: Behind Sentinel, how often writes ask where the master is, so a switchover is followed
#: within this long even while the old master still answers (see docs/SCALE_OUT.md).
MASTER_CHECK_S = 2.0

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


def check_prefix(prefix: str) -> str:
    """`prefix`, if it cannot break the hash tags that keep a user's keys in one slot."""
    if "{" in prefix or "}" in prefix:
        raise ValueError(f"a Redis key prefix may not contain braces: {prefix!r}")
    return prefix


def default_prefix() -> str:
    """$SCIATICA_REDIS_PREFIX if set, else `sciatica:`."""
    return check_prefix(os.environ.get(PREFIX_ENV) or DEFAULT_PREFIX)


def connect(url: str, *, client_name: str | None = None) -> redis.Redis | redis.RedisCluster:
    """A client on `url` that decodes replies, gives up on a dead server, and pings idle links.

    `redis://`, `rediss://` (TLS) and `unix://` reach one server. `redis+sentinel://[user:
    password@]host:port[,host:port...]/<master name>[/<db>]` asks those Sentinels for the
    current master, and finds the new one after a failover (`?sentinel_password=` if the
    Sentinels have a password of their own). `redis+cluster://[user:password@]host:port[,
    ...]` is a Redis Cluster, found from any of its nodes. `rediss+...` adds TLS to either
    (`?ssl_ca_certs=<file>` for a private CA).
    """
    import redis  # deferred: see the module docstring

    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": SOCKET_TIMEOUT_S,
        "health_check_interval": 30,  # a PING on a link idle this long finds a dead socket
    }
    if client_name:
        options["client_name"] = client_name
    scheme = url.partition("://")[0].lower()
    if scheme in SENTINEL_SCHEMES:
        return _sentinel_master(url, options)
    if scheme in CLUSTER_SCHEMES:
        return _cluster(url, options)
    return redis.Redis.from_url(url, **options)


def _hosts_and_credentials(url: str) -> tuple[list[tuple[str, int]], dict[str, Any], Any]:
    """The host:port list, the credentials and TLS flag, and the rest of a multi-host URL."""
    parts = urlsplit(url)
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    hosts = []
    for item in hostlist.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{parts.scheme} URL needs host:port for every node, not {item!r}")
        hosts.append((host.strip("[]"), int(port)))
    credentials: dict[str, Any] = {}
    if userinfo:
        username, has_password, password = userinfo.partition(":")
        if username:
            credentials["username"] = unquote(username)
        if has_password:
            credentials["password"] = unquote(password)
    if parts.scheme.lower().startswith("rediss"):
        credentials["ssl"] = True
        authority = parse_qs(parts.query).get("ssl_ca_certs")
        if authority:
            credentials["ssl_ca_certs"] = authority[0]  # a private CA, as on a rediss:// URL
    return hosts, credentials, parts


def _sentinel_master(url: str, options: dict[str, Any]) -> redis.Redis:
    from redis.sentinel import Sentinel

    hosts, credentials, parts = _hosts_and_credentials(url)
    path = [piece for piece in parts.path.split("/") if piece]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError("a Sentinel URL ends in /<master name> or /<master name>/<db>")
    query = parse_qs(parts.query)
    sentinel_options: dict[str, Any] = {
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": SOCKET_TIMEOUT_S,
    }
    if "sentinel_password" in query:
        sentinel_options["password"] = query["sentinel_password"][0]
    if credentials.get("ssl"):
        sentinel_options["ssl"] = True
    sentinel = Sentinel(hosts, sentinel_kwargs=sentinel_options)
    db = int(path[1]) if len(path) == 2 else 0
    return sentinel.master_for(path[0], db=db, **credentials, **options)


def _cluster(url: str, options: dict[str, Any]) -> redis.RedisCluster:
    from redis.cluster import ClusterNode, RedisCluster

    hosts, credentials, _ = _hosts_and_credentials(url)
    nodes = [ClusterNode(host, port) for host, port in hosts]
    return RedisCluster(startup_nodes=nodes, **credentials, **options)


def is_cluster(client: object) -> bool:
    """Whether `client` talks to a Redis Cluster (then pub/sub is sharded)."""
    from redis.cluster import RedisCluster

    return isinstance(client, RedisCluster)


class MasterTracker:
    """Behind Sentinel, asks now and then where the master is, and follows it there.

    redis-py finds the master when it opens a connection, and when the old one fails or
    turns read-only. A switchover leaves the old master answering as master for a while
    (until Sentinel reconfigures it, ten seconds or so), and writes sent there meanwhile are
    lost; asking the Sentinels every MASTER_CHECK_S makes the pool drop its idle links to
    the old master as soon as they name a new one.
    """

    def __init__(self, client: object) -> None:
        from redis.sentinel import SentinelConnectionPool

        pool = getattr(client, "connection_pool", None)
        self._pool = pool if isinstance(pool, SentinelConnectionPool) else None
        self._lock = threading.Lock()
        self._checked = -math.inf

    @property
    def active(self) -> bool:
        return self._pool is not None

    def master(self) -> tuple[str, int] | None:
        """The master's address as the Sentinels say now (None without Sentinel)."""
        if self._pool is None:
            return None
        host, port = self._pool.get_master_address()  # drops idle links if it moved
        return str(host), int(port)

    def follow(self) -> None:
        """Ask again if the last answer is older than MASTER_CHECK_S; cheap otherwise."""
        if self._pool is None:
            return
        with self._lock:
            now = time.monotonic()
            if now - self._checked < MASTER_CHECK_S:
                return
            self._checked = now
        self.master()


def user_tag(user_id: str) -> str:
    """The hash-tag part of a user's keys: stable, fixed length, and not the id itself."""
    return hashlib.sha256(user_id.encode()).hexdigest()[:USER_TAG_HEX]


def _num(value: float) -> str:
    # repr round-trips a float exactly; Lua only compares these, it never writes its own.
    return repr(float(value))


def _opt_float(value: str | None) -> float | None:
    return None if value is None else float(value)


# -- Lua: a user's keys -----------------------------------------------------------------------

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

# KEYS: run, user, history, history:order. ARGV: expected version ('' = no run), version,
# state, user_id, created_at, then the finished run ('' = none), its record, completed_at.
# History is written before the run: a failure there (it raises) leaves nothing written.
_SAVE_RUN = """
local found = redis.call('HGET', KEYS[1], 'version') or ''
if found ~= ARGV[1] then return {0, found} end
if ARGV[6] ~= '' and redis.call('HSETNX', KEYS[3], ARGV[6], ARGV[7]) == 1 then
  redis.call('ZADD', KEYS[4], ARGV[8], ARGV[6])
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'user_id', ARGV[4], 'created_at', ARGV[5])
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'state', ARGV[3])
return {1, ''}
"""

# KEYS: user, run, history, history:order, devices, voice.
_DELETE_USER_KEYS = """
redis.call('DEL', unpack(KEYS))
"""

# KEYS: token. ARGV: now. A watch is the JSON of strings under its token's key.
_TOUCH_DEVICE = """
local raw = redis.call('GET', KEYS[1])
if raw then
  local watch = cjson.decode(raw)
  watch.last_seen_at = ARGV[1]
  redis.call('SET', KEYS[1], cjson.encode(watch))
end
"""

# KEYS: token. ARGV: the user tag it must belong to ('' = anyone's). Returns the tag, or
# false if there was no such watch.
_DROP_TOKEN = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local tag = cjson.decode(raw).user_tag
if ARGV[1] ~= '' and tag ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
return tag
"""

# -- Lua: pairings ----------------------------------------------------------------------------
# KEYS, always all five: pairings, codes, expiry, unbound, bound. A pairing is a JSON object
# of strings in `pairings` under its device code hash; `codes` maps a user code hash to it;
# `expiry` and `unbound` are sorted sets of device code hashes by expiry; `bound` holds
# "<user tag>:<device code hash>" for every bound pairing, read by a user's tag prefix.

_PAIRINGS = """
local PAIRINGS, CODES, EXPIRY, UNBOUND, BOUND = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local function load(dch)
  local raw = redis.call('HGET', PAIRINGS, dch)
  if raw then return cjson.decode(raw) end
  return nil
end
local function save(dch, p) redis.call('HSET', PAIRINGS, dch, cjson.encode(p)) end
local function drop(dch)
  local p = load(dch)
  redis.call('ZREM', EXPIRY, dch)
  redis.call('ZREM', UNBOUND, dch)
  if not p then return 0 end
  redis.call('HDEL', PAIRINGS, dch)
  if redis.call('HGET', CODES, p.user_code_hash) == dch then
    redis.call('HDEL', CODES, p.user_code_hash)
  end
  if p.user_tag then redis.call('ZREM', BOUND, p.user_tag .. ':' .. dch) end
  return 1
end
local function bound_to(tag)
  return redis.call('ZRANGEBYLEX', BOUND, '[' .. tag .. ':', '(' .. tag .. ';')
end
local function extend(ttl)
  for i = 1, 5 do
    if redis.call('EXISTS', KEYS[i]) == 1 and redis.call('TTL', KEYS[i]) < ttl then
      redis.call('EXPIRE', KEYS[i], ttl)
    end
  end
end
"""

# ARGV: dch, uch, created_at, expires_at, ttl, record JSON, user tag ('' if unbound),
# '1' if it is live and unbound.
_ADD_PAIRING = (
    _PAIRINGS
    + """
local holder = redis.call('HGET', CODES, ARGV[2])
if holder then
  local held = load(holder)
  if held and tonumber(held.expires_at) > tonumber(ARGV[3]) then return 0 end
  drop(holder)  -- expired: it gives up its user code
end
if redis.call('HEXISTS', PAIRINGS, ARGV[1]) == 1 then return 0 end
redis.call('HSET', PAIRINGS, ARGV[1], ARGV[6])
redis.call('HSET', CODES, ARGV[2], ARGV[1])
redis.call('ZADD', EXPIRY, ARGV[4], ARGV[1])
if ARGV[8] == '1' then redis.call('ZADD', UNBOUND, ARGV[4], ARGV[1]) end
if ARGV[7] ~= '' then redis.call('ZADD', BOUND, 0, ARGV[7] .. ':' .. ARGV[1]) end
extend(tonumber(ARGV[5]))
return 1
"""
)

# ARGV: dch, last_polled_at, interval.
_RECORD_POLL = (
    _PAIRINGS
    + """
local p = load(ARGV[1])
if p then
  p.last_polled_at = ARGV[2]
  p.interval = ARGV[3]
  save(ARGV[1], p)
end
"""
)

# ARGV: uch, user_id, user tag, now.
_BIND_PAIRING = (
    _PAIRINGS
    + """
local dch = redis.call('HGET', CODES, ARGV[1])
if not dch then return 0 end
local p = load(dch)
if not p or tonumber(p.expires_at) <= tonumber(ARGV[4]) or p.user_id or p.denied == '1' then
  return 0
end
p.user_id, p.user_tag, p.bound_at = ARGV[2], ARGV[3], ARGV[4]
save(dch, p)
redis.call('ZREM', UNBOUND, dch)
redis.call('ZADD', BOUND, 0, ARGV[3] .. ':' .. dch)
extend(redis.call('TTL', PAIRINGS))
return 1
"""
)

# ARGV: user_id, user tag, now.
_DENY_PAIRINGS = (
    _PAIRINGS
    + """
local denied = 0
for _, member in ipairs(bound_to(ARGV[2])) do
  local dch = string.sub(member, #ARGV[2] + 2)
  local p = load(dch)
  if not p then
    redis.call('ZREM', BOUND, member)
  elseif p.user_id == ARGV[1] and p.denied ~= '1'
      and tonumber(p.expires_at) > tonumber(ARGV[3]) then
    p.denied = '1'
    save(dch, p)
    denied = denied + 1
  end
end
return denied
"""
)

# The pairing half of redeeming: take a live pairing bound to the user away, exactly once.
# ARGV: dch, user_id, now.
_CLAIM_PAIRING = (
    _PAIRINGS
    + """
local p = load(ARGV[1])
if not p or p.user_id ~= ARGV[2] or p.denied == '1' then return 0 end
if tonumber(p.expires_at) <= tonumber(ARGV[3]) then return 0 end
return drop(ARGV[1])
"""
)

# ARGV: expired_before.
_PURGE_PAIRINGS = (
    _PAIRINGS
    + """
local purged = 0
for _, dch in ipairs(redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', '(' .. ARGV[1])) do
  purged = purged + drop(dch)
end
return purged
"""
)

# ARGV: user tag. Every pairing bound to the user goes, redeemed or not.
_DROP_PAIRINGS_OF = (
    _PAIRINGS
    + """
local dropped = 0
for _, member in ipairs(bound_to(ARGV[1])) do
  redis.call('ZREM', BOUND, member)
  dropped = dropped + drop(string.sub(member, #ARGV[1] + 2))
end
return dropped
"""
)

# -- Lua: rate-limit counters -----------------------------------------------------------------

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

# KEYS: the index, then counters read from it. ARGV: older_than ('' = every bucket).
_PURGE_COUNTERS = """
local purged = 0
for i = 2, #KEYS do
  for _, bucket in ipairs(redis.call('HKEYS', KEYS[i])) do
    if ARGV[1] == '' or tonumber(bucket) < tonumber(ARGV[1]) then
      purged = purged + redis.call('HDEL', KEYS[i], bucket)
    end
  end
  if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('SREM', KEYS[1], KEYS[i]) end
end
return purged
"""

#: Every script the store runs, by name (tests/shared/test_redis_slots.py runs them all).
SCRIPTS = {
    "ensure_user": _ENSURE_USER,
    "mark_safety": _MARK_SAFETY,
    "save_run": _SAVE_RUN,
    "delete_user_keys": _DELETE_USER_KEYS,
    "touch_device": _TOUCH_DEVICE,
    "drop_token": _DROP_TOKEN,
    "add_pairing": _ADD_PAIRING,
    "record_poll": _RECORD_POLL,
    "bind_pairing": _BIND_PAIRING,
    "deny_pairings": _DENY_PAIRINGS,
    "claim_pairing": _CLAIM_PAIRING,
    "purge_pairings": _PURGE_PAIRINGS,
    "drop_pairings_of": _DROP_PAIRINGS_OF,
    "charge_counters": _CHARGE_COUNTERS,
    "refund_counters": _REFUND_COUNTERS,
    "purge_counters": _PURGE_COUNTERS,
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
        if not client.get_connection_kwargs().get("decode_responses"):
            raise ValueError("RedisStore needs a client made with decode_responses=True")
        self.client = client
        self.prefix = check_prefix(prefix)
        self._owns_client = owns_client
        # register_script runs EVALSHA and reloads the script if Redis lost it (a restart,
        # a failover to a replica, a new cluster node).
        self._scripts = {name: client.register_script(lua) for name, lua in SCRIPTS.items()}
        self._master = MasterTracker(client)

    @classmethod
    def from_url(cls, url: str, *, prefix: str | None = None) -> RedisStore:
        """A store with its own client on `url` (see connect); prefix None: default_prefix()."""
        return cls(
            connect(url), prefix=default_prefix() if prefix is None else prefix, owns_client=True
        )

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
        names = ("user", "run", "history", "history:order", "devices", "voice")
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
        """Delete the watches of these tokens that belong to `tag`; how many there were."""
        # Lua's false arrives as None (RESP2) or False (RESP3): either way, falsy.
        return sum(
            bool(self._run("drop_token", [self.token_key(token_hash)], [tag]))
            for token_hash in token_hashes
        )

    # -- runs -----------------------------------------------------------------------------

    def load_run(self, user_id: str) -> RunState | None:
        state, version = self.client.hmget(self.user_keys(user_id)["run"], ["state", "version"])
        if state is None:
            return None
        return decode_run(user_id, state, int(version) if version is not None else -1)

    def save_run(
        self,
        user_id: str,
        state: RunState,
        expected_version: int | None,
        completed: CompletedRun | None = None,
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
            ],
        )
        if not saved:
            raise VersionConflict(user_id, expected_version, int(found) if found else None)

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
            data = json.loads(raw)
            runs.append(
                CompletedRun(run_id, data["routine_id"], data["started_at"], data["completed_at"])
            )
        return runs

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
            self._drop_tokens([device.token_hash], tag)
            self.client.srem(devices, device.token_hash)
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
        tag = self._run("drop_token", [self.token_key(token_hash)], [""])
        if not tag:
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


def _user(fields: Sequence[str | None]) -> UserRecord:
    user_id, created_at, safety_heard_at = fields
    if user_id is None or created_at is None:
        raise ValueError("a user record without its id or creation time")
    return UserRecord(user_id, float(created_at), _opt_float(safety_heard_at))
