"""The real server under load on loopback: Alexa latency against a bare echo, and waiting watches.

Run from the repository root: python -m bench.bench_server [runs=1000] [max_waiters=10000]

One run starts `sciatica-coach serve`'s gunicorn+gevent server (one worker, a temporary
SQLite file, verification on against a demo CA) with a bench-only echo app mounted beside
the product app, then measures, printing every figure:

(a) POST /alexa (a signed TimeLeftIntent) against POST /bench/echo (a bare Flask JSON echo
    on the same server), alternating on one keep-alive connection, so the ratio holds on a
    shared machine even when absolute numbers drift;
(b) long-poll capacity: watches, one user each, ramped up to `max_waiters` waiting polls on
    an asyncio client (whose open-file limit is raised to its hard limit first); at each
    step the worker's RSS (from /proc), how fast /healthz gets through, the worker's CPU use
    while the watches only wait (each is answered and asks again every POLL_WAIT_S), and how
    long a voice change takes to reach its waiting watch. The ramp stops early, saying why,
    at the first step that stalls: the watches not all waiting within STEP_TIMEOUT_S,
    /healthz unanswered within HEALTHZ_TIMEOUT_S, or a voice change slower than
    WAKE_TIMEOUT_S;
(c) SIGTERM with every watch waiting: how many polls are answered, when, how many asked
    again on the same connection before it closed, and when the worker and the server exit.

Everything is bounded in count and time and talks only to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from bench.support import (
    HttpConnection,
    cpu_seconds,
    exchange,
    http_request,
    int_arg,
    machine,
    percentile,
    serve_wrapped,
    start_bench_server,
    worker_pid,
)
from sciatica_coach.server import WORKER_CONNECTIONS

SKILL_ID = "amzn1.ask.skill.bench-server"
PACKAGES = ("gunicorn", "gevent", "greenlet", "flask", "werkzeug", "ask-sdk-core", "cryptography")
LEVELS = (250, 500, 1000, 2000, 4000, 6000, 8000, 10_000)
#: Longest the whole bench may take once the watches are paired; past it, everything stops.
BENCH_DEADLINE_S = 420.0
#: A /healthz slower than this means the worker takes no new connection: the ramp stops.
#: It is long because /healthz queues behind every watch just added (on a loaded 2-core
#: machine one worker took 15 s to answer the first polls of 2,000 new watches).
HEALTHZ_TIMEOUT_S = 60.0
#: Longest one ramp step may take for all its watches to be waiting.
STEP_TIMEOUT_S = 120.0
#: The wait every watch asks for: the longest the API allows.
POLL_WAIT_S = 30
#: Connections opened at once while ramping, so the listen backlog never overflows.
CONNECT_CONCURRENCY = 100
#: Voice changes timed at every level, each to a different waiting watch (enough for a p95).
WAKE_SAMPLES = 60
#: Seconds over which the worker's CPU use is taken at each level.
CPU_WINDOW_S = 5.0
#: A voice change slower than this to reach its watch stops the ramp.
WAKE_TIMEOUT_S = 10.0
#: Open files the bench client needs beyond one per watch (the log, the voice, /healthz).
SPARE_FILES = 100


# -- the server side (runs in the child process) -----------------------------------------------


def with_echo(app: Flask) -> Any:
    """The product app with a bare JSON echo at /bench/echo: the floor for the same server."""
    echo = Flask("bench-echo")

    @echo.post("/echo")
    def echo_json() -> ResponseReturnValue:
        return jsonify(request.get_json())

    return DispatcherMiddleware(app, {"/bench": echo})


def serve_child(argv: list[str]) -> int:
    """`python -m bench.bench_server serve --port P --db D ...`: serve's own code, plus echo."""
    return serve_wrapped(argv, with_echo)


# -- plumbing ---------------------------------------------------------------------------------


