"""`serve`'s flags: how they become gunicorn's settings and the app's, over the environment."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from sciatica_coach import cli, server
from sciatica_coach.app import coach_of
from sciatica_coach.server import ServeOptions, gunicorn_settings

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
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCIATICA_DB", str(tmp_path / "from-env.sqlite3"))
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
    assert not (tmp_path / "from-env.sqlite3").exists()


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
