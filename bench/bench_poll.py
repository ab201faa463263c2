"""Cue-poll throughput on the production server: a 200 and a 304 against a bare Flask endpoint.

Run from the repository root:

    python -m bench.bench_poll [seconds-per-round=3] [rounds=7] [connections=32] [--python]

One `sciatica-coach serve` server (gunicorn, one gevent worker, a temporary SQLite file, its
JSON request log on) serves all three, and `/bench/bare` is a route added to the product app
itself, so it pays the same request log and middleware as the poll: the ratios are the cost
of the poll's own work (bearer token, the run from SQLite, cues and their ETag). The three
answers:

- `200`: GET /api/v1/cues with the token and no ETag: the whole payload, every cue;
- `304`: the same with a matching If-None-Match (no wait): what most polls get;
- `bare`: GET /bench/bare, a constant small JSON.

Load comes from wrk (Debian's `wrk` package) with a generated Lua script that adds the
Authorization and If-None-Match headers and prints its figures as JSON; if wrk is not on the
PATH (or with --python) a bounded asyncio generator does the same job, more slowly, and the
output says which one ran. The three take turns, round by round, so each ratio compares
figures taken under the same machine load. Besides requests/s and latency percentiles it
prints the worker's own CPU time per request (from /proc): on a machine other work shares,
throughput and latency follow the CPU the worker is given, but CPU per request stays what
an answer costs. Everything talks to 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from bench.support import (
    HttpConnection,
    cpu_seconds,
    exchange,
    http_request,
    machine,
    percentile,
    serve_wrapped,
    start_bench_server,
    stop_server,
    worker_pid,
)

USER = "amzn1.ask.account.BENCH-POLL"
SKILL_ID = "amzn1.ask.skill.bench-poll"
KINDS = ("bare", "200", "304")
LATENCY_FIELDS = ("p50_ms", "p90_ms", "p99_ms")
SERVE = (sys.executable, "-m", "bench.bench_poll", "serve")
#: wrk's threads: one per core on the 2-core machine the notes were taken on.
WRK_THREADS = 2
#: wrk counts an answer slower than this as an error and leaves it out of its percentiles.
WRK_TIMEOUT_S = 10
#: Longest one round may run past its planned seconds before it is killed.
ROUND_SLACK_S = 20.0

_LUA = """\
wrk.method = "GET"
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, '
      .. '"p90_us": %d, "p99_us": %d, "max_us": %d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


# -- the server side (runs in the child process) -----------------------------------------------


def with_bare_route(app: Flask) -> Flask:
    """The product app plus the floor: a constant JSON on the same app, log and middleware."""

    @app.get("/bench/bare")
    def bare() -> ResponseReturnValue:
        return jsonify(ok=True)

    return app


def serve_child(argv: list[str]) -> int:
    """`python -m bench.bench_poll serve --port P --db D --skill-id S`: serve, plus /bench/bare."""
    return serve_wrapped(argv, with_bare_route)


# -- set-up -----------------------------------------------------------------------------------


def prepare(db: Path) -> str:
    """A paired watch and a run started with its hold far ahead (every cue pending)."""
    from shared.clock import SystemClock
    from shared.pairing.service import PairingService
    from shared.routine.coach import Coach
    from shared.routine.definition import load_routine
    from shared.routine.engine import Event, RoutineEngine
    from shared.stores.sqlite import SQLiteStore
    from shared.timing import SpeechTimingModel

    store = SQLiteStore(db)
    try:
        pairing = PairingService(store, SystemClock())
        started = pairing.start()
        pairing.bind(USER, started.user_code)
        token = pairing.exchange(started.device_code).access_token
        coach = Coach(store, RoutineEngine(load_routine(), SpeechTimingModel()), SystemClock())
        coach.apply(USER, Event.START, lead_in=600.0)
        return token
    finally:
        store.close()