def progress(message: str) -> None:
    """A line on stderr while a long run goes on; the figures go to stdout."""
    print(f"  ... {message}", file=sys.stderr, flush=True)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def signed(ca: Any, user_id: str, intent: str) -> tuple[bytes, dict[str, str]]:
    """A signed envelope for `intent` from `user_id`, built but not sent."""
    from sciatica_coach.demo.simulator import AlexaSimulator

    captured: list[tuple[bytes, dict[str, str]]] = []

    def capture(body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        captured.append((body, dict(headers)))
        return 200, {}

    AlexaSimulator(capture, ca, SKILL_ID, time.time, user_id=user_id).says(intent)
    return captured[0]


# -- (a) latency --------------------------------------------------------------------------------


def measure_latency(port: int, ca: Any, runs: int) -> tuple[list[float], list[float]]:
    """Alternate a signed TimeLeftIntent and an echo of the same body on one connection."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    user = "amzn1.ask.account.BENCH-LATENCY"
    body, headers = signed(ca, user, "StartRoutineIntent")
    conn.request("POST", "/alexa", body=body, headers=headers)  # warm-up: user row, chain
    conn.getresponse().read()
    skill_ms: list[float] = []
    echo_ms: list[float] = []
    signed_at = 0.0
    for _ in range(runs):
        if time.monotonic() - signed_at > 60:  # stay well inside the 150 s timestamp window
            body, headers = signed(ca, user, "TimeLeftIntent")
            signed_at = time.monotonic()
        for path, samples, sent_headers in (
            ("/alexa", skill_ms, headers),
            ("/bench/echo", echo_ms, {"Content-Type": "application/json"}),
        ):
            start = time.perf_counter()
            conn.request("POST", path, body=body, headers=sent_headers)
            answer = conn.getresponse()
            answer.read()
            samples.append((time.perf_counter() - start) * 1000)
            if answer.status != 200:
                raise RuntimeError(f"{path} answered {answer.status}")
    conn.close()
    return skill_ms, echo_ms


# -- (b) waiting watches ------------------------------------------------------------------------


@dataclass
class Watch:
    """One watch on its own keep-alive connection: learns its ETag, then long-polls forever."""

    user_id: str
    token: str
    waiting: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    answers: int = 0
    #: perf_counter() of every answer, for when the polls are answered on SIGTERM.
    answered_at: list[float] = field(default_factory=list)

    async def run(self, port: int, gate: asyncio.Semaphore) -> None:
        auth = {"Authorization": f"Bearer {self.token}"}
        async with gate:
            connection = await HttpConnection.open(port)
            connection.send(http_request("GET", "/api/v1/cues", auth))
            status, headers, _ = await connection.response()
        if status != 200:
            raise RuntimeError(f"first poll answered {status}")
        etag = headers["etag"]
        try:
            while True:
                poll = {**auth, "If-None-Match": etag}
                connection.send(http_request("GET", f"/api/v1/cues?wait={POLL_WAIT_S}", poll))
                await connection.drain()
                self.waiting.set()
                status, headers, _ = await connection.response()
                self.answers += 1
                self.answered_at.append(time.perf_counter())
                if status == 200:
                    etag = headers["etag"]
                    self.changed.set()
        finally:
            connection.close()


def pair_watches(db: Path, count: int) -> list[Watch]:
    """One user and one token per watch, paired through the core on the server's file."""
    from shared.clock import SystemClock
    from shared.pairing.limits import RateLimit
    from shared.pairing.service import PairingService
    from shared.stores.sqlite import SQLiteStore

    store = SQLiteStore(db)
    unlimited = RateLimit("bench-start", limit=10**9, window_s=600, bucket_s=60)
    pairing = PairingService(store, SystemClock(), start_limit=unlimited)
    watches = []
    for number in range(count):
        user_id = f"amzn1.ask.account.BENCH-WATCH-{number:05d}"
        started = pairing.start()
        pairing.bind(user_id, started.user_code)
        watches.append(Watch(user_id, pairing.exchange(started.device_code).access_token))
    store.close()
    return watches


@dataclass
class Level:
    waiters: int
    rss: int
    healthz_ms: float | None
    wake_ms: list[float] = field(default_factory=list)
    #: Share of one core the worker used while the watches only waited (and re-polled).
    cpu_busy: float | None = None


async def worker_busy(worker: int, seconds: float = CPU_WINDOW_S) -> float:
    """The worker's CPU use over `seconds` of doing nothing but holding (and re-answering)."""
    used, start = cpu_seconds(worker), time.perf_counter()
    await asyncio.sleep(seconds)
    return (cpu_seconds(worker) - used) / (time.perf_counter() - start)


async def timed_healthz(port: int) -> float | None:
    """A /healthz round trip on a fresh connection, in ms; None if it takes too long."""
    start = time.perf_counter()
    try:
        status, _, _ = await exchange(port, http_request("GET", "/healthz"), HEALTHZ_TIMEOUT_S)
    except (TimeoutError, OSError):
        return None
    if status != 200:
        raise RuntimeError(f"/healthz answered {status}")
    return (time.perf_counter() - start) * 1000


async def ramp(
    port: int, worker: int, watches: list[Watch], ca: Any, levels: tuple[int, ...]
) -> tuple[int, list[Level], list[asyncio.Task[None]], str | None]:
    """Add watches level by level; at each, measure; stop early (saying why) if it stalls."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    tasks: list[asyncio.Task[None]] = []
    await exchange(port, http_request("GET", "/healthz"))
    baseline = rss_bytes(worker)
    results: list[Level] = []
    woken = 0
    for level in levels:
        for watch in watches[len(tasks) : level]:
            tasks.append(asyncio.create_task(watch.run(port, gate)))
        try:
            await asyncio.wait_for(
                asyncio.gather(*(watch.waiting.wait() for watch in watches[:level])),
                STEP_TIMEOUT_S,
            )
        except TimeoutError:
            waiting = sum(watch.waiting.is_set() for watch in watches[:level])
            return (
                baseline,
                results,
                tasks,
                (
                    f"going from {results[-1].waiters if results else 0} to {level}: after "
                    f"{STEP_TIMEOUT_S:g} s only {waiting} watches had sent their long poll"
                ),
            )
        failed = [task for task in tasks if task.done()]
        if failed:
            raise RuntimeError(f"a watch stopped: {failed[0].exception()!r}")
        # The worker takes connections in order and runs each request until it waits, so
        # once this /healthz is answered every poll sent before it is waiting.
        healthz_ms = await timed_healthz(port)
        results.append(Level(level, rss_bytes(worker), healthz_ms))
        progress(f"{level} waiting, /healthz {healthz_ms} ms")
        if healthz_ms is None:
            return (
                baseline,
                results,
                tasks,
                (f"at {level} waiting /healthz got no answer in {HEALTHZ_TIMEOUT_S:g} s"),
            )
        results[-1].cpu_busy = await worker_busy(worker)
        for watch in watches[woken : woken + min(WAKE_SAMPLES, level - woken)]:
            body, headers = signed(ca, watch.user_id, "StartRoutineIntent")
            start = time.perf_counter()
            try:
                async with asyncio.timeout(WAKE_TIMEOUT_S):
                    await exchange(port, http_request("POST", "/alexa", headers, body))
                    await watch.changed.wait()
            except TimeoutError:
                return (
                    baseline,
                    results,
                    tasks,
                    (
                        f"at {level} waiting a voice change did not reach its watch in "
                        f"{WAKE_TIMEOUT_S:g} s"
                    ),
                )
            results[-1].wake_ms.append((time.perf_counter() - start) * 1000)
            woken += 1
    return baseline, results, tasks, None


@dataclass
class Stop:
    """What SIGTERM did with every watch waiting."""

    held: int
    took_s: float
    answered: int
    asked_again: int
    first_answer_s: float | None
    median_answer_s: float | None
    last_answer_s: float | None
    worker_exit_s: float | None
    code: int | None


async def stop_with_waiters(
    process: subprocess.Popen[bytes],
    worker: int,
    watches: list[Watch],
    tasks: list[asyncio.Task[None]],
) -> Stop:
    """SIGTERM with every watch waiting: who is answered when, and when the processes exit."""
    before = [watch.answers for watch in watches]
    start = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    deadline = start + 45
    worker_exit = None
    while process.poll() is None and time.perf_counter() < deadline:
        if worker_exit is None and not _running(worker):
            worker_exit = time.perf_counter() - start
        await asyncio.sleep(0.02)
    took = time.perf_counter() - start
    if worker_exit is None and not _running(worker):
        worker_exit = took
    after = [
        [at - start for at in watch.answered_at[seen:]]
        for watch, seen in zip(watches, before, strict=True)
    ]
    firsts = sorted(times[0] for times in after if times)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return Stop(
        held=len(watches),
        took_s=took,
        answered=len(firsts),
        asked_again=sum(len(times) > 1 for times in after),
        first_answer_s=firsts[0] if firsts else None,
        median_answer_s=statistics.median(firsts) if firsts else None,
        last_answer_s=firsts[-1] if firsts else None,
        worker_exit_s=worker_exit,
        code=process.poll(),
    )


def _running(pid: int) -> bool:
    """Whether `pid` still runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def raise_own_open_file_limit(needed: int) -> int:
    """Lift this process's soft limit on open files towards `needed`; the limit it got."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the run ------------------------------------------------------------------------------------


def start_server(tmp: Path, ca: Any) -> tuple[subprocess.Popen[bytes], int]:
    return start_bench_server(
        [sys.executable, "-m", "bench.bench_server", "serve"], tmp, SKILL_ID, ca
    )


def report(
    runs: int,
    skill_ms: list[float],
    echo_ms: list[float],
    baseline: int,
    levels: list[Level],
    stalled: str | None,
    stop: Stop,
    files: int,
) -> None:
    print(f"machine: {machine()}")
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in PACKAGES)
    print(f"packages: {versions}")
    print(f"\n(a) POST /alexa (signed TimeLeftIntent, verification on) vs echo, {runs} runs each")
    for name, samples in (("alexa", skill_ms), ("echo", echo_ms)):
        print(
            f"  {name:5} median {statistics.median(samples):6.2f} ms, "
            f"p99 {percentile(samples, 0.99):6.2f} ms"
        )
    median_ratio = statistics.median(skill_ms) / statistics.median(echo_ms)
    p99_ratio = percentile(skill_ms, 0.99) / percentile(echo_ms, 0.99)
    print(f"  ratio alexa/echo: median {median_ratio:.1f}x, p99 {p99_ratio:.1f}x")
    print(f"\n(b) waiting long polls held by one gevent worker (bench client: {files} open files)")
    print(f"  worker RSS with none waiting: {baseline / 2**20:.1f} MiB")
    header = f"{'waiting':>7}  {'RSS MiB':>8}  {'bytes/waiter':>12}  {'/healthz ms':>11}"
    print(f"  {header}  {'CPU':>4}  voice change -> its watch, ms: median / p95 (max)")
    for level in levels:
        per_waiter = (level.rss - baseline) / level.waiters
        healthz = f"{level.healthz_ms:11.2f}" if level.healthz_ms is not None else "  no answer"
        wake = (
            f"{statistics.median(level.wake_ms):7.1f} / {percentile(level.wake_ms, 0.95):.1f}"
            f" ({max(level.wake_ms):.1f})"
            if level.wake_ms
            else "      -"
        )
        busy = f"{level.cpu_busy:4.0%}" if level.cpu_busy is not None else "   -"
        print(
            f"  {level.waiters:>7}  {level.rss / 2**20:>8.1f}  {per_waiter:>12,.0f}"
            f"  {healthz}  {busy}  {wake}"
        )
    top = levels[-1]
    if stalled:
        print(f"  the ramp stopped {stalled}")
        if top.healthz_ms is None:
            print(
                f"  One worker holds at most worker_connections ({WORKER_CONNECTIONS:,}) "
                "connections at once; beyond that it accepts no new one until a held one closes."
            )
    print(f"\n(c) SIGTERM with {stop.held} watches connected: {stop.answered} of them answered")
    if stop.first_answer_s is not None:
        print(
            f"  first answer after {stop.first_answer_s:.2f} s, half by "
            f"{stop.median_answer_s:.2f} s, the last after {stop.last_answer_s:.2f} s; "
            f"{stop.asked_again} asked again on the same connection before it closed"
        )
    worker = f"{stop.worker_exit_s:.1f} s" if stop.worker_exit_s is not None else "not seen"
    print(f"  worker exited after {worker}; server exited {stop.code} after {stop.took_s:.1f} s")


def main(runs: int = 1000, max_waiters: int = 10_000) -> None:
    from sciatica_coach.demo.demo_ca import DemoCA

    files = raise_own_open_file_limit(max_waiters + SPARE_FILES)
    if files < max_waiters + SPARE_FILES:
        print(f"(the open-file limit is {files}: ramping to {files - SPARE_FILES} watches only)")
        max_waiters = files - SPARE_FILES
    levels = (*(level for level in LEVELS if level < max_waiters), max_waiters)
    ca = DemoCA.generate(now=datetime.now(UTC))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        watches = pair_watches(tmp / "bench.sqlite3", max_waiters)
        progress(f"{len(watches)} watches paired")
        process, port = start_server(tmp, ca)
        try:
            worker = worker_pid(process)
            skill_ms, echo_ms = measure_latency(port, ca, runs)

            async def load() -> tuple[int, list[Level], str | None, Stop]:
                baseline, results, tasks, stalled = await ramp(port, worker, watches, ca, levels)
                held = watches[: len(tasks)]
                stop = await stop_with_waiters(process, worker, held, tasks)
                return baseline, results, stalled, stop

            baseline, results, stalled, stop = asyncio.run(
                asyncio.wait_for(load(), BENCH_DEADLINE_S)
            )
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        report(runs, skill_ms, echo_ms, baseline, results, stalled, stop, files)
        records = [json.loads(line) for line in (tmp / "server.log").read_text().splitlines()]
        stamps = {record["msg"]: record["ts"] for record in records}
        signalled = stamps.get("Handling signal: term")
        woken = stamps.get("stopping: waking the long polls this worker holds")
        if signalled and woken:
            gap = datetime.fromisoformat(woken) - datetime.fromisoformat(signalled)
            took = gap.total_seconds()
            print(f"  the worker closed its notifier {took:.2f} s after the master had the signal")
        errors = [
            json.dumps(record) for record in records if record.get("level") in ("ERROR", "CRITICAL")
        ]
        print(f"  server log: {len(errors)} error line(s)")
        for line in errors[:5]:
            print(f"    {line[:200]}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        sys.exit(serve_child(sys.argv[2:]))
    main(int_arg(1, 1000), int_arg(2, 10_000))
