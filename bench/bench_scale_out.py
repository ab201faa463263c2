"""Scale-out on one Redis: poll throughput of one instance against two, and cross-instance wakes.

Run from the repository root: python -m bench.bench_scale_out [polls-per-round] [rounds] [wakes]

Starts a private redis-server and three real `sciatica-coach serve` instances on loopback
(gunicorn, one gevent worker each): S on a SQLite file, A and B on the Redis. Then, printing
every figure:

(a) Poll throughput. 64 users, each paired and with a run going, are polled with plain
    GET /api/v1/cues (a full 200 answer) by an asyncio client holding 32 keep-alive
    connections, a fixed count per round: against S alone, A alone, and A and B together
    (connections split between them, as a load balancer would). Configurations take turns
    round by round, so drift hits all alike. Besides polls per second, the CPU the server
    processes and redis-server spent per poll (from /proc), which says what more cores buy
    when, as on a small machine, the client and Redis share the CPUs with the servers.
(b) Wake-up latency. A watch long-polls (wait=30, If-None-Match) while a second watch of the
    same user sends "repeat" to A; timed from sending the action until the poll answers,
    with the poll on A (same instance) or on B (across Redis pub/sub), alternating.
(c) Wake-up across instances after a reconnect: a poll parked on B while every change
    subscription is cut (CLIENT KILL); a second later (resubscribed) "repeat" goes to A.
    A poll that went back to trusting its notifier answers in milliseconds, one left
    re-reading the store on a timer in up to FALLBACK_POLL_S.
(d) The relay alone: publish -> wait() returning, in one process, for a LocalNotifier, two
    RedisNotifiers on one instance, and across two.
(e) LocalNotifier with 0, 500 and 2,000 other users' watches waiting: a change must cost
    the same however many others wait (one event per watch, not one condition for all).

Everything is bounded in count and time and talks only to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.support import (
    BOOT_LIMIT_S,
    HttpConnection,
    cpu_seconds,
    environ_without_settings,
    free_port,
    http_request,
    machine,
    percentile,
    start_logged,
    wait_until_serving,
)

SKILL_ID = "amzn1.ask.skill.bench-scale-out"
USERS = 64
CONNECTIONS = 32
#: The longest the whole bench may take; past it, everything is killed.
BENCH_DEADLINE_S = 600.0
#: How long each timed long poll would wait if nothing woke it.
POLL_WAIT_S = 30
#: Time given a long poll to arrive and park before the change is sent.
PARK_S = 0.05
#: Time given the subscriptions to come back after they are cut, before a change is sent.
RECONNECTED_S = 1.0


# -- plumbing -----------------------------------------------------------------------------------


def cpu_seconds_of(pids: list[int]) -> float:
    """User plus system CPU time these processes have used so far, from /proc."""
    return sum(map(cpu_seconds, pids))


def group_pids(pid: int) -> list[int]:
    """A gunicorn master and its workers."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


@dataclass
class Instance:
    name: str
    process: subprocess.Popen[bytes]
    port: int

    def pids(self) -> list[int]:
        return group_pids(self.process.pid)


class Lab:
    """The redis-server and the app instances of one bench run; all are killed at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.processes: list[subprocess.Popen[bytes]] = []

    def redis(self) -> tuple[str, int]:
        binary = shutil.which("redis-server")
        if binary is None:
            sys.exit("redis-server is not installed (Debian: apt-get install redis-server)")
        port = free_port()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no"]
        process = self._start(args, "redis.log")
        url = f"redis://127.0.0.1:{port}/0"
        from shared.redis_connection import connect

        client = connect(url)
        deadline = time.monotonic() + BOOT_LIMIT_S
        while True:
            try:
                client.ping()
                break
            except Exception:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.02)
        client.close()
        return url, process.pid

    def serve(self, name: str, env: dict[str, str]) -> Instance:
        port = free_port()
        # No Alexa here, but serve wants a skill id.
        environ = environ_without_settings(**env, SCIATICA_SKILL_ID=SKILL_ID)
        args = [sys.executable, "-m", "sciatica_coach.cli", "serve", "--port", str(port)]
        process = self._start(args, f"{name}.log", environ)
        wait_until_serving(process, port, self.tmp / f"{name}.log", f"instance {name}")
        return Instance(name, process, port)

    def _start(
        self, args: list[str], log_name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        process = start_logged(args, self.tmp / log_name, env)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def lab() -> Iterator[Lab]:
    with tempfile.TemporaryDirectory(prefix="bench-scale-out-") as tmp:
        running = Lab(Path(tmp))
        try:
            yield running
        finally:
            running.stop()


# -- seeding users through the core -------------------------------------------------------------


def seed(store: object, users: list[str], tokens_each: int = 1) -> dict[str, list[str]]:
    """Pair `tokens_each` watches per user and start each user's run, through the core."""
    from shared.clock import SystemClock
    from shared.pairing.limits import RateLimit
    from shared.pairing.service import PairingService
    from shared.routine.coach import Coach
    from shared.routine.definition import load_routine
    from shared.routine.engine import Event, RoutineEngine

    unlimited = RateLimit("bench-start", limit=10**9, window_s=600, bucket_s=60)
    pairing = PairingService(store, SystemClock(), start_limit=unlimited)  # type: ignore[arg-type]
    coach = Coach(store, RoutineEngine(load_routine()), SystemClock())  # type: ignore[arg-type]
    tokens: dict[str, list[str]] = {}
    for user in users:
        tokens[user] = []
        for _ in range(tokens_each):
            started = pairing.start()
            pairing.bind(user, started.user_code)
            tokens[user].append(pairing.exchange(started.device_code).access_token)
        coach.apply(user, Event.START)
    return tokens


