"""Wake-ups across app instances: every change goes out on one Redis channel to every process.

A process wakes its own waiters at once and publishes "<origin> <user tag> <version>" on
`<prefix>changes`, so two deployments on one Redis (two prefixes) never wake each other. One
subscriber thread per process relays the other processes' messages to its local waiters;
under gunicorn's gevent workers that thread is a greenlet and the socket is cooperative, so
nothing here blocks the worker. On Redis Cluster the channel is a sharded one (SPUBLISH and
SSUBSCRIBE, Redis 7): its messages go to the shard that owns the channel's slot instead of
every node.

Pub/sub does not queue: a message sent while the subscriber is away is lost, so whenever the
subscription drops or comes back, every local waiter is woken to read the store again; the
long poll sees that the notifier is listening again and goes back to trusting it
(wearable/api/long_poll.py). The subscriber comes back through redis-py's own Retry, for ever,
with doubling jittered delays (RECONNECT_MIN_S to RECONNECT_MAX_S) that start again from the
shortest once a subscription was up. close() wakes every waiter and makes later waits
answer at once straight away; a subscriber in a backoff wait at that moment (Redis is
unreachable) ends when that wait does, at most RECONNECT_MAX_S later. Waits are the same as
LocalNotifier's (wait_room.py): state is kept only for users with a wait in progress,
and a wait wakes for a change published after it began, newer than what its caller saw.
Users appear only as SHA-256 tags. Like the store, this module imports redis-py only once a
client exists.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..redis_connection import (
    DEFAULT_PREFIX,
    MASTER_CHECK_S,
    MasterTracker,
    check_decoded,
    check_prefix,
    connect,
    is_cluster,
    user_tag,
)
from ..user_ref import user_ref
from .wait_room import WaitRoom

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

#: The longest one read on the subscription blocks, so a stop is noticed this soon.
LISTEN_S = 1.0
#: Reconnect delays after the subscription fails: doubling, with jitter, up to the maximum
#: (redis-py's Retry with EqualJitterBackoff: each delay between half and all of the step).
RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 5.0
#: How long a wait lets the subscription come up before giving the caller a re-read instead.
SUBSCRIBE_GRACE_S = 2.0


class _Stopped(Exception):
    """Ends the subscriber's Retry loop when the notifier is closed."""


def channel_for(prefix: str) -> str:
    """The change channel of the deployment whose keys start with `prefix`."""
    return check_prefix(prefix) + "changes"


