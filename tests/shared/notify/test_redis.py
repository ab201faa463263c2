"""Wake-ups across instances: a change published by one process wakes waits in every other.

`instances` gives two notifiers on one real Redis, standing in for two app instances.
Waits that must not wake use short timeouts; every other bound only stops a broken test
from hanging, and no test measures how fast anything is (bench/bench_scale_out.py does).
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Callable

import pytest

from shared.notify.redis import RedisNotifier
from tests.support.interpreter import run_python
from tests.support.loopback import free_port
from tests.support.paths import REPO as ROOT
from tests.support.stores import Instances

ALICE = "amzn1.ask.account.ALICE"
BOB = "amzn1.ask.account.BOB"
#: A bound on anything awaited, so a broken notifier fails instead of hanging the run.
LIMIT_S = 10.0
#: How long a wait that must not wake is given to prove it.
QUIET_S = 0.3


class Waiting:
    """A wait on its own thread, so the test can change things while it blocks."""

    def __init__(self, notifier: RedisNotifier, user: str, seen: int) -> None:
        self.answer: bool | None = None
        held = notifier.waiting()
        self._thread = threading.Thread(target=self._wait, args=(notifier, user, seen))
        self._thread.start()
        until(lambda: notifier.waiting() > held)

    def _wait(self, notifier: RedisNotifier, user: str, seen: int) -> None:
        self.answer = notifier.wait(user, seen, LIMIT_S)

    def woke(self) -> bool | None:
        """True if woken, False if it timed out; waits for the answer."""
        self._thread.join(LIMIT_S + 1)
        return self.answer


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + LIMIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition never came true"
        time.sleep(0.005)


def test_a_change_on_one_instance_wakes_a_wait_on_another(instances: Instances) -> None:
    waiting = Waiting(instances.b, ALICE, seen=1)
    instances.a.publish(ALICE, 2)
    assert waiting.woke() is True


def test_a_change_wakes_waits_on_the_instance_that_made_it(instances: Instances) -> None:
    waiting = Waiting(instances.a, ALICE, seen=1)
    instances.a.publish(ALICE, 2)
    assert waiting.woke() is True


def relayed(instances: Instances) -> None:
    """Return once `b` has heard everything `a` published so far (one channel keeps order)."""
    marker = f"marker-{time.monotonic_ns()}"
    waiting = Waiting(instances.b, marker, seen=0)
    instances.a.publish(marker, 1)
    assert waiting.woke() is True


def test_a_change_between_the_watch_and_the_wait_answers_the_wait(instances: Instances) -> None:
    """The long poll opens a watch, reads the run, then waits: a change after the read counts."""
    instances.b.wait(ALICE, 0, 0)
    until(lambda: instances.b.listening)
    with instances.b.watching(ALICE, 4):
        instances.a.publish(ALICE, 5)
        assert instances.b.wait(ALICE, 4, LIMIT_S) is True


def test_other_users_changes_wake_nobody(instances: Instances) -> None:
    instances.b.wait(BOB, 1, 0)  # subscribe first, so the quiet wait below is a fair test
    instances.a.publish(ALICE, 2)
    assert instances.b.wait(BOB, 1, QUIET_S) is False


def test_a_late_message_from_a_slower_instance_wakes_nobody(instances: Instances) -> None:
    instances.b.wait(ALICE, 0, 0)
    until(lambda: instances.b.listening)
    with instances.b.watching(ALICE, 3):
        instances.a.publish(ALICE, 2)  # saved before 3, published after it
        relayed(instances)
        assert instances.b.wait(ALICE, 3, QUIET_S) is False


def test_a_late_message_after_a_user_was_forgotten_leaves_nothing_behind(
    instances: Instances,
) -> None:
    """Version 7 of a forgotten run, heard late, must not answer a new run's polls at once."""
    instances.b.wait(ALICE, 0, 0)
    until(lambda: instances.b.listening)
    instances.a.publish(ALICE, -1)
    instances.a.publish(ALICE, 7)
    relayed(instances)
    for version in range(1, 7):
        assert instances.b.wait(ALICE, version, 0.05) is False


def test_an_instance_keeps_no_state_for_users_it_has_no_waits_for(instances: Instances) -> None:
    """Changes to 5,000 users, heard from another instance, leave no trace behind them."""
    instances.b.wait(ALICE, 0, 0)
    until(lambda: instances.b.listening)
    relayed(instances)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot().filter_traces([_SHARED])
        for number in range(5_000):
            instances.a.publish(f"user-{number}", number + 1)
        relayed(instances)
        after = tracemalloc.take_snapshot().filter_traces([_SHARED])
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert instances.b.users_held() == 0
    assert grown < 20_000, f"{grown} bytes kept by shared/ after 5,000 users changed"


_SHARED = tracemalloc.Filter(True, str(ROOT / "shared" / "*"))


