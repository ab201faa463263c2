"""Wake-ups across instances: a change published by one process wakes waits in every other.

`instances` gives two notifiers on one real Redis, standing in for two app instances.
Waits that must not wake use short timeouts; every other bound only stops a broken test
from hanging, and no test measures how fast anything is (bench/bench_scale_out.py does).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from redis_support import free_port
from store_support import Instances

from shared.redis_notify import RedisNotifier

ROOT = Path(__file__).resolve().parents[2]
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


def test_a_change_heard_before_the_wait_began_answers_it_at_once(instances: Instances) -> None:
    """The caller read version 4 just before 5 arrived: its wait must not sleep through 5."""
    instances.b.wait(ALICE, 0, 0)
    until(lambda: instances.b.listening)
    instances.a.publish(ALICE, 5)
    until(lambda: instances.b.wait(ALICE, 4, 0))  # answered without blocking, once relayed


def test_other_users_changes_wake_nobody(instances: Instances) -> None:
    instances.b.wait(BOB, 1, 0)  # subscribe first, so the quiet wait below is a fair test
    instances.a.publish(ALICE, 2)
    assert instances.b.wait(BOB, 1, QUIET_S) is False


def test_a_late_message_from_a_slower_instance_wakes_nobody(instances: Instances) -> None:
    instances.b.publish(ALICE, 3)
    instances.a.publish(ALICE, 2)  # saved before 3, published after it
    assert instances.b.wait(ALICE, 3, QUIET_S) is False


def test_forgetting_a_user_wakes_their_waits(instances: Instances) -> None:
    waiting = Waiting(instances.b, ALICE, seen=7)
    instances.a.publish(ALICE, -1)
    assert waiting.woke() is True


def test_a_lost_subscription_wakes_every_wait_and_comes_back(instances: Instances) -> None:
    """Messages sent while it is down are lost, so every wait re-reads the store."""
    waiting = Waiting(instances.b, ALICE, seen=1)
    instances.a.client.client_kill_filter(_type="pubsub")
    assert waiting.woke() is True
    until(lambda: instances.b.listening)
    again = Waiting(instances.b, ALICE, seen=1)
    instances.a.publish(ALICE, 2)
    assert again.woke() is True


def test_without_redis_a_wait_answers_at_once_and_a_change_still_saves() -> None:
    nowhere = RedisNotifier.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        nowhere.publish(ALICE, 2)  # logged, not raised: the run itself was saved
        assert nowhere.wait(ALICE, 1, QUIET_S) is True  # "read the store yourself"
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
from shared.redis_notify import RedisNotifier
a = RedisNotifier.from_url(sys.argv[1], channel="test:gevent")
b = RedisNotifier.from_url(sys.argv[1], channel="test:gevent")
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
    done = subprocess.run(
        [sys.executable, "-c", GEVENT_WAITERS, redis_url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "200"
