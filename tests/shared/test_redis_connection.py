"""connect()'s clients and the notifier's subscriber come back by redis-py's own Retry.

A broken link is retried a little (COMMAND_RETRIES), a timeout never; the subscriber
retries for ever with the doubling jittered delays it always had, from the shortest again
once a subscription was up. The fake servers here only count connections; nothing is timed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from redis_support import SentinelSetup

from shared import redis_connection
from shared.notify.redis import RECONNECT_MAX_S, RECONNECT_MIN_S, RedisNotifier
from shared.redis_connection import COMMAND_RETRIES, connect

#: A bound on anything awaited, so a broken setup fails instead of hanging the run.
LIMIT_S = 20.0


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.02)


class FakeServer:
    """A TCP server on loopback that accepts connections and then drops or ignores them."""

    def __init__(self, *, drop: bool) -> None:
        self.accepted = 0
        self._drop = drop
        self._held: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                link, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            if self._drop:
                link.close()
            else:
                self._held.append(link)  # never answered

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in _serve
        self._listener.close()
        for link in self._held:
            link.close()
        self._thread.join(LIMIT_S)


@contextmanager
def fake_server(*, drop: bool) -> Iterator[FakeServer]:
    server = FakeServer(drop=drop)
    try:
        yield server
    finally:
        server.close()


def kill_own_link(client: redis.Redis, name: str) -> None:
    """Have the server drop `client`'s pooled connection, found by its CLIENT SETNAME."""
    admin = redis.Redis(
        **{k: client.connection_pool.connection_kwargs[k] for k in ("host", "port")}
    )
    try:
        ids = [c["id"] for c in admin.client_list() if c["name"] == name]
        assert ids, f"no connection named {name}"
        for own in ids:
            admin.execute_command("CLIENT", "KILL", "ID", own)
    finally:
        admin.close()


def test_a_command_on_a_link_the_server_dropped_is_sent_again(redis_url: str) -> None:
    client = connect(redis_url, client_name="test-retry-dropped")
    try:
        client.set("test-retry:key", "kept")
        kill_own_link(client, "test-retry-dropped")
        assert client.get("test-retry:key") == "kept"  # on a new link, not an error
    finally:
        client.close()


def test_a_server_that_drops_every_link_is_tried_again_then_the_error_raised() -> None:
    with fake_server(drop=True) as server:
        client = connect(server.url)
        try:
            with pytest.raises(redis.ConnectionError):
                client.ping()
        finally:
            client.close()
    # redis-py retries the connect inside each retried command: between 1 + n and (1 + n)².
    assert 1 + COMMAND_RETRIES <= server.accepted <= (1 + COMMAND_RETRIES) ** 2


def test_a_timeout_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_connection, "SOCKET_TIMEOUT_S", 0.2)
    with fake_server(drop=False) as server:
        client = connect(server.url)
        try:
            with pytest.raises(redis.TimeoutError):
                client.ping()
        finally:
            client.close()
    assert server.accepted == 1


def test_behind_sentinel_a_dropped_link_is_sent_again(
    redis_sentinel_setup: SentinelSetup,
) -> None:
    client = connect(redis_sentinel_setup.url, client_name="test-retry-sentinel")
    try:
        client.set("test-retry:sentinel", "kept")
        master = client.connection_pool.get_master_address()
        admin = redis.Redis(host=master[0], port=master[1])
        try:
            for found in admin.client_list():
                if found["name"] == "test-retry-sentinel":
                    admin.execute_command("CLIENT", "KILL", "ID", found["id"])
        finally:
            admin.close()
        assert client.get("test-retry:sentinel") == "kept"
    finally:
        client.close()


# -- the notifier's subscriber ------------------------------------------------------------------


class LostAfterSubscribing:
    """A pub/sub link that confirms its subscription, then breaks on the next read."""

    connection = None

    def __init__(self) -> None:
        self._confirmed = False

    def get_message(self, timeout: float) -> dict[str, Any]:
        if not self._confirmed:
            self._confirmed = True
            return {"type": "subscribe", "data": 1}
        raise redis.ConnectionError("the server went away")

    def close(self) -> None:
        pass


def step(failure: int) -> tuple[float, float]:
    """Where the subscriber's delay after its `failure`-th failure in a row must fall."""
    full = min(RECONNECT_MAX_S, RECONNECT_MIN_S * 2 ** (failure - 1))
    return full / 2, full


def test_the_subscriber_backs_off_doubling_and_starts_again_once_it_was_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seven failures, a subscription that came up and was lost, then one more failure."""
    plan = ["fail"] * 7 + ["up", "fail"]
    delays: list[float] = []
    done = threading.Event()
    notifier = RedisNotifier(connect("redis://127.0.0.1:1/0"))

    def pubsub() -> Any:
        if not plan:
            notifier.close()
            done.set()
            raise redis.ConnectionError("closing")
        if plan.pop(0) == "up":
            return LostAfterSubscribing()
        raise redis.ConnectionError("refused")

    monkeypatch.setattr(notifier, "_pubsub", pubsub)
    monkeypatch.setattr("redis.retry.sleep", delays.append)  # Retry's wait, not taken here
    notifier.ready(0)
    assert done.wait(LIMIT_S)
    expected = [step(n) for n in range(1, 8)] + [step(1)]
    assert len(delays) == len(expected)
    for delay, (low, high) in zip(delays, expected, strict=True):
        assert low <= delay <= high
    assert expected[6] == (RECONNECT_MAX_S / 2, RECONNECT_MAX_S)  # capped from the 7th on


def test_the_subscriber_retries_a_server_that_drops_it_and_stops_once_closed() -> None:
    with fake_server(drop=True) as server:
        notifier = RedisNotifier.from_url(server.url, prefix="test-retry:")
        assert notifier.ready(0) is False
        until(lambda: server.accepted >= 2 * (1 + COMMAND_RETRIES), "a second try")
        assert not notifier.listening
        notifier.close()
        listener = notifier._thread  # the subscriber: it ends by itself after close()
        assert listener is not None
        listener.join(LIMIT_S)
        assert not listener.is_alive()
        tried = server.accepted
        assert notifier.ready(0) is False  # a closed notifier never subscribes again
        assert server.accepted == tried