# -- (a) throughput -----------------------------------------------------------------------------


async def poll_burst(ports: list[int], tokens: list[str], total: int) -> float:
    """Seconds for `total` GET /cues spread over CONNECTIONS connections to `ports`."""
    remaining = [total]

    async def connection(number: int) -> None:
        port = ports[number % len(ports)]
        auth = {"Authorization": f"Bearer {tokens[number % len(tokens)]}"}
        connection = await HttpConnection.open(port)
        try:
            while remaining[0] > 0:
                remaining[0] -= 1
                connection.send(http_request("GET", "/api/v1/cues", auth))
                status, _, _ = await connection.response()
                if status != 200:
                    raise RuntimeError(f"poll answered {status}")
        finally:
            connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection(number) for number in range(CONNECTIONS)))
    return time.perf_counter() - start


@dataclass
class Round:
    rate: float
    app_cpu_us: float
    redis_cpu_us: float


def measure_round(
    instances: list[Instance], redis_pid: int, tokens: list[str], total: int
) -> Round:
    app_pids = [pid for instance in instances for pid in instance.pids()]
    app_before, redis_before = cpu_seconds_of(app_pids), cpu_seconds(redis_pid)
    took = asyncio.run(poll_burst([instance.port for instance in instances], tokens, total))
    app_cpu = cpu_seconds_of(app_pids) - app_before
    redis_cpu = cpu_seconds(redis_pid) - redis_before
    return Round(total / took, app_cpu / total * 1e6, redis_cpu / total * 1e6)


# -- (b) wake-ups over HTTP ---------------------------------------------------------------------


async def wake_once(
    poll_port: int,
    act_port: int,
    poll_token: str,
    act_token: str,
    while_parked: Callable[[], Awaitable[None]] | None = None,
) -> float:
    """Milliseconds from sending "repeat" to act_port until the long poll on poll_port answers.

    `while_parked`, if given, runs once the poll has parked and before the change is sent.
    """
    poll_auth = {"Authorization": f"Bearer {poll_token}"}
    poll = await HttpConnection.open(poll_port)
    act = await HttpConnection.open(act_port)
    try:
        poll.send(http_request("GET", "/api/v1/cues", poll_auth))
        _, headers, _ = await poll.response()
        waiting = {**poll_auth, "If-None-Match": headers["etag"]}
        poll.send(http_request("GET", f"/api/v1/cues?wait={POLL_WAIT_S}", waiting))
        answered = asyncio.ensure_future(_timed_read(poll))
        await asyncio.sleep(PARK_S)
        if while_parked is not None:
            await while_parked()
        if answered.done():
            raise RuntimeError("the long poll answered before anything changed")
        body = json.dumps({"action": "repeat"}).encode()
        act_headers = {"Authorization": f"Bearer {act_token}", "Content-Type": "application/json"}
        sent = time.perf_counter()
        act.send(http_request("POST", "/api/v1/actions", act_headers, body))
        status, _, _ = await act.response()
        if status != 200:
            raise RuntimeError(f"repeat answered {status}")
        poll_status, at = await asyncio.wait_for(answered, POLL_WAIT_S / 2)
        if poll_status != 200:
            raise RuntimeError(f"the long poll answered {poll_status}")
        return (at - sent) * 1000
    finally:
        poll.close()
        act.close()


