"""'How am I doing' and the streak in the welcome, through signed envelopes, on both stores.

The person's zone comes from a fake of Alexa's Device Settings API on loopback
(tests/support/alexa_api.py), which the app trusts through ALEXA_API_HOSTS. Times are set
so that New York's days and UTC's give different answers: at 03:00 UTC on Thursday
2026-11-26 it is still Wednesday evening, 22:00, in New York.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.engine import Event
from shared.stores.redis import RedisStore
from shared.stores.sqlite import SQLiteStore
from skill import speech
from tests.support.alexa_api import SettingsApi
from tests.support.core import finished_at
from tests.support.voice import into_first_hold

NEW_YORK = "America/New_York"
DEVICE = "amzn1.ask.device.PROGRESS-TEST"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.cHJvZ3Jlc3M.c2ln"
#: A loopback answer on a busy machine never trips this; only "slow" tests shorten it.
PATIENT_S = 20.0

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=ZoneInfo("UTC")).timestamp()
TUESDAY_EVENING = datetime(2026, 11, 24, 18, 30, tzinfo=ZoneInfo(NEW_YORK)).timestamp()
WEDNESDAY_EVENING = datetime(2026, 11, 25, 19, 0, tzinfo=ZoneInfo(NEW_YORK)).timestamp()
#: The two runs as New York counts them, and as UTC does (Tuesday 23:30, Thursday 00:00).
IN_NEW_YORK = (
    "You've done the routine twice this week, and you're on a 2-day streak. "
    "Your last one was this evening."
)
IN_UTC = "You've done the routine twice this week. Your last one was early this morning."


@pytest.fixture
def settings_api() -> Iterator[SettingsApi]:
    with SettingsApi(zone=NEW_YORK) as api:
        yield api


@pytest.fixture
def api_timeout_s() -> float:
    return PATIENT_S


@pytest.fixture(params=["sqlite", "redis"])
def app_config(
    app_config: dict[str, Any],
    request: pytest.FixtureRequest,
    settings_api: SettingsApi,
    api_timeout_s: float,
    tmp_path: Path,
) -> dict[str, Any]:
    """The test app, trusting the fake's origin, on SQLite or on Redis."""
    config = {
        **app_config,
        "ALEXA_API_HOSTS": (settings_api.origin,),
        "ALEXA_API_TIMEOUT_S": api_timeout_s,
    }
    if request.param == "redis":
        store = RedisStore.from_url(request.getfixturevalue("redis_url"))
        store.client.flushdb()
    else:
        store = SQLiteStore(tmp_path / "progress.sqlite3")
    return {**config, "STORE": store}


@pytest.fixture
def device(
    speaker: AlexaSimulator, settings_api: SettingsApi, clock: ManualClock
) -> AlexaSimulator:
    """The speaker, its envelopes naming the fake as apiEndpoint, at NOW."""
    speaker.api_endpoint = settings_api.endpoint
    speaker.api_access_token = TOKEN
    speaker.device_id = DEVICE
    clock.set(NOW)
    return speaker


def two_evenings(coach: Coach, user: str) -> None:
    coach.user(user)
    coach.mark_safety_heard(user)
    finished_at(coach, user, TUESDAY_EVENING, WEDNESDAY_EVENING)


# -- how am I doing ---------------------------------------------------------------------------


def test_someone_who_never_finished_a_run_hears_so_and_is_offered_one(
    device: AlexaSimulator,
) -> None:
    turn = device.says("ProgressIntent")
    assert turn.status == 200
    assert speech.say("progress_none") in turn.ssml
    assert "Would you like to start" in turn.ssml
    assert not turn.ends_session
    assert "Step 1 of 6" in device.says("AMAZON.YesIntent").ssml


def test_the_zone_comes_from_the_device_and_is_kept(
    device: AlexaSimulator, coach: Coach, settings_api: SettingsApi
) -> None:
    two_evenings(coach, device.user_id)
    turn = device.says("ProgressIntent")
    assert IN_NEW_YORK in turn.ssml
    assert coach.settings(device.user_id).time_zone == NEW_YORK
    [seen] = settings_api.seen
    assert seen.path == f"/v2/devices/{DEVICE}/settings/System.timeZone"
    assert seen.authorization == f"Bearer {TOKEN}"


def test_without_device_access_the_days_are_utcs(
    device: AlexaSimulator, coach: Coach, settings_api: SettingsApi
) -> None:
    device.api_access_token = ""  # a request that carries no token
    two_evenings(coach, device.user_id)
    assert IN_UTC in device.says("ProgressIntent").ssml
    assert settings_api.seen == []
    assert coach.settings(device.user_id).time_zone is None


@pytest.mark.parametrize(
    "answer",
    ["status-403", "status-500", "garbage", "unknown-zone", "redirect", "declared-too-big"],
)
def test_an_api_that_fails_leaves_the_zone_kept(
    answer: str, device: AlexaSimulator, coach: Coach, settings_api: SettingsApi
) -> None:
    two_evenings(coach, device.user_id)
    device.says("ProgressIntent")
    settings_api.answer = answer
    turn = device.says("ProgressIntent")
    assert turn.status == 200
    assert IN_NEW_YORK in turn.ssml
    assert coach.settings(device.user_id).time_zone == NEW_YORK