def test_forgetting_a_user_wakes_their_waits(instances: Instances) -> None:
    waiting = Waiting(instances.b, ALICE, seen=7)
    instances.a.publish(ALICE, -1)
    assert waiting.woke() is True


def test_waits_woken_from_another_instance_are_counted(instances: Instances) -> None:
    """The count /healthz reports, which tells a wake by pub/sub from a re-read of the store."""
    before = instances.b.woken_from_elsewhere
    waiting = Waiting(instances.b, ALICE, seen=1)
    instances.a.publish(ALICE, 2)
    assert waiting.woke() is True
    assert instances.b.woken_from_elsewhere == before + 1
    own = Waiting(instances.b, ALICE, seen=2)
    instances.b.publish(ALICE, 3)  # woken here, not from elsewhere
    assert own.woke() is True
    assert instances.b.woken_from_elsewhere == before + 1


def subscription_id(notifier: RedisNotifier) -> str:
    """The CLIENT LIST id of the notifier's own subscribed connection, found by its name."""
    assert notifier.client_name
    ids = [
        str(client["id"])
        for client in notifier.client.client_list()
        if client["name"] == notifier.client_name and int(client.get("sub", 0)) > 0
    ]
    assert len(ids) == 1, f"expected one subscription named {notifier.client_name}: {ids}"
    return ids[0]


def test_a_lost_subscription_wakes_every_wait_and_comes_back(instances: Instances) -> None:
    """Messages sent while it is down are lost, so every wait re-reads the store."""
    instances.a.wait(ALICE, 0, 0)
    until(lambda: instances.a.listening)
    waiting = Waiting(instances.b, ALICE, seen=1)
    others = subscription_id(instances.a)
    instances.a.client.execute_command("CLIENT", "KILL", "ID", subscription_id(instances.b))
    assert waiting.woke() is True
    until(lambda: instances.b.listening)
    again = Waiting(instances.b, ALICE, seen=1)
    instances.a.publish(ALICE, 2)
    assert again.woke() is True
    assert subscription_id(instances.a) == others  # only b's own connection was cut


def test_two_prefixes_on_one_redis_never_wake_each_other(redis_url: str) -> None:
    """Two deployments sharing a Redis: their channels follow their key prefixes."""
    live = RedisNotifier.from_url(redis_url, prefix="test-live:")
    staging = RedisNotifier.from_url(redis_url, prefix="test-staging:")
    try:
        assert (live.channel, staging.channel) == ("test-live:changes", "test-staging:changes")
        staging.wait(ALICE, 0, 0)
        until(lambda: staging.listening)
        live.publish(ALICE, 2)
        assert staging.wait(ALICE, 1, QUIET_S) is False
    finally:
        live.close()
        staging.close()


def test_a_prefix_with_braces_is_refused(redis_url: str) -> None:
    with pytest.raises(ValueError, match="braces"):
        RedisNotifier.from_url(redis_url, prefix="{oops}:")


def test_ready_says_whether_the_subscription_is_up(instances: Instances) -> None:
    assert instances.b.ready(LIMIT_S) is True
    assert instances.b.listening
    instances.b.close()
    assert instances.b.ready(0) is False


def test_without_redis_a_wait_answers_at_once_and_a_change_still_saves() -> None:
    nowhere = RedisNotifier.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        nowhere.publish(ALICE, 2)  # logged, not raised: the run itself was saved
        assert nowhere.wait(ALICE, 1, QUIET_S) is True  # "read the store yourself"
        assert not nowhere.listening
        assert nowhere.ready(QUIET_S) is False
    finally:
        nowhere.close()


def test_closing_wakes_every_wait_and_later_waits_answer_at_once(instances: Instances) -> None:
    waiting = Waiting(instances.b, ALICE, seen=1)
    instances.b.close()
    assert waiting.woke() is True
    assert instances.b.closed
    assert instances.b.wait(ALICE, 1, LIMIT_S) is True


GEVENT_WAITERS = """
from gevent import monkey; monkey.patch_all()
import gevent, sys
from shared.notify.redis import RedisNotifier
a = RedisNotifier.from_url(sys.argv[1], prefix="test-gevent:")
b = RedisNotifier.from_url(sys.argv[1], prefix="test-gevent:")
b.wait("alice", 0, 0)
waits = [gevent.spawn(b.wait, "alice", 1, 10) for _ in range(200)]
while b.waiting() < 200:
    gevent.sleep(0.001)
a.publish("alice", 2)
print(sum(wait.get() for wait in waits))
a.close(); b.close()
"""


def test_under_gevent_one_change_wakes_hundreds_of_waiting_greenlets(redis_url: str) -> None:
    """gunicorn's gevent workers patch threads into greenlets; the relay must still work."""
    printed = run_python(GEVENT_WAITERS, redis_url, timeout=60)
    assert printed.strip() == "200"
