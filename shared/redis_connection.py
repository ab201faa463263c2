"""Reaching Redis in any shape (one server, Sentinel, Cluster), for the store and the notifier.

Both keep a user's keys and messages under the same hash tag, and both follow a Sentinel
failover the same way, so that lives here once. redis-py is imported only when a client is
made, so the core loads no network client unless Redis is configured
(tests/shared/test_framework_free.py holds it to that).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    import redis
    import redis.cluster

#: The key prefix and change channel of a deployment that names none of its own.
DEFAULT_PREFIX = "sciatica:"

#: Hex digits of SHA-256(user id) in a user's hash tag: 128 bits, so users never share keys.
USER_TAG_HEX = 32

#: A store call that waits longer than this on Redis fails instead of holding a request.
SOCKET_TIMEOUT_S = 5.0

#: Retries of a command whose link failed (a connection the server dropped, a failover):
#: two quick ones, so with Redis down a request fails within about a second (0.2 s when
#: connections are refused, 1 s when each is accepted and dropped, measured on redis-py 8).
#: A timeout is not retried: SOCKET_TIMEOUT_S is the whole wait.
COMMAND_RETRIES = 2
#: Their spacing: doubling from 0.1 s up to 1 s, each delay between half and all of that.
COMMAND_BACKOFF_MIN_S = 0.1
COMMAND_BACKOFF_MAX_S = 1.0

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


def check_decoded(client: redis.Redis | redis.RedisCluster, user: str) -> None:
    """Refuse a client that answers in bytes: `user` reads every reply as text."""
    if not client.get_connection_kwargs().get("decode_responses"):
        raise ValueError(f"{user} needs a client made with decode_responses=True")


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
        "retry": command_retry(),
    }
    if client_name:
        options["client_name"] = client_name
    scheme = url.partition("://")[0].lower()
    if scheme in SENTINEL_SCHEMES:
        return _sentinel_master(url, options)
    if scheme in CLUSTER_SCHEMES:
        return _cluster(url, options)
    return redis.Redis.from_url(url, **options)


def command_retry() -> redis.retry.Retry:
    """redis-py's own Retry, so every redis-py version we allow (6.3 to 8) behaves the same.

    Left to itself redis-py retries timeouts as well, three times in 6.x and ten in 8.x,
    which would hold a request for up to a minute on a Redis that stopped answering. This
    is one policy for all: COMMAND_RETRIES after a ConnectionError, whether connecting or
    mid-command, never after a timeout. A command whose link broke after it was sent may
    have run; sending it again is what the voice or the watch does with a failed request
    anyway, and what redis-py's own default did here before.
    """
    from redis.backoff import EqualJitterBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.retry import Retry

    # Retry asks the backoff for failure 1 first, which waits about base * 2.
    backoff = EqualJitterBackoff(cap=COMMAND_BACKOFF_MAX_S, base=COMMAND_BACKOFF_MIN_S / 2)
    return Retry(backoff, COMMAND_RETRIES, supported_errors=(RedisConnectionError,))


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
    # A cluster keeps redis-py's own retry policy, which refreshes the slot map between
    # attempts (and does not pass a `retry` on to its nodes).
    options = {name: value for name, value in options.items() if name != "retry"}
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
