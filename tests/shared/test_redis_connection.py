"""Redis Cluster and Sentinel, for real: the store and the notifier through `connect()`.

The whole store contract also runs on a real cluster (store_spec's "redis-cluster"); here
is what only these topologies have: sharded pub/sub on a cluster, and following a failover
behind Sentinel. Every bound only stops a broken setup from hanging; nothing is timed.

The clients come back by redis-py's own Retry: a broken link is retried a little
(COMMAND_RETRIES), a timeout never; the subscriber retries for ever with doubling jittered
delays, from the shortest again once a subscription was up.
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

from shared import redis_connection
from shared.notify import redis as redis_notify
from shared.notify.redis import RECONNECT_MAX_S, RECONNECT_MIN_S, RedisNotifier
from shared.redis_connection import COMMAND_RETRIES, connect, is_cluster
from shared.routine.engine import RunState
from shared.stores.redis import RedisStore
from tests.support.redis_servers import MASTER_NAME, SentinelSetup

ALICE = "amzn1.ask.account.ALICE"
#: A bound on anything awaited, so a broken setup fails instead of hanging the run.
LIMIT_S = 20.0


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.05)


def woken_across(a: RedisNotifier, b: RedisNotifier, user: str, version: int) -> bool:
    """Whether `a` publishing `version` wakes a wait on `b` (once b listens)."""
    assert b.ready(LIMIT_S)
    answer: list[bool] = []
    held = b.waiting()
    waiting = threading.Thread(target=lambda: answer.append(b.wait(user, version - 1, LIMIT_S)))
    waiting.start()
    until(lambda: b.waiting() > held, "the wait starting")
    a.publish(user, version)
    waiting.join(LIMIT_S + 1)
    return answer == [True]


@pytest.fixture
def pair_on(request: pytest.FixtureRequest) -> Iterator[Callable[[str], tuple[RedisNotifier, ...]]]:
    """`pair_on(url)`: two notifiers on `url`, as two instances have; closed afterwards."""
    made: list[RedisNotifier] = []
    prefix = f"test-{request.node.name}:"

    def make(url: str) -> tuple[RedisNotifier, ...]:
        pair = (
            RedisNotifier.from_url(url, prefix=prefix),
            RedisNotifier.from_url(url, prefix=prefix),
        )
        made.extend(pair)
        return pair

    yield make
    for notifier in made:
        notifier.close()


# -- Redis Cluster ------------------------------------------------------------------------------


def test_on_a_cluster_changes_travel_on_a_sharded_channel(
    redis_cluster_url: str, pair_on: Callable[[str], tuple[RedisNotifier, ...]]
) -> None:
    a, b = pair_on(redis_cluster_url)
    assert is_cluster(a.client)
    assert woken_across(a, b, ALICE, 2)
    assert b.woken_from_elsewhere == 1
    node = a.client.get_node_from_key(a.channel)
    shard = a.client.get_redis_connection(node)
    assert a.channel in shard.execute_command("PUBSUB", "SHARDCHANNELS")
    assert a.channel not in shard.execute_command("PUBSUB", "CHANNELS")


def test_on_a_cluster_a_lost_subscription_comes_back(
    redis_cluster_url: str, pair_on: Callable[[str], tuple[RedisNotifier, ...]]
) -> None:
    a, b = pair_on(redis_cluster_url)
    assert b.ready(LIMIT_S)
    shard = b.client.get_redis_connection(b.client.get_node_from_key(b.channel))
    (own,) = [
        c["id"]
        for c in shard.client_list()
        if c["name"] == b.client_name and int(c.get("ssub", 0)) > 0
    ]
    shard.execute_command("CLIENT", "KILL", "ID", own)
    until(lambda: not b.listening, "b noticing its subscription was cut")
    assert woken_across(a, b, ALICE, 3)


# -- Sentinel -----------------------------------------------------------------------------------


@pytest.fixture
def sentinel(redis_sentinel_setup: SentinelSetup) -> Iterator[redis.Redis]:
    """The Sentinel itself, to ask who the master is and to order a failover."""
    client = redis.Redis(port=redis_sentinel_setup.sentinel_port, decode_responses=True)
    yield client
    client.close()


def ordered_failover(sentinel: redis.Redis) -> bool:
    """Ask for a failover; False while the Sentinel has no replica it trusts yet."""
    try:
        sentinel.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
    except redis.ResponseError as refused:
        if "NOGOODSLAVE" in str(refused) or "INPROG" in str(refused):
            return False
        raise
    return True


def held_by_every_node(setup: SentinelSetup, key: str, version: int) -> bool:
    """Whether master and replica both hold the run at `version`.

    Replication is asynchronous and SENTINEL FAILOVER does not wait for it: a replica
    promoted before a write reached it has lost that write (a busy machine showed it). A
    switchover in production waits the same way (or uses FAILOVER, which does).
    """
    for port in setup.ports:
        node = redis.Redis(port=port, decode_responses=True)
        try:
            if node.hget(key, "version") != str(version):
                return False
        finally:
            node.close()
    return True


def master_port(sentinel: redis.Redis) -> int:
    """The master's port as clients are told it (SENTINEL MASTERS, which redis-py asks)."""
    return int(sentinel.sentinel_masters()[MASTER_NAME]["port"])


