"""In-process latency of an intent through POST /alexa, verification on, vs a bare Flask echo.

Run from the repository root: python -m bench.bench_alexa [runs]
Both are measured in the same run through Flask's test client, alternating, so the ratio
holds on a shared, noisy machine even when the absolute numbers drift.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from bench.support import percentile
from sciatica_coach import create_app
from sciatica_coach.app import services_of
from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock

SKILL_ID = "amzn1.ask.skill.bench"


def bare_echo_app() -> Flask:
    """The floor: Flask parsing JSON and answering JSON, nothing else."""
    app = Flask("echo")

    @app.post("/echo")
    def echo() -> ResponseReturnValue:
        return jsonify(request.get_json())

    return app


def main(runs: int = 1000) -> None:
    now = datetime.now(UTC)
    clock = ManualClock(now.timestamp())
    ca = DemoCA.generate(now=now)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "certs"
        ca.install_chain(cache)
        app = create_app(
            {
                "DATABASE": str(Path(tmp) / "bench.sqlite3"),
                "CLOCK": clock,
                "SKILL_ID": SKILL_ID,
                "ALEXA_CA_FILE": str(ca.write_root(Path(tmp) / "root.pem")),
                "ALEXA_CERT_CACHE": str(cache),
                "DEV_SKIP_VERIFY": False,
            }
        )
        client = app.test_client()
        echo_client = bare_echo_app().test_client()

        def capture(body: bytes, headers: dict[str, str]) -> tuple[int, object]:
            response = client.post("/alexa", data=body, headers=headers)
            return response.status_code, response.get_json()

        speaker = AlexaSimulator(capture, ca, SKILL_ID, clock.now)
        speaker.says("StartRoutineIntent")  # warm-up: user row, chain cache, imports
        envelope = speaker._envelope("intent")
        envelope["request"]["intent"] = {"name": "TimeLeftIntent", "confirmationStatus": "NONE"}
        body = json.dumps(envelope).encode()
        headers = ca.sign(body)

        def skill_call() -> None:
            response = client.post("/alexa", data=body, headers=headers)
            assert response.status_code == 200, response.get_data()

        def echo_call() -> None:
            response = echo_client.post("/echo", data=body, content_type="application/json")
            assert response.status_code == 200

        skill_ms, echo_ms = measure_pair(skill_call, echo_call, runs)
        services_of(app).coach.store.close()

    print(f"POST /alexa (TimeLeftIntent, verified, cached chain), {runs} runs")
    for name, samples in (("skill", skill_ms), ("echo", echo_ms)):
        median, p99 = statistics.median(samples), percentile(samples, 0.99)
        print(f"  {name:5} median {median:.3f} ms, p99 {p99:.3f} ms")
    median_ratio = statistics.median(skill_ms) / statistics.median(echo_ms)
    p99_ratio = percentile(skill_ms, 0.99) / percentile(echo_ms, 0.99)
    print(f"  ratio skill/echo: median {median_ratio:.1f}x, p99 {p99_ratio:.1f}x")


def measure_pair(
    first: Callable[[], None], second: Callable[[], None], runs: int
) -> tuple[list[float], list[float]]:
    """Alternate the two calls so both see the same machine load."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(runs):
        for call, samples in ((first, a), (second, b)):
            start = time.perf_counter()
            call()
            samples.append((time.perf_counter() - start) * 1000)
    return a, b


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
