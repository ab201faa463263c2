"""GET /api/v1/history: how the person is getting on, through the watch API, on both stores.

Every answer is held to the OpenAPI document. The clock starts on Wednesday 2026-11-25 at
18:03:46 UTC (tests/conftest.py), so "this week" began on Monday the 23rd.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock
from shared.pairing.service import PairingService
from shared.routine.coach import Coach
from tests.support.alexa_api import SettingsApi
from tests.support.core import finished_at, run_to_the_end
from tests.support.openapi import assert_documented, documented_get
from tests.support.stores import AnyStore
from tests.support.watch import OTHER_USER, WATCH_USER, WatchActions
from wearable.api.routes import PREFIX

HISTORY = f"{PREFIX}/history"
UTC = ZoneInfo("UTC")
NEW_YORK = "America/New_York"


@pytest.fixture
def settings_api() -> Iterator[SettingsApi]:
    """A fake of Alexa's Device Settings API on loopback: the speaker is in New York."""
    with SettingsApi(zone=NEW_YORK) as api:
        yield api


@pytest.fixture
def app_config(
    app_config: dict[str, Any], either_store: AnyStore, settings_api: SettingsApi
) -> dict[str, Any]:
    """The test app on SQLite, then on Redis, trusting the fake's origin."""
    return {**app_config, "STORE": either_store, "ALEXA_API_HOSTS": (settings_api.origin,)}


def at(day: int, hour: int, minute: int = 0, zone: ZoneInfo = UTC) -> float:
    """A moment of November 2026, in epoch seconds."""
    return datetime(2026, 11, day, hour, minute, tzinfo=zone).timestamp()


def history(app: Flask, watch: WatchActions) -> dict[str, Any]:
    return documented_get(app, watch, HISTORY)


def days(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(day["date"], day["runs"]) for day in body["last_days"]]


def test_someone_who_never_finished_a_run_sees_seven_empty_days_ending_today(
    app: Flask, watch: WatchActions
) -> None:
    assert history(app, watch) == {
        "time_zone": "UTC",
        "today": "2026-11-25",
        "week_start": "2026-11-23",
        "runs_this_week": 0,
        "streak_days": 0,
        "streak_since": None,
        "done_today": False,
        "last_completed_ms": None,
        "last_days": [{"date": f"2026-11-{day}", "runs": 0} for day in range(19, 26)],
    }


def test_a_run_finished_through_the_core_counts_today(
    app: Flask, watch: WatchActions, coach: Coach, clock: ManualClock
) -> None:
    finished = run_to_the_end(coach, WATCH_USER, clock)
    body = history(app, watch)
    assert body["today"] == "2026-11-25"
    assert (body["done_today"], body["runs_this_week"], body["streak_days"]) == (True, 1, 1)
    assert body["streak_since"] == "2026-11-25"
    assert body["last_completed_ms"] == round(finished * 1000)
    assert days(body)[-1] == ("2026-11-25", 1)


def test_the_week_the_streak_and_each_of_the_last_days(
    app: Flask, watch: WatchActions, coach: Coach
) -> None:
    # Sunday (last week), Monday twice, Tuesday; none yet on Wednesday: the day is not over.
    finished_at(coach, WATCH_USER, at(22, 9), at(23, 8), at(23, 20), at(24, 7, 30))
    body = history(app, watch)
    assert (body["runs_this_week"], body["done_today"]) == (3, False)
    assert (body["streak_days"], body["streak_since"]) == (3, "2026-11-22")
    assert body["last_completed_ms"] == round(at(24, 7, 30) * 1000)
    assert days(body) == [
        ("2026-11-19", 0),
        ("2026-11-20", 0),
        ("2026-11-21", 0),
        ("2026-11-22", 1),
        ("2026-11-23", 2),
        ("2026-11-24", 1),
        ("2026-11-25", 0),
    ]


def test_a_missed_day_ends_the_streak_but_not_the_week(
    app: Flask, watch: WatchActions, coach: Coach
) -> None:
    finished_at(coach, WATCH_USER, at(23, 8), at(25, 7))  # Monday and today, not Tuesday
    body = history(app, watch)
    assert (body["runs_this_week"], body["streak_days"], body["streak_since"]) == (
        2,
        1,
        "2026-11-25",
    )


