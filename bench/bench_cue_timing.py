"""How close the reference watch buzzes to each cue, with a jittery network and a wrong clock.

Run from the repository root:

    python -m bench.bench_cue_timing [watches-per-group=12] [holds=4] [seed=5]

One `sciatica-coach serve` server on loopback (a temporary SQLite file, verification on
against a demo CA) runs a short bench routine (holds of 10 s, a sentence of speech before
each) for two groups of watches, at once, one user each:

- `direct`: the reference watch (`wearable.client.watch_client.Watch`, as shipped) straight to the
  server;
- `jitter`: the same watch through a delaying TCP proxy on loopback that holds each message,
  each way, for a random 25-200 ms (`random.Random(seed)` per connection), so every round
  trip takes 50-400 ms more, in both directions independently.

Watch clocks are set off the server's by -10 s to +10 s (the same offsets in both groups),
through the watch's own `clock` function. The voice (signed Alexa requests, straight to the
server) starts each user's run, staggered, and says "next" after each hold ends. The error
of a buzz is |the moment it fired, read on the server's clock - the cue's time|; a cue the
watch knew of but did not fire (it skips one that is over half a second late) is counted as
missed. The run takes about a minute; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from bench.bench_server import pair_watches
from bench.support import (
    int_arg,
    machine,
    percentile,
    start_bench_server,
    stop_server,
)

SKILL_ID = "amzn1.ask.skill.bench-cue-timing"
#: Each way, per message, the proxy holds data this long (seconds): 50-400 ms a round trip.
DELAY_S = (0.025, 0.200)
OFFSET_LIMIT_S = 10.0
HOLD_S = 10
#: Between two users' starts, so their buzzes do not all fall on the same instant.
STAGGER_S = 0.25
#: What the watch asks the server to hold each poll (the shipped default).
LONG_POLL_S = 25
#: Longest the whole measurement may take once the server is up.
RUN_DEADLINE_S = 180.0

BENCH_ROUTINE = f"""
id = "cue-timing-bench"
title = "Cue timing bench"
safety_note = "Move gently."

[[steps]]
id = "first"
title = "First hold, {{side}} side"
say = "Lie back and hold it there."
hold = {{ seconds = {HOLD_S}, side = "both" }}

[[steps]]
id = "second"
title = "Second hold, {{side}} side"
say = "Now the other way, and hold."
hold = {{ seconds = {HOLD_S}, side = "both" }}
"""


# -- the delaying proxy -----------------------------------------------------------------------


class JitterProxy:
    """A TCP proxy on loopback that delays each message, each way, by a seeded random time.

    A message is what arrives while the previous one is still held back, so a response's
    header and body chunks travel together, and order is always kept.
    """

    def __init__(self, upstream_port: int, seed: int) -> None:
        self.upstream_port = upstream_port
        self.seed = seed
        self.port = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jitter-proxy", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        rng = random.Random(f"{self.seed}/{self.connections}")
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        await asyncio.gather(
            _pump(client_r, server_w, rng), _pump(server_r, client_w, rng), return_exceptions=True
        )


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rng: random.Random
) -> None:
    """Copy one direction, releasing each message a random delay after it arrived."""
    loop = asyncio.get_running_loop()
    held: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            release, data = await held.get()
            if not data:
                break
            if (wait := release - loop.time()) > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    delivering = asyncio.create_task(deliver())
    release = delay = 0.0
    try:
        while data := await reader.read(65536):
            now = loop.time()
            if now >= release:  # the last message has gone: this is a new one
                delay = rng.uniform(*DELAY_S)
            release = max(release, now + delay)
            held.put_nowait((release, data))
    finally:
        held.put_nowait((release, b""))
        await delivering


# -- watches and the voice --------------------------------------------------------------------


@dataclass
class Trial:
    """One watch: its group, its clock's offset, what it was told and what it fired."""

    group: str
    user_id: str
    token: str
    offset_s: float
    errors_ms: list[float] = field(default_factory=list)
    known: set[tuple[str, int, str | None, int]] = field(default_factory=set)
    fired: set[tuple[str, int, str | None, int]] = field(default_factory=set)
    estimate_error_ms: float | None = None
    watch: Any = None

    def clock(self) -> float:
        """The watch's own clock: the machine's, `offset_s` off."""
        return time.time() + self.offset_s


