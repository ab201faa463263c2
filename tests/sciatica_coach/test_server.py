"""`serve`'s flags: how they become gunicorn's settings and the app's, over the environment."""

from __future__ import annotations

import logging
import select
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from sciatica_coach import cli, server
from sciatica_coach.app import coach_of
from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator
from sciatica_coach.server import GRACEFUL_TIMEOUT_S, ServeOptions, gunicorn_settings
from shared.notify.local import LocalNotifier
from tests.support.serve import (
    HTTP_TIMEOUT_S,
    SKILL_ID,
    Launcher,
    Server,
    TrackedConnection,
    pair_watch,
    requests_transport,
    watch_get,
)

AppFactory = Callable[..., Flask]


def test_by_default_one_gevent_worker_serves_loopback() -> None:
    settings = gunicorn_settings(ServeOptions())
    assert settings["bind"] == ["127.0.0.1:8000"]
    assert settings["workers"] == 1
    assert settings["worker_class"] == "gevent"
    assert settings["worker_connections"] >= 2000


def test_the_app_is_built_in_the_worker_after_gevent_patches() -> None:
    assert gunicorn_settings(ServeOptions())["preload_app"] is False


def test_gunicorns_access_log_is_off_because_ours_replaces_it() -> None:
    settings = gunicorn_settings(ServeOptions())
    assert settings["accesslog"] is None
    loggers = settings["logconfig_dict"]["loggers"]
    assert loggers["gunicorn.access"]["propagate"] is False
    assert loggers["gunicorn.error"]["propagate"] is True


def test_stopping_waits_the_graceful_timeout_and_hooks_sigterm() -> None:
    settings = gunicorn_settings(ServeOptions())
    assert settings["graceful_timeout"] == server.GRACEFUL_TIMEOUT_S
    assert callable(settings["post_worker_init"])
    assert callable(settings["worker_int"])


def test_workers_and_address_come_from_the_flags() -> None:
    settings = gunicorn_settings(ServeOptions(host="0.0.0.0", port=9000, workers=3))
    assert settings["bind"] == ["0.0.0.0:9000"]
    assert settings["workers"] == 3


def test_an_ipv6_host_is_bracketed() -> None:
    assert ServeOptions(host="::1", port=8000).bind == "[::1]:8000"


def test_only_given_flags_override_the_app_settings() -> None:
    assert ServeOptions().app_config() == {}
    given = ServeOptions(db="/x.sqlite3", skill_id="amzn1.ask.skill.x", ca_file="/ca.pem")
    assert given.app_config() == {
        "DATABASE": "/x.sqlite3",
        "SKILL_ID": "amzn1.ask.skill.x",
        "ALEXA_CA_FILE": "/ca.pem",
    }


def test_flags_win_over_the_environment(
    make_app: AppFactory,
    app_config: dict[str, Any],
    env_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCIATICA_SKILL_ID", "amzn1.ask.skill.from-env")
    monkeypatch.setenv("SCIATICA_ALEXA_CA_FILE", app_config["ALEXA_CA_FILE"])
    monkeypatch.setenv("SCIATICA_ALEXA_CERT_CACHE", str(tmp_path / "env-certs"))
    options = ServeOptions(
        db=str(tmp_path / "from-flag.sqlite3"),
        skill_id=app_config["SKILL_ID"],
        cert_cache=app_config["ALEXA_CERT_CACHE"],
    )
    app = make_app(options.app_config())
    assert coach_of(app).store.path == tmp_path / "from-flag.sqlite3"
    assert app.config["SKILL_ID"] == app_config["SKILL_ID"]
    assert app.config["ALEXA_CERT_CACHE"] == app_config["ALEXA_CERT_CACHE"]
    assert app.config["ALEXA_CA_FILE"] == app_config["ALEXA_CA_FILE"]  # no flag: from the env
    assert not env_db.exists()


def test_serve_command_passes_every_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[ServeOptions] = []

    def fake_serve(options: ServeOptions) -> int:
        served.append(options)
        return 0

    monkeypatch.setattr(server, "serve", fake_serve)
    argv = ["serve", "--workers", "2", "--db", "/d", "--skill-id", "s"]
    argv += ["--ca-file", "/ca", "--cert-cache", "/cc"]
    assert cli.main(argv) == 0
    assert served == [
        ServeOptions(workers=2, db="/d", skill_id="s", ca_file="/ca", cert_cache="/cc")
    ]


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_serve_refuses_fewer_than_one_worker(
    workers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "--workers", workers]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The settings serve() would run gunicorn with, without running it or touching logging."""
    settings: list[dict[str, Any]] = []
    monkeypatch.setattr(server.logs, "configure", lambda: None)
    monkeypatch.setattr(server.CoachServer, "run", lambda self: settings.append(self.settings))
    return settings


def test_more_workers_without_a_shared_notifier_are_warned_about(
    ran: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    assert server.serve(ServeOptions(workers=2)) == 0
    assert ran[0]["workers"] == 2
    assert "set SCIATICA_REDIS_URL or run one worker" in caplog.text


def test_more_workers_with_redis_are_not_warned_about(
    ran: list[dict[str, Any]], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCIATICA_REDIS_URL", "redis://127.0.0.1:6379/0")
    assert server.serve(ServeOptions(workers=2)) == 0
    assert "SCIATICA_REDIS_URL" not in caplog.text


def test_one_worker_is_not_warned_about(
    ran: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    assert server.serve(ServeOptions()) == 0
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


# -- `serve` under gevent: one worker holds many waiting watches and still answers everyone else ---


POLLS = 50
#: Far longer than the test takes: a poll that answers has been woken, not timed out.
WAIT_S = 25
USER = "amzn1.ask.account.SERVE"


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


# -- Stopping `serve`: SIGTERM wakes the waiting watches, lets them answer, then exits cleanly -----


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


def test_the_notifier_reports_the_waits_it_holds_for_the_health_check() -> None:
    notifier = LocalNotifier()
    assert notifier.stats() == {"waiting": 0}
    waiting = threading.Thread(target=notifier.wait, args=(USER, 0, 60))
    waiting.start()
    deadline = time.monotonic() + HTTP_TIMEOUT_S
    while notifier.stats() != {"waiting": 1} and time.monotonic() < deadline:
        time.sleep(0.01)
    assert notifier.stats() == {"waiting": 1}
    notifier.close()
    waiting.join(timeout=HTTP_TIMEOUT_S)
    assert notifier.stats() == {"waiting": 0}


# -- the server --------------------------------------------------------------------------------


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