class RedisNotifier:
    """ChangeNotifier for many instances on one Redis; the same waits as LocalNotifier."""

    def __init__(
        self,
        client: redis.Redis | redis.RedisCluster,
        *,
        prefix: str = DEFAULT_PREFIX,
        owns_client: bool = False,
    ) -> None:
        check_decoded(client, "RedisNotifier")
        from redis.exceptions import (  # deferred: see the module docstring
            RedisClusterException,
            RedisError,
        )

        self.client = client
        self.channel = channel_for(prefix)
        #: The name its connections carry in CLIENT LIST, when it made its own client.
        self.client_name: str | None = client.get_connection_kwargs().get("client_name")
        self._owns_client = owns_client
        self._sharded = is_cluster(client)
        self._master = MasterTracker(client)
        self._failures: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError)
        self._room = WaitRoom()
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._origin = secrets.token_hex(8)
        self._closed = False
        self._woken_from_elsewhere = 0

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX) -> RedisNotifier:
        """A notifier with its own client on `url`, its connections named for CLIENT LIST.

        Give it the prefix the store has, so the two agree on the deployment's channel.
        """
        check_prefix(prefix)
        name = f"{prefix.rstrip(':')}-notifier-{secrets.token_hex(4)}"
        return cls(connect(url, client_name=name), prefix=prefix, owns_client=True)

    # -- ChangeNotifier -------------------------------------------------------------------

    def publish(self, user_id: str, version: int) -> None:
        self._ensure_listening()
        tag = user_tag(user_id)
        self._room.deliver(tag, version)
        message = f"{self._origin} {tag} {version}"
        try:
            if self._sharded:
                self.client.spublish(self.channel, message)
            else:
                self.client.publish(self.channel, message)
        except self._failures as exc:
            # The change is saved; other instances' watches see it when their polls end.
            log.warning(
                "could not tell other instances about a change for user %s: %s",
                user_ref(user_id),
                exc,
            )

    @contextmanager
    def watching(self, user_id: str, seen_version: int) -> Iterator[None]:
        self._ensure_listening()
        with self._room.watch(user_tag(user_id), seen_version):
            yield

    def wait(self, user_id: str, seen_version: int, timeout: float) -> bool:
        if self._closed:
            return True
        self._ensure_listening()
        if not self._subscribed.wait(max(0.0, min(timeout, SUBSCRIBE_GRACE_S))):
            return True  # deaf to other instances: the caller should read the store instead
        return self._room.wait(user_tag(user_id), seen_version, timeout)

    def close(self) -> None:
        """Wake every waiter, stop listening and make later waits return at once."""
        with self._lock:
            self._closed = True
            self._stop.set()
            listener = self._thread
        self._room.close()
        # A running subscriber closes the client itself when it stops, never under its read.
        if self._owns_client and (listener is None or not listener.is_alive()):
            self.client.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def listening(self) -> bool:
        """Whether the subscription is up, so changes from other instances are heard."""
        return self._subscribed.is_set() and not self._closed

    # -- for health checks, gauges and tests ----------------------------------------------

    def ready(self, timeout: float) -> bool:
        """Start listening if need be, and say whether the subscription is up within `timeout`."""
        if self._closed:
            return False
        self._ensure_listening()
        return self._subscribed.wait(timeout)

    def stats(self) -> dict[str, int | bool]:
        """Whether it hears other instances, its waits, and how many they have woken."""
        return {
            "listening": self.listening,
            "waiting": self.waiting(),
            "woken_from_elsewhere": self._woken_from_elsewhere,
        }

    def waiting(self) -> int:
        """How many waits this process holds right now."""
        return self._room.waiting()

    def users_held(self) -> int:
        """How many users the notifier keeps state for: only those being waited on."""
        return self._room.keys_held()

    @property
    def woken_from_elsewhere(self) -> int:
        """How many waits here a change made on another instance has woken, in all."""
        return self._woken_from_elsewhere

    # -- the subscriber -------------------------------------------------------------------

    def _ensure_listening(self) -> None:
        """Start the subscriber on first use, and again in a child after a fork."""
        with self._lock:
            if self._closed:
                return
            forked = os.getpid() != self._pid
            if not forked and self._thread is not None and self._thread.is_alive():
                return
            if forked:
                # The parent's subscriber thread did not come along, nor did its waiters.
                self._pid = os.getpid()
                self._origin = secrets.token_hex(8)
                self._room.clear()
                self._subscribed.clear()
            self._thread = threading.Thread(
                target=self._listen, name="redis-change-subscriber", daemon=True
            )
            self._thread.start()

    def _pubsub(self) -> Any:
        """A pub/sub link subscribed (or about to be) to the channel."""
        if self._sharded:
            # The shard owning the channel's slot; asked again on every reconnect, so a
            # failover or a slot moved elsewhere is followed.
            node = self.client.get_node_from_key(self.channel)
            pubsub = self.client.get_redis_connection(node).pubsub()
            pubsub.ssubscribe(self.channel)
        else:
            pubsub = self.client.pubsub()
            pubsub.subscribe(self.channel)
        return pubsub

    def _listen(self) -> None:
        from redis.backoff import EqualJitterBackoff  # deferred: see the module docstring
        from redis.retry import Retry

        # Retry asks the backoff for failure 1 first: base * 2 is RECONNECT_MIN_S.
        backoff = EqualJitterBackoff(cap=RECONNECT_MAX_S, base=RECONNECT_MIN_S / 2)
        retry = Retry(backoff, -1, supported_errors=(Exception,))  # for ever, until close()
        try:
            while not self._stop.is_set():
                # One run of failures per subscription (Retry counts them per call), so
                # delays start again from the shortest once it was up.
                retry.call_with_retry(self._subscription, self._on_failure)
                # It was up and is lost: wait as after a first failure before the next run.
                self._stop.wait(backoff.compute(1))
        except _Stopped:
            pass
        finally:
            if self._owns_client:
                self.client.close()

    def _subscription(self) -> None:
        """Subscribe and relay until stopped or the subscription, once up, is lost.

        Failures before it is up are raised for the Retry to back off; losing it after it
        was up returns, so the next subscription's failures are counted afresh.
        """
        if self._stop.is_set():
            return
        pubsub = None
        heard = False
        try:
            pubsub = self._pubsub()
            checked = time.monotonic()
            while not self._stop.is_set():
                if self._master.active and time.monotonic() - checked >= MASTER_CHECK_S:
                    checked = time.monotonic()
                    self._check_master(pubsub)
                message = pubsub.get_message(timeout=LISTEN_S)
                if message is None:
                    continue
                kind = message["type"]
                if kind in ("subscribe", "ssubscribe"):
                    # redis-py may also reconnect and resubscribe on its own: same thing.
                    self._on_subscribed()
                    heard = True
                elif kind in ("message", "smessage"):
                    self._relay(message["data"])
                elif kind == "sunsubscribe":
                    # The channel's slot moved to another shard: follow it there.
                    raise ConnectionError("the change channel moved to another shard")
        except self._failures as exc:
            if not heard:
                raise
            if not self._stop.is_set():
                log.warning("change subscription lost (%s); subscribing again", exc)
        finally:
            self._on_lost()
            if pubsub is not None:
                with contextlib.suppress(*self._failures):
                    pubsub.close()

    def _on_failure(self, exc: Exception) -> None:
        """Called by the Retry before it waits: say why, or end the loop if closed."""
        if self._stop.is_set():
            raise _Stopped from exc
        if isinstance(exc, self._failures):
            log.warning("change subscription failed (%s); retrying with backoff", exc)
        else:
            log.error("change subscriber failed; retrying with backoff", exc_info=exc)

    def _check_master(self, pubsub: Any) -> None:
        """Behind Sentinel: leave a subscription on a server that is no longer the master.

        A demoted master keeps its subscribers for a while, and they hear nothing published
        on the new one; until then this instance would be deaf without knowing it.
        """
        link = pubsub.connection
        master = self._master.master()
        if link is not None and master is not None and (link.host, int(link.port)) != master:
            raise ConnectionError(f"the master moved to {master[0]}:{master[1]}")

    def _on_subscribed(self) -> None:
        # Whatever was published while we were not subscribed is lost: everyone re-reads.
        self._subscribed.set()
        self._room.wake_all()
        log.info("listening for changes on %s", self.channel)

    def _on_lost(self) -> None:
        self._subscribed.clear()
        self._room.wake_all()

    def _relay(self, data: str) -> None:
        try:
            origin, tag, version = data.split(" ")
            number = int(version)
        except ValueError:
            log.warning("ignoring a malformed change message %r", data[:80])
            return
        if origin != self._origin:  # our own changes were delivered when we published them
            self._woken_from_elsewhere += self._room.deliver(tag, number)