def start_watch(trial: Trial, base_url: str, stop: threading.Event) -> threading.Thread:
    from wearable.client.watch_client import Watch

    def buzzed(buzz: Any) -> None:
        cue = buzz.cue
        on_server_clock = buzz.fired - trial.offset_s
        trial.errors_ms.append(abs(on_server_clock - cue.at_ms / 1000) * 1000)
        trial.fired.add((cue.kind, cue.step_index, cue.side, cue.at_ms))

    def snapshot(taken: Any) -> None:
        trial.known.update((c.kind, c.step_index, c.side, c.at_ms) for c in taken.cues)

    trial.watch = Watch(
        base_url,
        token=trial.token,
        clock=trial.clock,
        on_buzz=buzzed,
        on_snapshot=snapshot,
        long_poll_s=LONG_POLL_S,
    )
    thread = threading.Thread(target=trial.watch.run, args=(stop,), daemon=True)
    thread.start()
    return thread


def voice(
    speak: Callable[[str, str], None],
    hold_end: Callable[[str], float | None],
    user_id: str,
    holds: int,
    start_at: float,
) -> None:
    """Start the run at `start_at`, then say next half a second after each hold ends."""
    time.sleep(max(0.0, start_at - time.time()))
    speak(user_id, "StartRoutineIntent")
    for number in range(holds):
        end = hold_end(user_id)
        if end is None:
            raise RuntimeError(f"no hold end for {user_id} at hold {number + 1}")
        time.sleep(max(0.0, end + 0.5 - time.time()))
        if number < holds - 1:
            speak(user_id, "AMAZON.NextIntent")


# -- the run ----------------------------------------------------------------------------------


def start_server(tmp: Path, ca: Any) -> tuple[subprocess.Popen[bytes], int]:
    routine = tmp / "bench-routine.toml"
    routine.write_text(BENCH_ROUTINE)
    command = [sys.executable, "-m", "sciatica_coach.cli", "serve"]
    return start_bench_server(command, tmp, SKILL_ID, ca, SCIATICA_ROUTINE=str(routine))


def offsets(count: int) -> list[float]:
    """`count` clock offsets spread evenly from -10 s to +10 s."""
    if count == 1:
        return [OFFSET_LIMIT_S]
    return [-OFFSET_LIMIT_S + 2 * OFFSET_LIMIT_S * i / (count - 1) for i in range(count)]


def main(per_group: int = 12, holds: int = 4, seed: int = 5) -> None:
    from sciatica_coach.demo.demo_ca import DemoCA
    from sciatica_coach.demo.simulator import AlexaSimulator

    if not 1 <= holds <= 4:
        raise SystemExit("holds must be 1 to 4 (the bench routine has four)")
    ca = DemoCA.generate(now=datetime.now(UTC))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        paired = pair_watches(tmp / "bench.sqlite3", 2 * per_group)
        process, port = start_server(tmp, ca)
        proxy = JitterProxy(port, seed)
        proxy.start()
        direct_url = f"http://127.0.0.1:{port}"
        trials = [
            Trial(group, watch.user_id, watch.token, offset)
            for group, chunk in (("direct", paired[:per_group]), ("jitter", paired[per_group:]))
            for watch, offset in zip(chunk, offsets(per_group), strict=True)
        ]
        stop = threading.Event()
        http = requests.Session()
        lock = threading.Lock()

        def speak(user_id: str, intent: str) -> None:
            def post(body: bytes, headers: Any) -> tuple[int, Any]:
                with lock:  # one keep-alive session, one request at a time
                    answer = http.post(f"{direct_url}/alexa", data=body, headers=dict(headers))
                return answer.status_code, answer.json()

            turn = AlexaSimulator(post, ca, SKILL_ID, time.time, user_id=user_id).says(intent)
            if turn.status != 200:
                raise RuntimeError(f"{intent} for {user_id} answered {turn.status}")

        tokens = {trial.user_id: trial.token for trial in trials}

        def hold_end(user_id: str) -> float | None:
            headers = {"Authorization": f"Bearer {tokens[user_id]}"}
            with lock:
                body = http.get(f"{direct_url}/api/v1/cues", headers=headers, timeout=10).json()
            ends = [c["at_ms"] / 1000 for c in body["cues"] if c["kind"] == "hold_end"]
            return min(ends) if ends else None

        started = time.monotonic()
        try:
            threads = [
                start_watch(
                    t, direct_url if t.group == "direct" else f"http://127.0.0.1:{proxy.port}", stop
                )
                for t in trials
            ]
            deadline = time.monotonic() + 30
            while not all(t.watch.snapshot for t in trials):
                if time.monotonic() > deadline:
                    raise RuntimeError("not every watch got its first answer in 30 s")
                time.sleep(0.05)
            first = time.time() + 1.0
            voices = [
                threading.Thread(
                    target=voice,
                    args=(speak, hold_end, t.user_id, holds, first + index * STAGGER_S),
                    daemon=True,
                )
                for index, t in enumerate(trials)
            ]
            for thread in voices:
                thread.start()
            for thread in voices:
                thread.join(timeout=RUN_DEADLINE_S - (time.monotonic() - started))
                if thread.is_alive():
                    raise RuntimeError("the voice did not finish in time")
            time.sleep(1.0)  # the last buzzes, fired half a second before the last "next"
            for t in trials:
                t.estimate_error_ms = abs(t.watch.sync.offset_s + t.offset_s) * 1000
            round_trips = proxied_round_trips(f"http://127.0.0.1:{proxy.port}")
        finally:
            stop.set()
            for t in trials:
                if t.watch is not None:
                    t.watch.close()
            http.close()
            stop_server(process)
            proxy.stop()
        took = time.monotonic() - started
    report(trials, holds, seed, took, len(threads), round_trips)


