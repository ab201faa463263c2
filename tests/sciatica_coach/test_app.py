"""The app factory: a configured app from a mapping or the environment, answering in JSON."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs
import pytest
from flask import Flask

from sciatica_coach.app import coach_of
from sciatica_coach.config import DEFAULT_MAX_BODY, ConfigError, from_env
from shared.clock import ManualClock
from shared.routine.definition import RoutineError
from shared.stores.sqlite import SQLiteStore

AppFactory = Callable[..., Flask]


def write_routine(tmp_path: Path, **changes: Any) -> Path:
    """The packaged routine as a JSON file, with top-level `changes`."""
    text = (
        resources.files("shared.routine").joinpath("routines", "sciatica.toml").read_text("utf-8")
    )
    data = {**tomllib.loads(text), **changes}
    path = tmp_path / "routine.json"
    path.write_text(json.dumps(data), "utf-8")
    return path


def test_healthz_answers_ok_and_touches_the_database(
    make_app: AppFactory, app_config: dict[str, Any]
) -> None:
    app = make_app(app_config)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    assert response.get_json() == {
        "status": "ok",
        "routine": "sciatica-release-and-stretch",
        "notifier": {"waiting": 0},
    }
    assert Path(app_config["DATABASE"]).exists()


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/no-such-page", 404, "not_found"),
        ("POST", "/healthz", 405, "method_not_allowed"),
    ],
)
def test_http_errors_are_answered_as_json(
    make_app: AppFactory,
    app_config: dict[str, Any],
    method: str,
    path: str,
    status: int,
    error: str,
) -> None:
    response = make_app(app_config).test_client().open(path, method=method)
    assert response.status_code == status
    assert response.is_json
    body = response.get_json()
    assert body["error"] == error
    assert body["message"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_the_given_clock_and_store_are_used(
    make_app: AppFactory, app_config: dict[str, Any], tmp_path: Path, clock: ManualClock
) -> None:
    store = SQLiteStore(tmp_path / "given.sqlite3")
    app = make_app({**app_config, "STORE": store})
    assert coach_of(app).store is store
    assert coach_of(app).clock is clock


def test_settings_come_from_the_environment(
    make_app: AppFactory,
    app_config: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "env" / "coach.sqlite3"
    env = {
        "SCIATICA_DB": str(db),
        "SCIATICA_ROUTINE": str(write_routine(tmp_path, first_side="right")),
        "SCIATICA_SPEECH_WPM": "200",
        "SCIATICA_VOICE_START_DELAY_S": "0.5",
        "SCIATICA_MAX_BODY": "4096",
        "SCIATICA_SKILL_ID": app_config["SKILL_ID"],
        "SCIATICA_ALEXA_CA_FILE": app_config["ALEXA_CA_FILE"],
        "SCIATICA_ALEXA_CERT_CACHE": app_config["ALEXA_CERT_CACHE"],
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = make_app()
    coach = coach_of(app)
    assert coach.store.path == db
    assert coach.engine.timing.words_per_minute == 200.0
    assert coach.engine.timing.start_delay_s == 0.5
    assert coach.routine.steps[0].id == "release-right"
    assert app.config["MAX_CONTENT_LENGTH"] == 4096
    assert app.config["SKILL_ID"] == app_config["SKILL_ID"]
    assert app.test_client().get("/healthz").status_code == 200
    assert db.exists()


def test_given_config_wins_over_the_environment(
    make_app: AppFactory,
    app_config: dict[str, Any],
    env_db: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCIATICA_SPEECH_WPM", "90")
    app = make_app({**app_config, "SPEECH_WPM": 180.0})
    assert coach_of(app).store.path == Path(app_config["DATABASE"])
    assert coach_of(app).engine.timing.words_per_minute == 180.0
    assert not env_db.exists()


def test_a_broken_routine_file_stops_the_app_from_starting(
    make_app: AppFactory, app_config: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(RoutineError, match="hold_seconds"):
        make_app({**app_config, "ROUTINE_FILE": str(write_routine(tmp_path, hold_seconds=0))})


def test_environment_defaults_work_locally(tmp_path: Path) -> None:
    settings = from_env({"SCIATICA_DB": str(tmp_path / "x.sqlite3")})
    assert settings["DATABASE"] == str(tmp_path / "x.sqlite3")
    assert settings["ROUTINE_FILE"] is None
    assert settings["SKILL_ID"] == ""
    assert settings["DEV_SKIP_VERIFY"] is False
    assert settings["SPEECH_WPM"] == 160.0
    assert settings["VOICE_START_DELAY_S"] == 0.3
    assert settings["MAX_CONTENT_LENGTH"] == DEFAULT_MAX_BODY


@pytest.mark.parametrize(
    ("value", "on"),
    [("1", True), ("true", True), (" Yes ", True), ("on", True), ("0", False), ("no", False)],
)
def test_dev_skip_verify_is_a_yes_no_flag(value: str, on: bool) -> None:
    assert from_env({"SCIATICA_DEV_SKIP_VERIFY": value})["DEV_SKIP_VERIFY"] is on


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("SCIATICA_SPEECH_WPM", "nan", "finite"),
        ("SCIATICA_SPEECH_WPM", "inf", "finite"),
        ("SCIATICA_SPEECH_WPM", "fast", "not a number"),
        ("SCIATICA_SPEECH_WPM", "0", "(0, 1000]"),
        ("SCIATICA_SPEECH_WPM", "-160", "(0, 1000]"),
        ("SCIATICA_SPEECH_WPM", "100000", "(0, 1000]"),
        ("SCIATICA_VOICE_START_DELAY_S", "NaN", "finite"),
        ("SCIATICA_VOICE_START_DELAY_S", "-0.1", "[0, 10]"),
        ("SCIATICA_VOICE_START_DELAY_S", "0.3s", "not a number"),
        ("SCIATICA_WATCH_LEAD_IN_S", "nan", "finite"),
        ("SCIATICA_WATCH_LEAD_IN_S", "3601", "[0, 60]"),
        ("SCIATICA_MAX_BODY", "64k", "not a whole number"),
        ("SCIATICA_MAX_BODY", "4096.5", "not a whole number"),
        ("SCIATICA_MAX_BODY", "0", "between 1024"),
        ("SCIATICA_CLOCK_SPEED", "nan", "finite"),
        ("SCIATICA_CLOCK_SPEED", "0", "(0, 1e+06]"),
        ("SCIATICA_CLOCK_SPEED", "ten", "not a number"),
    ],
)
def test_a_setting_that_cannot_be_used_is_refused_naming_the_variable(
    name: str, value: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        from_env({name: value})
    assert caught.value.name == name
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{name}={value!r}: ")


def test_a_bad_anchor_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="SCIATICA_CLOCK_ANCHOR"):
        from_env({"SCIATICA_CLOCK_SPEED": "10", "SCIATICA_CLOCK_ANCHOR": "nan"})


def test_a_nan_speech_rate_in_the_environment_stops_the_app_from_starting(
    make_app: AppFactory, app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, every start of a routine failed instead; now the server never comes up.
    monkeypatch.setenv("SCIATICA_SPEECH_WPM", "nan")
    with pytest.raises(ConfigError, match="SCIATICA_SPEECH_WPM"):
        make_app(app_config)


@pytest.mark.parametrize("name", ["SCIATICA_SPEECH_WPM", "SCIATICA_MAX_BODY"])
def test_a_blank_setting_falls_back_to_its_default(name: str) -> None:
    assert from_env({name: "  "}) == from_env({})


def test_numbers_in_range_are_read(tmp_path: Path) -> None:
    settings = from_env(
        {
            "SCIATICA_SPEECH_WPM": "1000",
            "SCIATICA_VOICE_START_DELAY_S": "0",
            "SCIATICA_WATCH_LEAD_IN_S": "2.5",
            "SCIATICA_MAX_BODY": "1024",
            "SCIATICA_CLOCK_SPEED": "60",
            "SCIATICA_CLOCK_ANCHOR": "1780000000.5",
        }
    )
    assert settings["SPEECH_WPM"] == 1000.0
    assert settings["VOICE_START_DELAY_S"] == 0.0
    assert settings["WATCH_LEAD_IN_S"] == 2.5
    assert settings["MAX_CONTENT_LENGTH"] == 1024
    assert (settings["CLOCK"].speed, settings["CLOCK"].anchor) == (60.0, 1780000000.5)


def test_a_given_mapping_without_a_database_ignores_the_process_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SCIATICA_DB", str(tmp_path / "from-os-environ.sqlite3"))
    database = Path(from_env({})["DATABASE"])
    assert database.name == "coach.sqlite3"
    assert database.parent == Path(platformdirs.user_data_dir("sciatica-coach", appauthor=False))
    # Without a mapping, the process environment is the mapping.
    assert from_env()["DATABASE"] == str(tmp_path / "from-os-environ.sqlite3")


# -- behind a reverse proxy ------------------------------------------------------------------


def start_pairing(client: Any, forwarded_for: str) -> int:
    answer = client.post("/api/v1/pairings", headers={"X-Forwarded-For": forwarded_for})
    return answer.status_code


def test_behind_trusted_proxies_each_watch_address_has_its_own_pairing_starts(
    make_app: AppFactory, app_config: dict[str, Any]
) -> None:
    client = make_app({**app_config, "TRUSTED_PROXIES": 1}).test_client()
    statuses = [start_pairing(client, "203.0.113.7") for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    assert start_pairing(client, "198.51.100.9") == 200  # another watch behind the same proxy


def test_without_trusted_proxies_a_forwarded_address_is_not_believed(
    make_app: AppFactory, app_config: dict[str, Any]
) -> None:
    client = make_app(app_config).test_client()
    # Each client makes up a new X-Forwarded-For; all of them still count as one address.
    statuses = [start_pairing(client, f"203.0.113.{n}") for n in range(11)]
    assert statuses == [200] * 10 + [429]


@pytest.mark.parametrize(("value", "hops"), [(None, 0), ("2", 2)])
def test_trusted_proxies_come_from_the_environment(value: str | None, hops: int) -> None:
    env = {} if value is None else {"SCIATICA_TRUSTED_PROXIES": value}
    assert from_env(env)["TRUSTED_PROXIES"] == hops


def test_a_redis_prefix_from_the_environment_reaches_the_settings() -> None:
    assert from_env({"SCIATICA_REDIS_PREFIX": "coach-a:"})["REDIS_PREFIX"] == "coach-a:"
    assert from_env({})["REDIS_PREFIX"] is None
