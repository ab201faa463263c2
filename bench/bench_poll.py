"""Cue-poll throughput over loopback: a full 200 answer and a 304, each against a bare endpoint.

Run from the repository root: python -m bench.bench_poll [requests-per-round] [rounds]

One app on werkzeug's threaded server on 127.0.0.1 serves all three: GET /api/v1/cues with no
ETag (the whole payload, every cue with its patterns), the same with a matching If-None-Match
(304, no body), and a bare Flask route added to the same app that returns a small JSON. One
keep-alive client takes turns, round by round, so the ratios hold on a shared, noisy machine
even when absolute figures drift. The loops are bounded; nothing leaves the machine.
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests
from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.serving import make_server

from sciatica_coach import create_app
from shared.coach import Coach
from shared.engine import Event
from shared.pairing import PairingService

USER = "amzn1.ask.account.BENCH"


def add_bare_route(app: Flask) -> None:
    """The floor: the same server and Flask stack answering a constant small JSON."""

    @app.get("/bench/bare")
    def bare() -> ResponseReturnValue:
        return jsonify(ok=True)


def paired_token(app: Flask) -> str:
    pairing: PairingService = app.extensions["sciatica_pairing"]
    start = pairing.start()
    pairing.bind(USER, start.user_code)
    return pairing.exchange(start.device_code).access_token


def throughput(call: Callable[[], None], requests_per_round: int) -> float:
    """Requests per second for one bounded burst of sequential calls."""
    start = time.perf_counter()
    for _ in range(requests_per_round):
        call()
    return requests_per_round / (time.perf_counter() - start)


def main(requests_per_round: int = 400, rounds: int = 5) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access line per request
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE": str(Path(tmp) / "bench.sqlite3"), "DEV_SKIP_VERIFY": True})
        add_bare_route(app)
        coach: Coach = app.extensions["sciatica_coach"]
        auth = {"Authorization": f"Bearer {paired_token(app)}"}
        coach.apply(USER, Event.START, lead_in=600.0)  # a hold far ahead: cues stay pending

        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}"
        session = requests.Session()
        try:
            first = session.get(f"{base}/api/v1/cues", headers=auth, timeout=10)
            etag = first.headers["ETag"]
            payload_bytes = len(first.content)
            conditional = {**auth, "If-None-Match": etag}

            def full() -> None:
                response = session.get(f"{base}/api/v1/cues", headers=auth, timeout=10)
                assert response.status_code == 200

            def not_modified() -> None:
                response = session.get(f"{base}/api/v1/cues", headers=conditional, timeout=10)
                assert response.status_code == 304

            def bare() -> None:
                assert session.get(f"{base}/bench/bare", timeout=10).status_code == 200

            loopback = measure(
                {"bare": bare, "200": full, "304": not_modified}, requests_per_round, rounds
            )
            in_process = measure(in_process_calls(app, auth, etag), requests_per_round, rounds)
        finally:
            session.close()
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()
            coach.store.close()

    print(f"GET /api/v1/cues: {rounds} rounds of {requests_per_round} requests per answer")
    print(f"  200 payload: {payload_bytes} bytes, {len(first.json()['cues'])} cues")
    report("over loopback (werkzeug threaded server, one keep-alive client)", loopback)
    report("in process (Flask test client, one thread)", in_process)


def in_process_calls(app: Flask, auth: dict[str, str], etag: str) -> dict[str, Callable[[], None]]:
    """The same three answers without sockets or a thread per request."""
    client = app.test_client()
    conditional = {**auth, "If-None-Match": etag}

    def full() -> None:
        assert client.get("/api/v1/cues", headers=auth).status_code == 200

    def not_modified() -> None:
        assert client.get("/api/v1/cues", headers=conditional).status_code == 304

    def bare() -> None:
        assert client.get("/bench/bare").status_code == 200

    return {"bare": bare, "200": full, "304": not_modified}


def measure(
    calls: dict[str, Callable[[], None]], requests_per_round: int, rounds: int
) -> dict[str, list[float]]:
    """Throughput per round for each call, taking turns so all see the same machine load."""
    for call in calls.values():  # warm-up: connections, imports, SQLite pages
        throughput(call, 20)
    figures: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            figures[name].append(throughput(call, requests_per_round))
    return figures


def report(title: str, figures: dict[str, list[float]]) -> None:
    print(f"  {title}:")
    bare_median = statistics.median(figures["bare"])
    for name, label in (("bare", "bare Flask JSON"), ("200", "poll, 200"), ("304", "poll, 304")):
        median = statistics.median(figures[name])
        print(
            f"    {label:16} median {median:7.0f} req/s ({1000 / median:.2f} ms each), "
            f"{median / bare_median:.2f}x bare "
            f"(rounds {min(figures[name]):.0f} to {max(figures[name]):.0f})"
        )


if __name__ == "__main__":
    args = [int(arg) for arg in sys.argv[1:3]]
    main(*args)