def proxied_round_trips(url: str, count: int = 20) -> list[float]:
    """What the proxy adds, seen from outside: /healthz round trips through it, in ms."""
    taken = []
    with requests.Session() as session:
        for _ in range(count):
            start = time.perf_counter()
            session.get(f"{url}/healthz", timeout=10).raise_for_status()
            taken.append((time.perf_counter() - start) * 1000)
    return taken


def report(
    trials: list[Trial],
    holds: int,
    seed: int,
    took: float,
    watches: int,
    round_trips: list[float],
) -> None:
    print(f"machine: {machine()}")
    print(
        f"{watches} reference watches, one user each; {holds} holds of {HOLD_S} s, 3 cues each, "
        f"then the routine's end; clock offsets {-OFFSET_LIMIT_S:+g} s to "
        f"{OFFSET_LIMIT_S:+g} s; seed {seed}; {took:.0f} s"
    )
    print(
        f"jitter: +{DELAY_S[0] * 1000:.0f}-{DELAY_S[1] * 1000:.0f} ms each way per message, "
        f"so +{2 * DELAY_S[0] * 1000:.0f}-{2 * DELAY_S[1] * 1000:.0f} ms a round trip; "
        f"{len(round_trips)} /healthz through the proxy took {min(round_trips):.0f}-"
        f"{max(round_trips):.0f} ms (median {statistics.median(round_trips):.0f})"
    )
    print("\n|buzz on the server clock - cue time|, ms")
    print(f"  {'group':6}  {'buzzes':>6}  {'median':>6}  {'p95':>6}  {'max':>6}  {'missed':>6}")
    by_group: dict[str, list[float]] = {}
    for group in ("direct", "jitter"):
        chosen = [t for t in trials if t.group == group]
        errors = [e for t in chosen for e in t.errors_ms]
        by_group[group] = errors
        missed = sum(len(t.known - t.fired) for t in chosen)
        if not errors:
            print(f"  {group:6}  no buzzes")
            continue
        print(
            f"  {group:6}  {len(errors):>6}  {statistics.median(errors):6.1f}"
            f"  {percentile(errors, 0.95):6.1f}  {max(errors):6.1f}  {missed:>6}"
        )
    print("\nthe watches' clock-offset estimates, |estimate - true offset|, ms")
    for group in ("direct", "jitter"):
        estimates = [t.estimate_error_ms for t in trials if t.group == group]
        known = [e for e in estimates if e is not None]
        print(f"  {group:6}  median {statistics.median(known):6.1f}  max {max(known):6.1f}")


if __name__ == "__main__":
    main(int_arg(1, 12), int_arg(2, 4), int_arg(3, 5))
