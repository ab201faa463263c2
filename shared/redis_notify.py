"""Wake-ups across app instances: every change goes out on one Redis channel to every process.

A process wakes its own waiters at once and publishes "<origin> <user tag> <version>"; one
subscriber thread per process relays the other processes' messages to its local waiters.
Under gunicorn's gevent workers the thread is a greenlet and the socket is cooperative, so
nothing here blocks the worker. Pub/sub does not queue: a message sent while the subscriber
is away is lost, so whenever the subscription drops or comes back, every local waiter is
woken to re-read the store (a long poll that finds nothing new then polls the store itself
until it answers, see wearable/long_poll.py). Users appear only as SHA-256 tags.

Versions only grow while a run exists, and -1 says the user was forgotten; a message with a
version no newer than what a waiter saw is a late one (two instances saved in quick
succession) and wakes nobody, so a reordered pair costs no spurious wake-up. Like the store,
this module imports redis-py only once a client exists.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import secrets
import threading
from typing import TYPE_CHECKING

from .redis_store import DEFAULT_PREFIX, connect, user_tag

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

DEFAULT_CHANNEL = DEFAULT_PREFIX + "changes"
#: The longest one read on the subscription blocks, so a stop is noticed this soon.
LISTEN_S = 1.0
#: Reconnect delays after the subscription fails: doubling, with jitter, up to the maximum.
RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 5.0
#: How long a wait lets the subscription come up before giving the caller a re-read instead.
SUBSCRIBE_GRACE_S = 2.0
#: The version Coach.forget publishes: the run is gone, whatever a waiter saw.
FORGOTTEN = -1


def _wakes(version: int, seen: int) -> bool:
    return version > seen or (version == FORGOTTEN and seen != FORGOTTEN)


class _Waiter:
    """One blocked wait: the version its caller saw, and the event that ends the wait."""

    __slots__ = ("event", "seen")

    def __init__(self, seen: int) -> None:
        self.seen = seen
        self.event = threading.Event()


class RedisNotifier:
    """ChangeNotifier for many instances on one Redis; the same waits as LocalNotifier."""

    def __init__(
        self, client: redis.Redis, *, channel: str = DEFAULT_CHANNEL, owns_client: bool = False
    ) -> None:
        if not client.get_connection_kwargs().get("decode_responses"):
            raise ValueError("RedisNotifier needs a client made with decode_responses=True")
        from redis.exceptions import RedisError  # deferred: see the module docstring

        self.client = client
        self.channel = channel
        self._owns_client = owns_client
        self._failures: tuple[type[Exception], ...] = (RedisError, OSError)
        self._lock = threading.Lock()
        self._waiters: dict[str, set[_Waiter]] = {}
        self._latest: dict[str, int] = {}
        self._subscribed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._origin = secrets.token_hex(8)
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, channel: str = DEFAULT_CHANNEL) -> RedisNotifier:
        return cls(connect(url), channel=channel, owns_client=True)

    # -- ChangeNotifier -------------------------------------------------------------------

    def publish(self, user_id: str, version: int) -> None:
        self._ensure_listening()
        tag = user_tag(user_id)
        self._deliver(tag, version)
        try:
            self.client.publish(self.channel, f"{self._origin} {tag} {version}")
        except self._failures as exc:
            # The change is saved; other instances' watches see it when their polls end.
            log.warning("could not tell other instances about a change: %s", exc)

    def wait(self, user_id: str, seen_version: int, timeout: float) -> bool:
        if self._closed:
            return True
        self._ensure_listening()
        if not self._subscribed.wait(max(0.0, min(timeout, SUBSCRIBE_GRACE_S))):
            return True  # deaf to other instances: the caller should read the store instead
        tag = user_tag(user_id)
        waiter = _Waiter(seen_version)
        with self._lock:
            if self._closed or not self._subscribed.is_set():
                return True
            if self._latest.get(tag, FORGOTTEN) > seen_version:
                return True  # it changed between the caller's read and this wait
            self._waiters.setdefault(tag, set()).add(waiter)
        try:
            return waiter.event.wait(timeout)
        finally:
            with self._lock:
                waiters = self._waiters.get(tag)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiters[tag]

    def close(self) -> None:
        """Wake every waiter, stop listening and make later waits return at once."""
        with self._lock:
            self._closed = True
            self._stop.set()
            self._wake_all()
            listener = self._thread
        # A running subscriber closes the client itself when it stops, never under its read.
        if self._owns_client and (listener is None or not listener.is_alive()):
            self.client.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def waiting(self) -> int:
        """How many waits this process holds right now (a gauge, and a handle for tests)."""
        with self._lock:
            return sum(len(waiters) for waiters in self._waiters.values())

    @property
    def listening(self) -> bool:
        """Whether the subscription is up, so changes from other instances are heard."""
        return self._subscribed.is_set()

    # -- local delivery -------------------------------------------------------------------

    def _deliver(self, tag: str, version: int) -> None:
        with self._lock:
            latest = self._latest.get(tag, FORGOTTEN)
            self._latest[tag] = version if version == FORGOTTEN else max(latest, version)
            for waiter in self._waiters.get(tag, ()):
                if _wakes(version, waiter.seen):
                    waiter.event.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.event.set()

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
                self._waiters.clear()
                self._subscribed.clear()
            self._thread = threading.Thread(
                target=self._listen, name="redis-change-subscriber", daemon=True
            )
            self._thread.start()

    def _listen(self) -> None:
        backoff = RECONNECT_MIN_S
        while not self._stop.is_set():
            pubsub = self.client.pubsub()
            try:
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=LISTEN_S)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        # redis-py may also reconnect and resubscribe on its own: same thing.
                        self._on_subscribed()
                        backoff = RECONNECT_MIN_S
                    elif message["type"] == "message":
                        self._relay(message["data"])
            except self._failures as exc:
                if not self._stop.is_set():
                    log.warning("change subscription lost (%s); retrying in %.1f s", exc, backoff)
            except Exception:
                if not self._stop.is_set():
                    log.exception("change subscriber failed; retrying in %.1f s", backoff)
            finally:
                self._on_lost()
                with contextlib.suppress(*self._failures):
                    pubsub.close()
            self._stop.wait(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, RECONNECT_MAX_S)
        if self._owns_client:
            self.client.close()

    def _on_subscribed(self) -> None:
        # Whatever was published while we were not subscribed is lost: everyone re-reads.
        with self._lock:
            self._subscribed.set()
            self._wake_all()
        log.info("listening for changes on %s", self.channel)

    def _on_lost(self) -> None:
        with self._lock:
            self._subscribed.clear()
            self._wake_all()

    def _relay(self, data: str) -> None:
        try:
            origin, tag, version = data.split(" ")
            number = int(version)
        except ValueError:
            log.warning("ignoring a malformed change message %r", data[:80])
            return
        if origin != self._origin:  # our own changes were delivered when we published them
            self._deliver(tag, number)
