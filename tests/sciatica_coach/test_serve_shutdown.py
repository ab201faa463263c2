"""Stopping `serve`: SIGTERM wakes the waiting watches, lets them answer, then exits cleanly."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_support import (
    HTTP_TIMEOUT_S,
    SKILL_ID,
    Launcher,
    Server,
    TrackedConnection,
    pair_watch,
    watch_get,
)

from sciatica_coach.server import GRACEFUL_TIMEOUT_S
from shared.notify.local import LocalNotifier

USER = "amzn1.ask.account.SERVE-SHUTDOWN"

# -- the notifier ------------------------------------------------------------------------------


def test_closing_the_notifier_wakes_every_waiter() -> None:
    notifier = LocalNotifier()
    notifier.publish(USER, 3)
    woke: list[bool] = []
    waiting = [
        threading.Thread(target=lambda: woke.append(notifier.wait(USER, 3, timeout=60)))
        for _ in range(3)
    ]
    for thread in waiting:
        thread.start()
    notifier.close()
    for thread in waiting:
        thread.join(timeout=HTTP_TIMEOUT_S)
    assert woke == [True, True, True]
    assert notifier.closed


def test_a_closed_notifier_answers_later_waits_at_once() -> None:
    notifier = LocalNotifier()
    notifier.close()
    assert notifier.wait("anyone", 0, timeout=60) is True


def test_a_new_notifier_is_open() -> None:
    assert LocalNotifier().closed is False


# -- the server --------------------------------------------------------------------------------


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.kill_all()


def waiting_poll(launcher: Launcher, server: Server, token: str, wait_s: int) -> TrackedConnection:
    """A long poll that is waiting in the server when this returns.

    A gevent worker accepts connections in order and runs each request until it blocks, so
    once a /healthz sent afterwards is answered, the poll before it is waiting.
    """
    etag = watch_get(server, token).headers["ETag"]
    conn = launcher.connect(server)
    conn.request(
        "GET",
        f"/api/v1/cues?wait={wait_s}",
        headers={"Authorization": f"Bearer {token}", "If-None-Match": etag},
    )
    health = launcher.connect(server)
    health.request("GET", "/healthz")
    assert health.getresponse().status == 200
    health.close()  # an idle keep-alive connection would hold the drain for KEEPALIVE_S
    return conn


def start(launcher: Launcher, tmp_path: Path) -> tuple[Server, str]:
    db = tmp_path / "coach.sqlite3"
    server = launcher.start("--db", str(db), "--skill-id", SKILL_ID)
    return server, pair_watch(db, USER)


def test_sigterm_answers_a_waiting_poll_at_once_then_exits_zero(
    launcher: Launcher, tmp_path: Path
) -> None:
    server, token = start(launcher, tmp_path)
    # Reading the answer gives up after HTTP_TIMEOUT_S, well before the poll's own 25 s.
    poll = waiting_poll(launcher, server, token, wait_s=25)
    server.signal(signal.SIGTERM)
    answer = poll.getresponse()
    assert answer.status == 304  # the run as it stands: unchanged, so the watch keeps its own
    assert server.process.wait(timeout=GRACEFUL_TIMEOUT_S + HTTP_TIMEOUT_S) == 0
    messages = [record["msg"] for record in server.log_records()]
    assert "stopping: waking the long polls this worker holds" in messages
    assert "Worker graceful timeout" not in " ".join(messages)


def test_sigterm_closes_the_answered_polls_connection_so_the_watch_asks_elsewhere(
    launcher: Launcher, tmp_path: Path
) -> None:
    server, token = start(launcher, tmp_path)
    poll = waiting_poll(launcher, server, token, wait_s=25)
    before = watch_get(server, token)  # answered before the stop: the connection may stay
    assert before.headers.get("Connection", "keep-alive") == "keep-alive"
    server.signal(signal.SIGTERM)
    answer = poll.getresponse()
    answer.read()
    assert answer.getheader("Connection") == "close"
    assert answer.will_close
    assert poll.sock is None  # http.client closed its end, as the server asked
    assert server.process.wait(timeout=GRACEFUL_TIMEOUT_S + HTTP_TIMEOUT_S) == 0