@pytest.mark.parametrize("answer", ["status-500", "endless", "not-a-string"])
def test_an_api_that_fails_with_no_zone_kept_counts_in_utc(
    answer: str, device: AlexaSimulator, coach: Coach, settings_api: SettingsApi
) -> None:
    settings_api.answer = answer
    two_evenings(coach, device.user_id)
    turn = device.says("ProgressIntent")
    assert turn.status == 200
    assert IN_UTC in turn.ssml
    assert coach.settings(device.user_id).time_zone is None


@pytest.mark.parametrize("api_timeout_s", [0.3])
def test_an_api_that_does_not_answer_is_given_up_on(
    device: AlexaSimulator, coach: Coach, settings_api: SettingsApi
) -> None:
    settings_api.answer = "slow"
    two_evenings(coach, device.user_id)
    turn = device.says("ProgressIntent")
    assert turn.status == 200
    assert IN_UTC in turn.ssml


def test_an_endpoint_we_do_not_trust_is_never_called(
    device: AlexaSimulator, coach: Coach, amazon_calls: list[str]
) -> None:
    two_evenings(coach, device.user_id)
    with SettingsApi(zone=NEW_YORK) as stranger:
        for endpoint in (stranger.endpoint, "https://metadata.evil.example", "file:///etc"):
            device.api_endpoint = endpoint
            turn = device.says("ProgressIntent")
            assert turn.status == 200
            assert IN_UTC in turn.ssml
        assert stranger.seen == []
    assert amazon_calls == []


def test_the_zone_is_kept_only_when_it_changes(
    device: AlexaSimulator, coach: Coach, settings_api: SettingsApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_evenings(coach, device.user_id)
    changes: list[dict[str, Any]] = []
    change = coach.change_settings

    def counted(user_id: str, **changed: Any) -> Any:
        changes.append(changed)
        return change(user_id, **changed)

    monkeypatch.setattr(coach, "change_settings", counted)
    device.says("ProgressIntent")
    device.says("ProgressIntent")
    assert changes == [{"time_zone": NEW_YORK}]
    settings_api.zone = "Asia/Tokyo"  # the speaker moved: 12:00 on Thursday there
    assert "Your last one was this morning." in device.says("ProgressIntent").ssml
    assert changes == [{"time_zone": NEW_YORK}, {"time_zone": "Asia/Tokyo"}]
    assert coach.settings(device.user_id).time_zone == "Asia/Tokyo"


def test_a_run_finished_by_voice_counts_at_once(
    device: AlexaSimulator, coach: Coach, clock: ManualClock
) -> None:
    turn = device.says("StartRoutineIntent")
    for _ in range(20):
        if "finished the whole routine" in turn.ssml:
            break
        clock.advance(120)
        turn = device.says("AMAZON.NextIntent")
    assert "finished the whole routine" in turn.ssml
    clock.advance(60)
    said = device.says("ProgressIntent").ssml
    assert "You've done the routine once this week. Your last one was" in said


def test_mid_hold_the_answer_carries_the_rest_of_the_hold(
    device: AlexaSimulator, coach: Coach, clock: ManualClock
) -> None:
    finished_at(coach, device.user_id, TUESDAY_EVENING)
    into_first_hold(device, coach, clock, into=10)
    turn = device.says("ProgressIntent")
    assert "You've done the routine once this week." in turn.ssml
    assert "Time's up" in turn.ssml
    assert not turn.ends_session


def test_a_stopped_run_is_offered_back_after_the_answer(
    device: AlexaSimulator, coach: Coach
) -> None:
    device.says("StartRoutineIntent")
    coach.apply(device.user_id, Event.STOP)
    turn = device.says("ProgressIntent")
    assert speech.say("progress_none") in turn.ssml
    assert turn.reprompt is not None
    assert "resume" in turn.reprompt


# -- the welcome --------------------------------------------------------------------------------


def test_a_returning_user_on_a_streak_hears_it_at_launch(
    device: AlexaSimulator, coach: Coach, settings_api: SettingsApi
) -> None:
    two_evenings(coach, device.user_id)
    turn = device.launch()
    assert speech.say("welcome_back_streak_done", days=2) in turn.ssml
    assert "Would you like to start" in turn.ssml
    assert len(settings_api.seen) == 1
    assert coach.settings(device.user_id).time_zone == NEW_YORK


def test_a_streak_with_today_still_to_do_is_said_so(
    device: AlexaSimulator, coach: Coach, clock: ManualClock
) -> None:
    two_evenings(coach, device.user_id)
    clock.set(NOW + 86_400)  # Thursday, 22:00 in New York: nothing yet today
    assert speech.say("welcome_back_streak", days=2) in device.launch().ssml


def test_in_utc_the_same_runs_are_no_streak_and_the_welcome_is_plain(
    device: AlexaSimulator, coach: Coach, settings_api: SettingsApi
) -> None:
    settings_api.answer = "status-500"
    two_evenings(coach, device.user_id)
    turn = device.launch()
    assert speech.say("welcome_back") in turn.ssml
    assert "streak" not in turn.ssml


def test_a_launch_with_no_recent_runs_asks_the_device_nothing(
    device: AlexaSimulator, coach: Coach, settings_api: SettingsApi
) -> None:
    coach.user(device.user_id)
    coach.mark_safety_heard(device.user_id)
    finished_at(coach, device.user_id, NOW - 10 * 86_400, NOW - 9 * 86_400)
    assert speech.say("welcome_back") in device.launch().ssml
    assert settings_api.seen == []


def test_a_new_user_hears_the_safety_note_and_no_call_is_made(
    device: AlexaSimulator, settings_api: SettingsApi
) -> None:
    assert "not medical advice" in device.launch().ssml
    assert settings_api.seen == []