def test_days_are_the_persons_own_in_the_zone_kept_from_their_device(
    app: Flask, watch: WatchActions, coach: Coach, clock: ManualClock, amazon_calls: list[str]
) -> None:
    # 03:00 UTC on Thursday is 22:00 on Wednesday in New York; the run was at 21:00 there.
    clock.set(at(26, 3))
    finished_at(coach, WATCH_USER, at(25, 21, zone=ZoneInfo(NEW_YORK)))
    in_utc = history(app, watch)
    assert (in_utc["time_zone"], in_utc["today"], in_utc["done_today"]) == (
        "UTC",
        "2026-11-26",
        True,
    )
    coach.change_settings(WATCH_USER, time_zone=NEW_YORK)  # as the voice keeps it
    in_new_york = history(app, watch)
    assert (in_new_york["time_zone"], in_new_york["today"]) == (NEW_YORK, "2026-11-25")
    assert in_new_york["done_today"] is True
    assert days(in_new_york)[-1] == ("2026-11-25", 1)
    assert amazon_calls == []  # the watch's history never asks Alexa where the person is


def test_a_damaged_settings_record_counts_in_utc_and_still_answers(
    app: Flask, watch: WatchActions, coach: Coach
) -> None:
    coach.store.save_settings(WATCH_USER, '{"time_zone": "Mars/Olympus_Mons"}', 0.0)
    assert history(app, watch)["time_zone"] == "UTC"


def test_each_watch_sees_only_its_own_persons_history(
    app: Flask, watch: WatchActions, other_watch: WatchActions, coach: Coach
) -> None:
    finished_at(coach, OTHER_USER, at(24, 8), at(25, 8))
    assert history(app, watch)["runs_this_week"] == 0
    theirs = history(app, other_watch)
    assert (theirs["runs_this_week"], theirs["streak_days"]) == (2, 2)
    finished_at(coach, WATCH_USER, at(25, 9))
    assert history(app, watch)["runs_this_week"] == 1
    assert history(app, other_watch)["runs_this_week"] == 2


def problem(app: Flask, response: TestResponse) -> dict[str, Any]:
    assert response.status_code == 401
    assert_documented(app, HISTORY, "GET", response)
    body: dict[str, Any] = response.get_json(force=True)
    return body


def test_without_a_live_token_there_is_no_history(
    app: Flask, client: FlaskClient, watch: WatchActions, coach: Coach
) -> None:
    finished_at(coach, WATCH_USER, at(25, 9))
    problem(app, client.get(HISTORY))
    problem(app, client.get(HISTORY, headers={"Authorization": "Bearer " + "x" * 43}))
    stale = dict(watch.auth)
    assert watch.unpair().status_code == 204
    response = client.get(HISTORY, headers=stale)
    assert "runs" not in problem(app, response)["detail"]
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_the_voice_and_the_watch_tell_the_same_days_in_the_zone_the_voice_learnt(
    app: Flask,
    client: FlaskClient,
    pairing: PairingService,
    speaker: AlexaSimulator,
    settings_api: SettingsApi,
    coach: Coach,
    clock: ManualClock,
) -> None:
    """Asked "how am I doing", the voice learns where the person is from the device and keeps
    it; the watch's history then counts the same days, without asking anyone."""
    speaker.api_endpoint = settings_api.endpoint
    speaker.api_access_token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.aGlzdG9yeQ.c2ln"
    speaker.device_id = "amzn1.ask.device.HISTORY-TEST"
    user = speaker.user_id
    coach.user(user)
    coach.mark_safety_heard(user)
    clock.set(at(26, 3))  # Wednesday 22:00 in New York, already Thursday in UTC
    evenings = [at(24, 18, 30, ZoneInfo(NEW_YORK)), at(25, 19, zone=ZoneInfo(NEW_YORK))]
    finished_at(coach, user, *evenings)
    watch = WatchActions(client, pairing)
    watch.pair(user)
    assert history(app, watch)["time_zone"] == "UTC"  # nothing kept yet

    turn = speaker.says("ProgressIntent")
    assert "twice this week" in turn.ssml
    assert "2-day streak" in turn.ssml
    seen = len(settings_api.seen)
    body = history(app, watch)
    assert len(settings_api.seen) == seen  # the watch's read asked the device nothing
    assert (body["time_zone"], body["today"], body["done_today"]) == (NEW_YORK, "2026-11-25", True)
    assert (body["runs_this_week"], body["streak_days"]) == (2, 2)
    assert days(body)[-2:] == [("2026-11-24", 1), ("2026-11-25", 1)]
