"""GET and PATCH /api/v1/settings: the person's own settings through the watch API, both stores.

A change is a JSON merge patch; a run under way takes it from the next step no reply has said
(the cues of the step on show stay as they were), and the warning buzz follows at once. Every
answer is held to the OpenAPI document.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.definition import Side
from shared.routine.engine import Event, Phase
from shared.routine.settings import Flow, Settings
from tests.support.openapi import assert_documented, documented_get
from tests.support.stores import AnyStore
from tests.support.watch import OTHER_USER, WATCH_USER, SpyNotifier, WatchActions
from wearable.api.problems import ProblemType
from wearable.api.routes import PREFIX

SETTINGS = f"{PREFIX}/settings"
MERGE_PATCH = "application/merge-patch+json"
DEFAULTS = {
    "hold_seconds": None,
    "holds_per_side": 1,
    "first_side": None,
    "warning_buzz": True,
    "flow": None,
    "time_zone": None,
}


@pytest.fixture
def app_config(app_config: dict[str, Any], either_store: AnyStore) -> dict[str, Any]:
    """The test app on SQLite, then on Redis."""
    return {**app_config, "STORE": either_store}


def read(app: Flask, watch: WatchActions) -> dict[str, Any]:
    return documented_get(app, watch, SETTINGS)


def patch(
    app: Flask, watch: WatchActions, body: Any, content_type: str = MERGE_PATCH
) -> TestResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = watch.client.patch(SETTINGS, data=raw, content_type=content_type, headers=watch.auth)
    assert_documented(app, SETTINGS, "PATCH", response)
    return response


def change(app: Flask, watch: WatchActions, body: Any) -> dict[str, Any]:
    response = patch(app, watch, body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    answer: dict[str, Any] = response.get_json()
    return answer


# -- reading and changing ---------------------------------------------------------------------


def test_someone_who_never_chose_sees_the_defaults(app: Flask, watch: WatchActions) -> None:
    assert read(app, watch) == DEFAULTS


def test_what_the_voice_keeps_the_watch_shows(
    app: Flask, watch: WatchActions, coach: Coach
) -> None:
    coach.change_settings(WATCH_USER, flow="hands_free", time_zone="Europe/Berlin")
    shown = read(app, watch)
    assert (shown["flow"], shown["time_zone"]) == ("hands_free", "Europe/Berlin")


def test_a_change_is_kept_answered_whole_and_read_by_the_core(
    app: Flask, watch: WatchActions, coach: Coach
) -> None:
    answer = change(
        app,
        watch,
        {"hold_seconds": 45, "holds_per_side": 2, "first_side": "right", "warning_buzz": False},
    )
    expected = {
        **DEFAULTS,
        "hold_seconds": 45,
        "holds_per_side": 2,
        "first_side": "right",
        "warning_buzz": False,
    }
    assert answer == expected
    assert read(app, watch) == expected
    assert coach.settings(WATCH_USER) == Settings(
        hold_seconds=45, holds_per_side=2, first_side=Side.RIGHT, warning_buzz=False
    )


def test_a_merge_patch_changes_only_what_it_names_and_null_means_the_default(
    app: Flask, watch: WatchActions, coach: Coach
) -> None:
    coach.change_settings(WATCH_USER, time_zone="Europe/Berlin", flow="on_next")
    change(app, watch, {"hold_seconds": 45, "holds_per_side": 3})
    answer = change(app, watch, {"first_side": "left"})
    assert (answer["hold_seconds"], answer["holds_per_side"], answer["first_side"]) == (
        45,
        3,
        "left",
    )
    answer = change(app, watch, {"hold_seconds": None, "holds_per_side": None, "flow": None})
    assert answer == {**DEFAULTS, "first_side": "left", "time_zone": "Europe/Berlin"}
    assert coach.settings(WATCH_USER).time_zone == "Europe/Berlin"


def test_an_empty_patch_changes_nothing_and_answers_the_settings(
    app: Flask, watch: WatchActions, coach: Coach
) -> None:
    coach.change_settings(WATCH_USER, hold_seconds=20)
    assert change(app, watch, {}) == {**DEFAULTS, "hold_seconds": 20}


def test_plain_application_json_is_taken_too_and_a_whole_float_is_a_whole_number(
    app: Flask, watch: WatchActions
) -> None:
    response = patch(app, watch, b'{"hold_seconds": 45.0}', content_type="application/json")
    assert response.status_code == 200
    assert response.get_json()["hold_seconds"] == 45


def test_the_hands_free_choice_is_the_one_the_voice_asks_about(
    app: Flask, watch: WatchActions, coach: Coach
) -> None:
    change(app, watch, {"flow": "hands_free"})
    assert coach.settings(WATCH_USER).flow is Flow.HANDS_FREE
    change(app, watch, {"flow": "on_next"})
    assert coach.settings(WATCH_USER).flow is Flow.ON_NEXT


# -- refusals: a 422 naming the setting, and nothing of the change kept ---------------------------


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"hold_seconds": 61}, "hold_seconds", "hold_seconds: must be from 15 to 60."),
        ({"hold_seconds": 14}, "hold_seconds", "hold_seconds: must be from 15 to 60."),
        ({"hold_seconds": 30.5}, "hold_seconds", "hold_seconds: must be a whole number."),
        ({"hold_seconds": "45"}, "hold_seconds", "hold_seconds: must be a whole number."),
        ({"hold_seconds": True}, "hold_seconds", "hold_seconds: must be a whole number."),
        ({"hold_seconds": 10**4000}, "hold_seconds", "hold_seconds: must be from 15 to 60."),
        ({"hold_seconds": 1e300}, "hold_seconds", "hold_seconds: must be from 15 to 60."),
        ({"holds_per_side": 4}, "holds_per_side", "holds_per_side: must be from 1 to 3."),
        ({"holds_per_side": 0}, "holds_per_side", "holds_per_side: must be from 1 to 3."),
        ({"first_side": "both"}, "first_side", "first_side: must be 'left' or 'right'."),
        ({"warning_buzz": "off"}, "warning_buzz", "warning_buzz: must be true or false."),
        ({"warning_buzz": 0}, "warning_buzz", "warning_buzz: must be true or false."),
        ({"flow": "auto"}, "flow", "flow: must be one of ['hands_free', 'on_next']."),
        (
            {"time_zone": "Europe/Berlin"},
            "time_zone",
            "time_zone comes from your Alexa device and cannot be changed from the watch.",
        ),
        (
            {"hold_secs": 45},
            "hold_secs",
            "There is no setting 'hold_secs'; the watch can change hold_seconds, "
            "holds_per_side, first_side, warning_buzz, flow.",
        ),
        (
            {"hold_seconds": 45, "holds_per_side": 9},
            "holds_per_side",
            "holds_per_side: must be from 1 to 3.",
        ),
        ([{"hold_seconds": 45}], None, 'The body must be a JSON object of settings, e.g. {"'),
        (None, None, "The body must be a JSON object of settings"),
        (45, None, "The body must be a JSON object of settings"),
    ],
)
def test_a_refused_change_names_the_setting_and_keeps_nothing(
    app: Flask,
    watch: WatchActions,
    coach: Coach,
    body: Any,
    field: str | None,
    detail: str,
) -> None:
    coach.change_settings(WATCH_USER, hold_seconds=20)
    response = patch(app, watch, body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == ProblemType.INVALID_SETTING.value
    assert problem["field"] == field
    assert problem["detail"].startswith(detail)
    assert coach.settings(WATCH_USER) == Settings(hold_seconds=20)


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b'{"hold_seconds": 45', MERGE_PATCH, 400),
        (b"\xff\xfe", MERGE_PATCH, 400),
        (b"", MERGE_PATCH, 400),
        (b"[" * 4000, MERGE_PATCH, 400),
        (b'{"hold_seconds": 1' + b"0" * 4100 + b"}", MERGE_PATCH, 413),
        (b'{"hold_seconds": 45}', "text/plain", 415),
        (b"hold_seconds=45", "application/x-www-form-urlencoded", 415),
    ],
)
def test_a_body_that_is_not_a_json_patch_gets_the_problem_every_endpoint_gives(
    app: Flask, watch: WatchActions, coach: Coach, raw: bytes, content_type: str, status: int
) -> None:
    response = patch(app, watch, raw, content_type=content_type)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert coach.settings(WATCH_USER) == Settings()


# -- whose settings ---------------------------------------------------------------------------


def test_each_watch_reads_and_changes_only_its_own_persons_settings(
    app: Flask, watch: WatchActions, other_watch: WatchActions, coach: Coach
) -> None:
    change(app, watch, {"hold_seconds": 50})
    assert read(app, other_watch)["hold_seconds"] is None
    change(app, other_watch, {"hold_seconds": 20, "warning_buzz": False})
    assert read(app, watch) == {**DEFAULTS, "hold_seconds": 50}
    assert coach.settings(OTHER_USER) == Settings(hold_seconds=20, warning_buzz=False)


def test_without_a_live_token_settings_are_neither_read_nor_changed(
    app: Flask, client: FlaskClient, watch: WatchActions, coach: Coach
) -> None:
    coach.change_settings(WATCH_USER, hold_seconds=20)
    stale = dict(watch.auth)
    assert watch.unpair().status_code == 204
    for headers in ({}, {"Authorization": "Bearer " + "x" * 43}, stale):
        got = client.get(SETTINGS, headers=headers)
        assert got.status_code == 401
        assert_documented(app, SETTINGS, "GET", got)
        assert "hold_seconds" not in got.get_data(as_text=True)
        changed = client.patch(SETTINGS, json={"hold_seconds": 60}, headers=headers)
        assert changed.status_code == 401
        assert_documented(app, SETTINGS, "PATCH", changed)
    assert coach.settings(WATCH_USER) == Settings(hold_seconds=20)


# -- a run under way takes the change from its next step ---------------------------------------


def into_the_first_hold(watch: WatchActions, coach: Coach, clock: ManualClock) -> dict[str, Any]:
    """Start as the voice does and wait 5 s into step 1's hold; the watch's poll then."""
    hold = coach.apply(WATCH_USER, Event.START).view.hold
    assert hold is not None
    clock.set(hold.start + 5)
    assert coach.view(WATCH_USER).phase is Phase.HOLDING
    before: dict[str, Any] = watch.poll().get_json()
    assert before["step"]["hold_seconds"] == 30
    return before


def cue_times(poll: dict[str, Any]) -> list[tuple[str, int, int]]:
    return [(cue["kind"], cue["step_index"], cue["at_ms"]) for cue in poll["cues"]]


def test_a_longer_hold_leaves_the_hold_under_way_and_lengthens_the_next_one(
    app: Flask, watch: WatchActions, coach: Coach, clock: ManualClock
) -> None:
    before = into_the_first_hold(watch, coach, clock)
    change(app, watch, {"hold_seconds": 45})
    during = watch.poll().get_json()
    assert during["version"] > before["version"]  # a re-plan: waiting watches are woken
    assert cue_times(during) == cue_times(before)  # step 1's hold keeps its 30 s
    assert during["hold"] == {**before["hold"], "remaining_ms": during["hold"]["remaining_ms"]}
    clock.set(before["hold"]["end_ms"] / 1000 + 1)
    after = watch.act("next").get_json()  # step 2 is announced: it holds 45 s
    assert (after["step"]["index"], after["step"]["hold_seconds"]) == (1, 45)
    assert after["hold"]["end_ms"] - after["hold"]["start_ms"] == 45_000
    kinds = {cue["kind"]: cue["at_ms"] for cue in after["cues"]}
    assert kinds["hold_end"] - kinds["hold_start"] == 45_000
    assert kinds["hold_end"] - kinds["hold_warning"] == 5_000


def test_turning_the_warning_buzz_off_drops_the_pending_warning_at_once(
    app: Flask, watch: WatchActions, coach: Coach, clock: ManualClock, notifier: SpyNotifier
) -> None:
    before = into_the_first_hold(watch, coach, clock)
    assert "hold_warning" in [kind for kind, _, _ in cue_times(before)]
    etag = watch.poll().headers["ETag"]
    woken: dict[str, TestResponse] = {}
    waiting = threading.Thread(
        target=lambda: woken.setdefault("poll", watch.poll(etag=etag, wait=30)), daemon=True
    )
    started = time.monotonic()
    waiting.start()
    assert notifier.waiting.wait(10), "the poll never started waiting"
    change(app, watch, {"warning_buzz": False})
    waiting.join(10)
    assert not waiting.is_alive()
    assert time.monotonic() - started < 10  # woken by the change, not after its 30 s
    poll = woken["poll"].get_json()
    assert woken["poll"].status_code == 200
    assert cue_times(poll) == [c for c in cue_times(before) if c[0] != "hold_warning"]
    change(app, watch, {"warning_buzz": True})  # and back on, for the hold under way too
    assert cue_times(watch.poll().get_json()) == cue_times(before)


def test_more_holds_per_side_re_plan_the_steps_still_to_come(
    app: Flask, watch: WatchActions, coach: Coach, clock: ManualClock
) -> None:
    before = into_the_first_hold(watch, coach, clock)
    change(app, watch, {"holds_per_side": 2})
    during = watch.poll().get_json()
    assert (before["step_count"], during["step_count"]) == (6, 10)
    assert during["step"] == {**before["step"], "count": 10}
    assert cue_times(during) == cue_times(before)


def test_hands_free_from_the_watch_carries_the_run_under_way_on_by_itself(
    app: Flask, watch: WatchActions, coach: Coach, clock: ManualClock
) -> None:
    into_the_first_hold(watch, coach, clock)
    change(app, watch, {"flow": "hands_free"})
    run = coach.store.load_run(WATCH_USER)
    assert run is not None
    assert run.hands_free
