"""The settings the core is handed come from the environment here, and only here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs
import pytest
from flask import Flask

from sciatica_coach.app import coach_of
from sciatica_coach.config import ConfigError, default_db_path, from_env

AppFactory = Callable[..., Flask]


def test_the_database_file_comes_from_the_environment_to_the_store(
    make_app: AppFactory, app_config: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "from-env" / "coach.sqlite3"
    settings = from_env({"SCIATICA_DB": str(path)})
    assert settings["DATABASE"] == str(path)
    app = make_app({**app_config, "DATABASE": settings["DATABASE"]})
    assert coach_of(app).store.path == path
    assert path.exists()


@pytest.mark.parametrize("value", [None, "", "  "])
def test_without_a_database_setting_the_file_is_in_the_user_data_dir(
    value: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def user_data_dir(appname: str, *args: object, **kwargs: object) -> str:
        asked.append(appname)
        return str(tmp_path / "data" / appname)

    monkeypatch.setattr(platformdirs, "user_data_dir", user_data_dir)
    expected = tmp_path / "data" / "sciatica-coach" / "coach.sqlite3"
    # A blank value counts as unset (README, "Configuration").
    env = {} if value is None else {"SCIATICA_DB": value}
    assert default_db_path() == expected
    assert from_env(env)["DATABASE"] == str(expected)
    assert asked == ["sciatica-coach", "sciatica-coach"]


@pytest.mark.parametrize("prefix", ["{sciatica}:", "a}b:"])
def test_a_redis_prefix_that_would_break_the_hash_tags_stops_start_up(prefix: str) -> None:
    with pytest.raises(ConfigError, match="SCIATICA_REDIS_PREFIX") as caught:
        from_env({"SCIATICA_REDIS_PREFIX": prefix})
    assert "braces" in caught.value.problem


@pytest.mark.parametrize(("value", "prefix"), [(None, "sciatica:"), ("test-env:", "test-env:")])
def test_the_redis_prefix_from_the_environment_reaches_store_and_notifier_alike(
    value: str | None,
    prefix: str,
    redis_url: str,
    make_app: AppFactory,
    app_config: dict[str, Any],
) -> None:
    env = {"SCIATICA_REDIS_URL": redis_url}
    if value is not None:
        env["SCIATICA_REDIS_PREFIX"] = value
    settings = from_env(env)
    app = make_app({**app_config, **{k: settings[k] for k in ("REDIS_URL", "REDIS_PREFIX")}})
    coach = coach_of(app)
    try:
        assert coach.store.prefix == prefix
        assert coach.notifier.channel == prefix + "changes"
    finally:
        coach.notifier.close()


def test_alexa_api_hosts_besides_amazons_come_from_the_environment() -> None:
    assert from_env({})["ALEXA_API_HOSTS"] == ()
    hosts = from_env({"SCIATICA_ALEXA_API_HOSTS": "http://127.0.0.1:8123, https://api.test"})
    assert [origin.url("") for origin in hosts["ALEXA_API_HOSTS"]] == [
        "http://127.0.0.1:8123",
        "https://api.test",
    ]


@pytest.mark.parametrize("value", ["http://api.example.test", "https://api.test/path", "nonsense"])
def test_an_alexa_api_host_that_could_leak_a_token_stops_start_up(value: str) -> None:
    with pytest.raises(ConfigError, match="SCIATICA_ALEXA_API_HOSTS"):
        from_env({"SCIATICA_ALEXA_API_HOSTS": value})