async def _timed_read(connection: HttpConnection) -> tuple[int, float]:
    status, _, _ = await connection.response()
    return status, time.perf_counter()


# -- (d) the relay alone ------------------------------------------------------------------------


def relay_latency(publisher: object, waiter: object, user: str, samples: int) -> list[float]:
    """Milliseconds from publish() on `publisher` until wait() returns on `waiter`."""
    results: list[float] = []
    for version in range(1, samples + 1):
        returned: list[float] = []

        def wait(seen: int, returned: list[float]) -> None:
            waiter.wait(user, seen, 10)  # type: ignore[attr-defined]
            returned.append(time.perf_counter())

        held = waiter.waiting()  # type: ignore[attr-defined]
        thread = threading.Thread(target=wait, args=(version - 1, returned))
        thread.start()
        while waiter.waiting() == held:  # type: ignore[attr-defined]
            time.sleep(0.0005)  # until it blocks: a change before that would go unheard
        sent = time.perf_counter()
        publisher.publish(user, version)  # type: ignore[attr-defined]
        thread.join(10)
        results.append((returned[0] - sent) * 1000)
    return results


def crowded_latency(others: int, samples: int) -> list[float]:
    """LocalNotifier publish -> wait() returning while `others` users' watches also wait."""
    from shared.notify.local import LocalNotifier

    notifier = LocalNotifier()
    crowd = [
        threading.Thread(target=notifier.wait, args=(f"other-{n}", 0, 120), daemon=True)
        for n in range(others)
    ]
    for thread in crowd:
        thread.start()
    while notifier.waiting() < others:
        time.sleep(0.001)
    try:
        return relay_latency(notifier, notifier, "me", samples)
    finally:
        notifier.close()
        for thread in crowd:
            thread.join(10)


def kill_subscriptions(redis_url: str) -> int:
    """Cut every instance's change subscription on the bench's own Redis; how many."""
    from shared.redis_connection import connect

    client = connect(redis_url)
    try:
        ids = [
            str(entry["id"])
            for entry in client.client_list()
            if "-notifier-" in entry["name"] and int(entry.get("sub", 0)) > 0
        ]
        for client_id in ids:
            client.execute_command("CLIENT", "KILL", "ID", client_id)
        return len(ids)
    finally:
        client.close()


async def wake_after_reconnect(
    redis_url: str, poll_port: int, act_port: int, poll_token: str, act_token: str
) -> float:
    """A cross-instance wake of a poll that was waiting when the subscriptions were cut."""

    async def cut_subscriptions() -> None:
        if kill_subscriptions(redis_url) < 2:
            raise RuntimeError("expected both instances' subscriptions to cut")
        await asyncio.sleep(RECONNECTED_S)  # the subscriptions are back; the poll waits on

    return await wake_once(poll_port, act_port, poll_token, act_token, cut_subscriptions)


def summary(samples: list[float], unit: str = "ms") -> str:
    return (
        f"median {statistics.median(samples):.3f} {unit}, p95 {percentile(samples, 0.95):.3f} "
        f"{unit}, max {max(samples):.3f} {unit} (n={len(samples)})"
    )


# -- the run ------------------------------------------------------------------------------------


