"""`serve` under gevent: one worker holds many waiting watches and still answers everyone else."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from serve_support import (
    SKILL_ID,
    Launcher,
    Server,
    TrackedConnection,
    pair_watch,
    requests_transport,
    watch_get,
)

from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator

POLLS = 50
#: Far longer than the test takes: a poll that answers has been woken, not timed out.
WAIT_S = 25
USER = "amzn1.ask.account.SERVE-CONCURRENCY"


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.kill_all()


@pytest.fixture(scope="module")
def ca() -> DemoCA:
    """Minted now: the server checks signatures against the real clock."""
    return DemoCA.generate(now=datetime.now(UTC))


def serve_flags(tmp_path: Path, ca: DemoCA) -> list[str]:
    """Every product setting given as a flag, none through SCIATICA_* variables."""
    ca.install_chain(tmp_path / "certs")
    return [
        "--db",
        str(tmp_path / "coach.sqlite3"),
        "--skill-id",
        SKILL_ID,
        "--ca-file",
        str(ca.write_root(tmp_path / "root.pem")),
        "--cert-cache",
        str(tmp_path / "certs"),
    ]


def open_poll(launcher: Launcher, server: Server, token: str, etag: str) -> TrackedConnection:
    """Send a long poll and leave its answer unread."""
    conn = launcher.connect(server)
    conn.request(
        "GET",
        f"/api/v1/cues?wait={WAIT_S}",
        headers={"Authorization": f"Bearer {token}", "If-None-Match": etag},
    )
    return conn


def answered(conn: TrackedConnection) -> bool:
    """Whether the server has sent anything back on this connection yet."""
    assert conn.sock is not None
    readable, _, _ = select.select([conn.sock], [], [], 0)
    return bool(readable)


def log_ms(timestamp: str) -> int:
    return round(datetime.fromisoformat(timestamp).timestamp() * 1000)


def test_fifty_waiting_long_polls_leave_the_worker_free_to_answer(
    launcher: Launcher, tmp_path: Path, ca: DemoCA
) -> None:
    server = launcher.start(*serve_flags(tmp_path, ca))
    token = pair_watch(tmp_path / "coach.sqlite3", USER)
    etag = watch_get(server, token).headers["ETag"]

    polls = [open_poll(launcher, server, token, etag) for _ in range(POLLS)]
    health = launcher.connect(server)
    health.request("GET", "/healthz")
    assert health.getresponse().status == 200
    assert not [conn for conn in polls if answered(conn)], "a poll answered before its change"

    speaker = AlexaSimulator(requests_transport(server), ca, SKILL_ID, time.time, user_id=USER)
    assert speaker.says("StartRoutineIntent").status == 200
    answers = [conn.getresponse() for conn in polls]
    assert [answer.status for answer in answers] == [200] * POLLS
    assert {answer.getheader("ETag") for answer in answers} == {
        watch_get(server, token).headers["ETag"]
    }
    assert etag not in {answer.getheader("ETag") for answer in answers}

    # The server's own clock and log: every poll was in the server before /healthz was answered.
    healthz_done = max(
        log_ms(record["ts"]) for record in server.log_records() if record.get("path") == "/healthz"
    )
    received = [int(answer.getheader("Server-Receive-Ms")) for answer in answers]
    assert max(received) <= healthz_done + 1  # the log stamps whole milliseconds


def test_each_request_is_one_json_log_line_that_never_names_the_user(
    launcher: Launcher, tmp_path: Path, ca: DemoCA
) -> None:
    server = launcher.start(*serve_flags(tmp_path, ca))
    token = pair_watch(tmp_path / "coach.sqlite3", USER)
    assert watch_get(server, token, client_send_ms=123).status_code == 200
    speaker = AlexaSimulator(requests_transport(server), ca, SKILL_ID, time.time, user_id=USER)
    assert speaker.says("StartRoutineIntent").status == 200

    records = server.log_records()  # every line parses as JSON
    requests_logged = [record for record in records if "latency_ms" in record]
    assert [(record["method"], record["path"]) for record in requests_logged][-2:] == [
        ("GET", "/api/v1/cues"),
        ("POST", "/alexa"),
    ]
    for record in requests_logged:
        assert record["status"] == 200
        assert record["outcome"] == "ok"
        assert record["latency_ms"] >= 0
        assert len(record["request_id"]) == 32
    assert not [record for record in records if record.get("logger") == "gunicorn.access"]
    text = server.log()
    assert USER not in text
    assert token not in text
    assert "client_send_ms" not in text  # no query strings


def open_database_files(server: Server, db: Path) -> int:
    """How many descriptors the worker holds on the SQLite file: one per connection."""
    [worker] = server.worker_pids()
    fds = Path(f"/proc/{worker}/fd")
    return sum(1 for fd in fds.iterdir() if fd.resolve(strict=False) == db)


def test_requests_share_the_workers_sqlite_connection_instead_of_one_each(
    launcher: Launcher, tmp_path: Path, ca: DemoCA
) -> None:
    server = launcher.start(*serve_flags(tmp_path, ca))
    db = tmp_path / "coach.sqlite3"
    token = pair_watch(db, USER)
    assert watch_get(server, token).status_code == 200
    held = open_database_files(server, db)
    for _ in range(100):
        assert watch_get(server, token).status_code == 200
    assert open_database_files(server, db) == held
