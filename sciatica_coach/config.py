"""Configuration from environment variables with sane defaults; tests pass their own mapping.

This is the one place that reads the environment: the core is handed its settings (a
database path, a key prefix) by the app factory, and tests/shared checks it reads none.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import platformdirs

from shared.clock import ScaledClock
from shared.redis_connection import check_prefix
from skill.alexa_settings import Origin, parse_extra_origins

#: Largest request body any endpoint reads; Alexa's envelopes are a few kilobytes.
DEFAULT_MAX_BODY = 64 * 1024

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable, so start-up says what."""

    def __init__(self, name: str, value: str, problem: str) -> None:
        super().__init__(f"{name}={value!r}: {problem}")
        self.name = name
        self.value = value
        self.problem = problem


def default_db_path() -> Path:
    """The SQLite file when SCIATICA_DB is unset: in the user's data directory, kept across
    upgrades."""
    return Path(platformdirs.user_data_dir("sciatica-coach", appauthor=False)) / "coach.sqlite3"


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _given(
    env: Mapping[str, str], name: str, parse: Callable[[str], T], kind: str
) -> tuple[str, T] | None:
    """`name`'s text and what `parse` makes of it; None when unset or blank: the default holds."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return raw, parse(raw)
    except ValueError:
        raise ConfigError(name, raw, f"is not {kind}") from None


def _number(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    low: float,
    high: float,
    low_open: bool = False,
) -> float:
    """A finite number within [low, high] (or (low, high]); unset or blank gives the default.

    NaN passes every comparison-free check and then poisons every deadline, so it is refused
    here, at start-up, rather than making every request fail later.
    """
    given = _given(env, name, float, "a number")
    if given is None:
        return default
    raw, value = given
    if not math.isfinite(value):
        raise ConfigError(name, raw, "must be a finite number")
    below = value <= low if low_open else value < low
    if below or value > high:
        opening = "(" if low_open else "["
        raise ConfigError(name, raw, f"must be in {opening}{low:g}, {high:g}]")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    given = _given(env, name, int, "a whole number")
    if given is None:
        return default
    raw, value = given
    if not low <= value <= high:
        raise ConfigError(name, raw, f"must be between {low} and {high}")
    return value


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read every SCIATICA_* setting; unset ones fall back to defaults that work locally.

    Raises ConfigError naming the variable when a value cannot be parsed or is out of range.
    """
    env = os.environ if environ is None else environ
    return {
        "DATABASE": _database(env),
        "ROUTINE_FILE": env.get("SCIATICA_ROUTINE") or None,
        "SKILL_ID": env.get("SCIATICA_SKILL_ID", ""),
        "ALEXA_CA_FILE": env.get("SCIATICA_ALEXA_CA_FILE") or None,
        "ALEXA_CERT_CACHE": env.get("SCIATICA_ALEXA_CERT_CACHE") or None,
        "DEV_SKIP_VERIFY": _flag(env.get("SCIATICA_DEV_SKIP_VERIFY")),
        # Hosts besides Amazon's whose Device Settings API we call (a local fake, in tests).
        "ALEXA_API_HOSTS": _alexa_api_hosts(env),
        "REDIS_URL": env.get("SCIATICA_REDIS_URL") or None,
        # Key prefix and change channel on Redis, so two deployments can share one server.
        "REDIS_PREFIX": _redis_prefix(env),
        # Reverse proxies in front whose X-Forwarded-For/-Proto we believe (0: none).
        "TRUSTED_PROXIES": _integer(env, "SCIATICA_TRUSTED_PROXIES", 0, low=0, high=5),
        "SPEECH_WPM": _number(env, "SCIATICA_SPEECH_WPM", 160.0, low=0, high=1000, low_open=True),
        "VOICE_START_DELAY_S": _number(env, "SCIATICA_VOICE_START_DELAY_S", 0.3, low=0, high=10),
        # A voice profile (`sciatica-coach voice calibrate`) for every user who has none.
        "VOICE_PROFILE": env.get("SCIATICA_VOICE_PROFILE") or None,
        "MAX_CONTENT_LENGTH": _integer(
            env, "SCIATICA_MAX_BODY", DEFAULT_MAX_BODY, low=1024, high=16 * 1024 * 1024
        ),
        # Seconds a hold waits after a wrist action, with no speech to get into position by.
        "WATCH_LEAD_IN_S": _number(env, "SCIATICA_WATCH_LEAD_IN_S", 5.0, low=0, high=60),
        "CLOCK": _demo_clock(env),
    }


def _database(env: Mapping[str, str]) -> str:
    """SCIATICA_DB, else the file in the user's data directory."""
    raw = env.get("SCIATICA_DB")
    return raw if raw and raw.strip() else str(default_db_path())


def _alexa_api_hosts(env: Mapping[str, str]) -> tuple[Origin, ...]:
    """SCIATICA_ALEXA_API_HOSTS: origins to call besides Amazon's, comma-separated."""
    raw = env.get("SCIATICA_ALEXA_API_HOSTS") or ""
    try:
        return parse_extra_origins(raw)
    except ValueError as exc:
        raise ConfigError("SCIATICA_ALEXA_API_HOSTS", raw, str(exc)) from None


def _redis_prefix(env: Mapping[str, str]) -> str | None:
    """SCIATICA_REDIS_PREFIX, if it cannot break the hash tags; None: the store's default."""
    raw = env.get("SCIATICA_REDIS_PREFIX") or None
    if raw is not None:
        try:
            check_prefix(raw)
        except ValueError:
            problem = "may not contain braces: they keep each user's keys in one hash slot"
            raise ConfigError("SCIATICA_REDIS_PREFIX", raw, problem) from None
    return raw


def _demo_clock(env: Mapping[str, str]) -> ScaledClock | None:
    """A time-compressed clock for `sciatica-coach demo`'s server; None means real time."""
    if not (env.get("SCIATICA_CLOCK_SPEED") or "").strip():
        return None
    speed = _number(env, "SCIATICA_CLOCK_SPEED", 1.0, low=0, high=1_000_000, low_open=True)
    anchor_set = (env.get("SCIATICA_CLOCK_ANCHOR") or "").strip()
    anchor = _number(env, "SCIATICA_CLOCK_ANCHOR", 0.0, low=0, high=1e11) if anchor_set else None
    return ScaledClock(speed, anchor)
