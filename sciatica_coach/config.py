"""Configuration from environment variables with sane defaults; tests pass their own mapping."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from shared.clock import ScaledClock
from shared.sqlite_store import DB_ENV, default_db_path

#: Largest request body any endpoint reads; Alexa's envelopes are a few kilobytes.
DEFAULT_MAX_BODY = 64 * 1024


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read every SCIATICA_* setting; unset ones fall back to defaults that work locally."""
    env = os.environ if environ is None else environ
    return {
        "DATABASE": env.get(DB_ENV) or str(default_db_path()),
        "ROUTINE_FILE": env.get("SCIATICA_ROUTINE") or None,
        "SKILL_ID": env.get("SCIATICA_SKILL_ID", ""),
        "ALEXA_CA_FILE": env.get("SCIATICA_ALEXA_CA_FILE") or None,
        "ALEXA_CERT_CACHE": env.get("SCIATICA_ALEXA_CERT_CACHE") or None,
        "DEV_SKIP_VERIFY": _flag(env.get("SCIATICA_DEV_SKIP_VERIFY")),
        "REDIS_URL": env.get("SCIATICA_REDIS_URL") or None,
        "SPEECH_WPM": float(env.get("SCIATICA_SPEECH_WPM", "160")),
        "VOICE_START_DELAY_S": float(env.get("SCIATICA_VOICE_START_DELAY_S", "0.3")),
        "MAX_CONTENT_LENGTH": int(env.get("SCIATICA_MAX_BODY", str(DEFAULT_MAX_BODY))),
        # Seconds a hold waits after a wrist action, with no speech to get into position by.
        "WATCH_LEAD_IN_S": float(env.get("SCIATICA_WATCH_LEAD_IN_S", "5")),
        "CLOCK": _demo_clock(env),
    }


def _demo_clock(env: Mapping[str, str]) -> ScaledClock | None:
    """A time-compressed clock for `sciatica-coach demo`'s server; None means real time."""
    speed = env.get("SCIATICA_CLOCK_SPEED")
    if not speed:
        return None
    anchor = env.get("SCIATICA_CLOCK_ANCHOR")
    return ScaledClock(float(speed), float(anchor) if anchor else None)