def start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    return start_bench_server(SERVE, tmp, SKILL_ID)


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    return asyncio.run(exchange(port, http_request("GET", path, headers)))


# -- one round --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Round:
    """One load generator run against one answer."""

    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int
    #: The worker's own CPU time per request (user + system), which a busy machine slows
    #: far less than it slows throughput: the load-proof measure of what an answer costs.
    cpu_us: float = 0.0


def wrk_round(
    wrk: str, url: str, headers: dict[str, str], seconds: int, connections: int, tmp: Path
) -> Round:
    """One wrk run with `headers` on every request; its figures from the Lua done() hook."""
    lines = [f"wrk.headers[ [==[{name}]==] ] = [==[{value}]==]" for name, value in headers.items()]
    script = tmp / "bench_poll.lua"
    script.write_text(_LUA.format(headers="\n".join(lines)))
    command = [wrk, f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "-s", str(script)]
    command.append(f"--timeout={WRK_TIMEOUT_S}s")  # so slow answers count in the percentiles
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + ROUND_SLACK_S
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    [line] = [line for line in done.stdout.splitlines() if line.startswith("WRKJSON ")]
    figures = json.loads(line.removeprefix("WRKJSON "))
    return Round(
        requests_per_s=figures["requests"] / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        requests=figures["requests"],
        errors=figures["errors"],
    )


def python_round(
    port: int, path: str, headers: dict[str, str], expect: int, seconds: int, connections: int
) -> Round:
    """The fallback: `connections` keep-alive clients on asyncio, each sending back to back."""
    request = http_request("GET", path, headers)
    latencies: list[float] = []
    errors = 0

    async def client(stop_at: float) -> None:
        nonlocal errors
        connection = await HttpConnection.open(port)
        try:
            while time.perf_counter() < stop_at:
                start = time.perf_counter()
                connection.send(request)
                status, _, _ = await connection.response()
                latencies.append(time.perf_counter() - start)
                errors += status != expect
        finally:
            connection.close()

    async def run() -> float:
        start = time.perf_counter()
        clients = [client(start + seconds) for _ in range(connections)]
        await asyncio.wait_for(asyncio.gather(*clients), seconds + ROUND_SLACK_S)
        return time.perf_counter() - start

    took = asyncio.run(run())
    ms = [latency * 1000 for latency in latencies]
    return Round(
        requests_per_s=len(ms) / took,
        p50_ms=percentile(ms, 0.50),
        p90_ms=percentile(ms, 0.90),
        p99_ms=percentile(ms, 0.99),
        max_ms=max(ms),
        requests=len(ms),
        errors=errors,
    )


# -- the run ----------------------------------------------------------------------------------


def main(
    seconds: int = 3, rounds: int = 7, connections: int = 32, use_python: bool = False
) -> None:
    wrk = None if use_python else shutil.which("wrk")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        token = prepare(tmp / "bench.sqlite3")
        process, port = start_server(tmp)
        try:
            auth = {"Authorization": f"Bearer {token}"}
            status, headers, body = _get(port, "/api/v1/cues", auth)
            if status != 200:
                raise RuntimeError(f"the first poll answered {status}")
            conditional = {**auth, "If-None-Match": headers["etag"]}
            if _get(port, "/api/v1/cues", conditional)[0] != 304:
                raise RuntimeError("a poll with the current ETag was not answered 304")
            cues = len(json.loads(body)["cues"])
            plan = {
                "bare": ("/bench/bare", {}, 200),
                "200": ("/api/v1/cues", auth, 200),
                "304": ("/api/v1/cues", conditional, 304),
            }
            worker = worker_pid(process)
            figures: dict[str, list[Round]] = {kind: [] for kind in KINDS}
            for number in range(rounds + 1):  # round 0 warms up every path and is dropped
                for kind, (path, sent, expect) in plan.items():
                    length = 1 if number == 0 else seconds
                    cpu_before = cpu_seconds(worker)
                    if wrk:
                        url = f"http://127.0.0.1:{port}{path}"
                        result = wrk_round(wrk, url, sent, length, connections, tmp)
                    else:
                        result = python_round(port, path, sent, expect, length, connections)
                    cpu = cpu_seconds(worker) - cpu_before
                    if number:
                        figures[kind].append(replace(result, cpu_us=cpu / result.requests * 1e6))
        finally:
            stop_server(process)
        logged = sum(1 for _ in (tmp / "server.log").open("rb"))
    report(wrk, seconds, rounds, connections, len(body), cues, figures, logged)