def test_behind_sentinel_the_store_and_the_notifier_reach_the_master(
    redis_sentinel_setup: SentinelSetup,
    sentinel: redis.Redis,
    pair_on: Callable[[str], tuple[RedisNotifier, ...]],
) -> None:
    store = RedisStore.from_url(redis_sentinel_setup.url, prefix="test-sentinel:")
    try:
        store.save_run(ALICE, RunState("sciatica", version=1), None)
        direct = redis.Redis(port=master_port(sentinel), decode_responses=True)
        assert direct.exists(store.user_keys(ALICE)["run"])
        direct.close()
    finally:
        store.close()
    a, b = pair_on(redis_sentinel_setup.url)
    assert woken_across(a, b, ALICE, 2)


def test_after_a_failover_writes_and_wake_ups_follow_the_new_master(
    redis_sentinel_setup: SentinelSetup,
    sentinel: redis.Redis,
    pair_on: Callable[[str], tuple[RedisNotifier, ...]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A switchover leaves the old master answering for a while: nothing may stay with it."""
    for module in (redis_connection, redis_notify):
        monkeypatch.setattr(module, "MASTER_CHECK_S", 0.0)  # ask the Sentinel every time
    store = RedisStore.from_url(redis_sentinel_setup.url, prefix="test-failover:")
    a, b = pair_on(redis_sentinel_setup.url)
    try:
        store.save_run(ALICE, RunState("sciatica", version=1), None)
        assert woken_across(a, b, ALICE, 2)
        run_key = store.user_keys(ALICE)["run"]
        until(lambda: held_by_every_node(redis_sentinel_setup, run_key, 1), "the replica in step")
        old = master_port(sentinel)
        until(lambda: ordered_failover(sentinel), "the Sentinel accepting the failover")
        until(lambda: master_port(sentinel) != old, "the replica being promoted")
        new = master_port(sentinel)
        store.save_run(ALICE, RunState("sciatica", version=2), 1)
        direct = redis.Redis(port=new, decode_responses=True)
        try:
            assert direct.hget(store.user_keys(ALICE)["run"], "version") == "2"
        finally:
            direct.close()
        until(lambda: woken_across(a, b, ALICE, 3), "a wake-up across the new master")
    finally:
        store.close()


# -- URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+sentinel://127.0.0.1:26379", "master name"),
        ("redis+sentinel://127.0.0.1:26379/a/b/c", "master name"),
        ("redis+sentinel://127.0.0.1/master", "host:port"),
        ("redis+cluster://nowhere", "host:port"),
    ],
)
def test_a_malformed_sentinel_or_cluster_url_is_refused_with_the_reason(
    url: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        connect(url)


# -- Coming back: redis-py's Retry on the clients and the subscriber ------------------------


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


def kill_links(host: str, port: int, name: str) -> int:
    """Have the server at host:port drop every connection named `name`; how many it dropped."""
    admin = redis.Redis(host=host, port=port)
    try:
        ids = [c["id"] for c in admin.client_list() if c["name"] == name]
        for own in ids:
            admin.execute_command("CLIENT", "KILL", "ID", own)
        return len(ids)
    finally:
        admin.close()


def kill_own_link(client: redis.Redis, name: str) -> None:
    """Have the server drop `client`'s pooled connection, found by its CLIENT SETNAME."""
    pool = client.connection_pool.connection_kwargs
    assert kill_links(pool["host"], pool["port"], name), f"no connection named {name}"


def test_a_command_on_a_link_the_server_dropped_is_sent_again(redis_url: str) -> None:
    with connect(redis_url, client_name="test-retry-dropped") as client:
        client.set("test-retry:key", "kept")
        kill_own_link(client, "test-retry-dropped")
        assert client.get("test-retry:key") == "kept"  # on a new link, not an error


def test_a_server_that_drops_every_link_is_tried_again_then_the_error_raised() -> None:
    with (
        fake_server(drop=True) as server,
        connect(server.url) as client,
        pytest.raises(redis.ConnectionError),
    ):
        client.ping()
    # redis-py retries the connect inside each retried command: between 1 + n and (1 + n)².
    assert 1 + COMMAND_RETRIES <= server.accepted <= (1 + COMMAND_RETRIES) ** 2


def test_a_timeout_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_connection, "SOCKET_TIMEOUT_S", 0.2)
    with (
        fake_server(drop=False) as server,
        connect(server.url) as client,
        pytest.raises(redis.TimeoutError),
    ):
        client.ping()
    assert server.accepted == 1


def test_behind_sentinel_a_dropped_link_is_sent_again(
    redis_sentinel_setup: SentinelSetup,
) -> None:
    with connect(redis_sentinel_setup.url, client_name="test-retry-sentinel") as client:
        client.set("test-retry:sentinel", "kept")
        kill_links(*client.connection_pool.get_master_address(), "test-retry-sentinel")
        assert client.get("test-retry:sentinel") == "kept"


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