def main(polls_per_round: int = 3000, rounds: int = 5, wakes: int = 100) -> None:
    from shared.notify.local import LocalNotifier
    from shared.notify.redis import RedisNotifier
    from shared.stores.redis import RedisStore
    from shared.stores.sqlite import SQLiteStore

    print(f"machine: {machine()}")
    with lab() as running:
        redis_url, redis_pid = running.redis()
        sqlite_path = running.tmp / "s.sqlite3"
        s = running.serve("S", {"SCIATICA_DB": str(sqlite_path)})
        redis_env = {"SCIATICA_REDIS_URL": redis_url}
        a = running.serve("A", {**redis_env, "SCIATICA_DB": str(running.tmp / "a.sqlite3")})
        b = running.serve("B", {**redis_env, "SCIATICA_DB": str(running.tmp / "b.sqlite3")})

        users = [f"amzn1.ask.account.BENCH-{number:03d}" for number in range(USERS)]
        sqlite_store = SQLiteStore(sqlite_path)
        redis_store = RedisStore.from_url(redis_url)
        on_sqlite = [t[0] for t in seed(sqlite_store, users).values()]
        on_redis = [t[0] for t in seed(redis_store, users).values()]
        wake_tokens = seed(redis_store, ["amzn1.ask.account.BENCH-WAKE"], tokens_each=2)
        sqlite_store.close()

        configs = {
            "1 instance, SQLite": ([s], on_sqlite),
            "1 instance, Redis": ([a], on_redis),
            "2 instances, Redis": ([a, b], on_redis),
        }
        print(
            f"\n(a) poll throughput: {polls_per_round} x GET /api/v1/cues per round, "
            f"{CONNECTIONS} connections, {USERS} users, {rounds} rounds"
        )
        for instances, tokens in configs.values():  # warm-up: connections, caches, scripts
            measure_round(instances, redis_pid, tokens, polls_per_round // 10)
        results: dict[str, list[Round]] = {name: [] for name in configs}
        for number in range(rounds):
            for name, (instances, tokens) in configs.items():
                result = measure_round(instances, redis_pid, tokens, polls_per_round)
                results[name].append(result)
                print(
                    f"  round {number + 1} {name:20s} {result.rate:7.0f} polls/s  "
                    f"app CPU {result.app_cpu_us:5.0f} us/poll  "
                    f"redis CPU {result.redis_cpu_us:4.0f} us/poll"
                )
        medians = {
            name: statistics.median(r.rate for r in rounds_) for name, rounds_ in results.items()
        }
        for name, rounds_ in results.items():
            print(
                f"  median {name:20s} {medians[name]:7.0f} polls/s  "
                f"app CPU {statistics.median(r.app_cpu_us for r in rounds_):5.0f} us/poll  "
                f"redis CPU {statistics.median(r.redis_cpu_us for r in rounds_):4.0f} us/poll"
            )
        one, two = medians["1 instance, Redis"], medians["2 instances, Redis"]
        print(f"  two instances / one (Redis): {two / one:.2f}x")
        print(f"  Redis / SQLite, one instance: {one / medians['1 instance, SQLite']:.2f}x")

        print(f"\n(b) wake-up over HTTP: 'repeat' sent to A -> long poll answers ({wakes} each)")
        poll_token, act_token = wake_tokens["amzn1.ask.account.BENCH-WAKE"]
        same: list[float] = []
        cross: list[float] = []
        for _ in range(wakes):
            same.append(asyncio.run(wake_once(a.port, a.port, poll_token, act_token)))
            cross.append(asyncio.run(wake_once(b.port, a.port, poll_token, act_token)))
        print(f"  poll on A (same instance):  {summary(same)}")
        print(f"  poll on B (across Redis):   {summary(cross)}")
        added = statistics.median(cross) - statistics.median(same)
        added_p95 = percentile(cross, 0.95) - percentile(same, 0.95)
        print(f"  added by crossing: median {added:+.3f} ms, p95 {added_p95:+.3f} ms")

        reconnects = max(5, wakes // 5)
        print(
            f"\n(c) wake-up across instances {RECONNECTED_S:.0f} s after every subscription was"
            f" cut (CLIENT KILL) while the poll waited ({reconnects})"
        )
        after = [
            asyncio.run(wake_after_reconnect(redis_url, b.port, a.port, poll_token, act_token))
            for _ in range(reconnects)
        ]
        print(f"  poll on B after a reconnect: {summary(after)}")
        redis_store.close()

        print(f"\n(d) the relay alone: publish -> wait() returns ({wakes * 2} each)")
        count = wakes * 2
        local = LocalNotifier()
        print(f"  LocalNotifier:              {summary(relay_latency(local, local, 'l', count))}")
        first = RedisNotifier.from_url(redis_url, prefix="bench:")
        second = RedisNotifier.from_url(redis_url, prefix="bench:")
        first.ready(BOOT_LIMIT_S)  # both subscribed before anything is timed
        second.ready(BOOT_LIMIT_S)
        same_one = relay_latency(first, first, "same", count)
        across = relay_latency(first, second, "across", count)
        print(f"  RedisNotifier, same one:    {summary(same_one)}")
        print(f"  RedisNotifier, A -> B:      {summary(across)}")
        first.close()
        second.close()

        print(f"\n(e) LocalNotifier, publish -> wait() returns with other users waiting ({count})")
        for others in (0, 500, 2000):
            print(f"  {others:4d} others waiting:        {summary(crowded_latency(others, count))}")


def _deadline() -> None:
    """Kill this bench (and, through the lab's cleanup, what it started) if it runs too long."""
    timer = threading.Timer(BENCH_DEADLINE_S, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.daemon = True
    timer.start()


if __name__ == "__main__":
    _deadline()
    main(*(int(arg) for arg in sys.argv[1:4]))