def report(
    wrk: str | None,
    seconds: int,
    rounds: int,
    connections: int,
    payload_bytes: int,
    cues: int,
    figures: dict[str, list[Round]],
    logged: int,
) -> None:
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("gunicorn", "gevent", "flask")
    )
    print(f"machine: {machine()}")
    print(f"server: sciatica-coach serve, one gevent worker, JSON request log on ({versions})")
    if wrk:
        version = " ".join(
            subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout.split()[:2]
        )
        print(f"load: {version}, {WRK_THREADS} threads, {connections} keep-alive connections")
    else:
        why = "--python given" if shutil.which("wrk") else "wrk not found (apt-get install wrk)"
        print(
            f"load: {why}, so the bounded Python generator: asyncio, "
            f"{connections} keep-alive connections; it tops out before the server does, so its "
            "ratios understate the gaps"
        )
    print(
        f"{rounds} rounds of {seconds} s per answer, taking turns; "
        f"the 200 carries {payload_bytes} B, {cues} cues"
    )
    bare = [r.requests_per_s for r in figures["bare"]]
    header = "  ".join(f"{name:>6}" for name in ("p50 ms", "p90 ms", "p99 ms", "max ms"))
    print(
        f"\n  {'answer':6}  {'req/s':>7}  {header}  {'CPU us':>6}  "
        "req/s ratio to bare: median (each round)"
    )
    medians = {}
    cpu = {}
    for kind in KINDS:
        taken = figures[kind]
        medians[kind] = statistics.median(r.requests_per_s for r in taken)
        cpu[kind] = statistics.median(r.cpu_us for r in taken)
        ratios = [r.requests_per_s / b for r, b in zip(taken, bare, strict=True)]
        latencies = [statistics.median(getattr(r, f) for r in taken) for f in LATENCY_FIELDS]
        print(
            f"  {kind:6}  {medians[kind]:7.0f}  "
            + "  ".join(f"{ms:6.2f}" for ms in latencies)
            + f"  {max(r.max_ms for r in taken):6.1f}  {cpu[kind]:6.0f}"
            + f"  {statistics.median(ratios):.2f}x ({', '.join(f'{x:.2f}' for x in ratios)})"
        )
    print(
        f"\n  ratio 200/bare {medians['200'] / medians['bare']:.2f}x, "
        f"304/bare {medians['304'] / medians['bare']:.2f}x (of the median req/s)"
    )
    print(
        f"  worker CPU per request: 200 {cpu['200'] / cpu['bare']:.2f}x bare, "
        f"304 {cpu['304'] / cpu['bare']:.2f}x bare (medians; the load-proof figure)"
    )
    errors = sum(r.errors for taken in figures.values() for r in taken)
    total = sum(r.requests for taken in figures.values() for r in taken)
    print(f"  {total} requests measured, {errors} failed or unexpected; {logged} server log lines")


def _args() -> tuple[list[int], bool]:
    flags = [arg for arg in sys.argv[1:] if arg.startswith("--")]
    numbers = [int(arg) for arg in sys.argv[1:] if not arg.startswith("--")]
    return numbers[:3], "--python" in flags


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        sys.exit(serve_child(sys.argv[2:]))
    numbers, use_python = _args()
    main(*numbers, use_python=use_python)
