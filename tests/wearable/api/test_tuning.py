"""The watch's side of a tuning over HTTP: listen, follow what the voice has read, send what
was heard, and get back the user's own speaker, measured."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sciatica_coach.app import services_of
from shared.clock import ManualClock
from shared.timing.script import SEPARATOR_MIN_S
from shared.timing.tuning import LISTEN_FOR_S, MAX_SOUNDS, Tuning
from shared.timing.voices import Voices
from tests.support.timing import TUNING_SCRIPT, TUNING_SECTION_S, TUNING_SECTIONS, read_in_turns
from tests.support.watch import OTHER_USER, WATCH_USER, WatchActions
from wearable.api.tuning import TUNING_MAX_BODY

PROBLEM = "application/problem+json"
PROBLEM_TAG = "tag:sciatica-coach,2026:problem:"
TUNING = "/api/v1/tuning"
HEARD = "/api/v1/tuning/heard"
#: How long after each response the speaker's first word is heard.
DELAY_S = 1.3

Sounds = list[tuple[float, float]]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The app of tests/conftest.py, tuning the short script in three sections."""
    return {**app_config, "CALIBRATION_SCRIPT": TUNING_SCRIPT, "TUNING_SECTION_S": TUNING_SECTION_S}


@pytest.fixture
def tuning(app: Flask) -> Tuning:
    """The voice's side of the tuning: what the skill calls as it reads each part."""
    return services_of(app).tuning


@pytest.fixture
def voices(app: Flask) -> Voices:
    return services_of(app).voices


@pytest.fixture
def schemas(client: FlaskClient) -> dict[str, Any]:
    """The components of the OpenAPI document the app serves, for checking answers against."""
    return client.get("/api/v1/openapi.json").get_json()["components"]


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def as_ms(sounds: Sounds) -> list[list[int]]:
    return [[ms(start), ms(end)] for start, end in sounds]


def assert_matches(schemas: dict[str, Any], name: str, body: Any) -> None:
    """`body` is what the document's schema `name` says (resolved within its components)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": schemas}
    errors = [error.message for error in jsonschema_rs.validator_for(schema).iter_errors(body)]
    assert not errors, errors


def assert_problem(response: TestResponse, status: int, kind: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["detail"]
    if kind is not None:
        assert body["type"] == PROBLEM_TAG + kind
    return body


def listen(watch: WatchActions) -> TestResponse:
    return watch.client.post(TUNING, headers=watch.auth)


def status(watch: WatchActions) -> TestResponse:
    return watch.client.get(TUNING, headers=watch.auth)


def heard(watch: WatchActions, body: Any) -> TestResponse:
    return watch.client.post(HEARD, json=body, headers=watch.auth)


def heard_raw(watch: WatchActions, raw: bytes) -> TestResponse:
    return watch.client.post(HEARD, data=raw, content_type="application/json", headers=watch.auth)


def read_through(watch: WatchActions, tuning: Tuning, clock: ManualClock) -> Sounds:
    """The face listens, then the voice reads the whole script: what the face heard."""
    assert listen(watch).status_code == 201
    clock.advance(20)
    return read_in_turns(tuning, WATCH_USER, clock, DELAY_S)


# -- who may tune --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("POST", TUNING), ("GET", TUNING), ("DELETE", TUNING), ("POST", HEARD)]
)
@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["no-token", "unknown-token"])
def test_only_a_paired_watch_may_tune(
    client: FlaskClient, method: str, path: str, token: str | None
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.open(path, method=method, json={"sounds": []}, headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# -- listening and following the voice -----------------------------------------------------------


def test_a_face_that_starts_listening_is_told_the_clock_and_how_long_it_may_listen(
    watch: WatchActions, clock: ManualClock, schemas: dict[str, Any]
) -> None:
    response = listen(watch)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert_matches(schemas, "Tuning", body)
    assert body == {
        "server_time_ms": ms(clock.now()),
        "listening_since_ms": ms(clock.now()),
        "listen_until_ms": ms(clock.now() + LISTEN_FOR_S),
        "sections": [],
        "done_speaking": False,
        "separator_min_ms": ms(SEPARATOR_MIN_S),
        "max_sounds": MAX_SOUNDS,
    }


def test_a_listening_face_sees_each_part_as_the_voice_reads_it(
    watch: WatchActions, tuning: Tuning, clock: ManualClock, schemas: dict[str, Any]
) -> None:
    listen(watch)
    clock.advance(20)
    first = clock.now()
    tuning.speak(WATCH_USER, first, from_start=True)
    clock.advance(5)

    response = status(watch)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert_matches(schemas, "Tuning", body)
    assert body["server_time_ms"] == ms(clock.now())
    assert body["listening_since_ms"] == ms(first - 20)
    assert body["sections"] == [
        {"parts": 2, "spoken_at_ms": ms(first)},
        {"parts": 2, "spoken_at_ms": None},
        {"parts": 3, "spoken_at_ms": None},
    ]
    assert [s["parts"] for s in body["sections"]] == [count for _, count in TUNING_SECTIONS]
    assert body["done_speaking"] is False

    for _ in TUNING_SECTIONS[1:]:
        clock.advance(20)
        tuning.speak(WATCH_USER, clock.now(), from_start=False)
    done = status(watch).get_json()
    assert done["done_speaking"] is True
    assert all(s["spoken_at_ms"] is not None for s in done["sections"])


def test_without_a_tuning_the_face_is_told_there_is_none(
    watch: WatchActions, clock: ManualClock
) -> None:
    assert_problem(status(watch), 404, "no-tuning")
    listen(watch)
    clock.advance(LISTEN_FOR_S + 1)  # a face that has listened this long has given up
    assert_problem(status(watch), 404, "no-tuning")


def test_a_face_that_stops_listening_drops_the_tuning(watch: WatchActions) -> None:
    listen(watch)
    response = watch.client.delete(TUNING, headers=watch.auth)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(status(watch), 404, "no-tuning")
    assert watch.client.delete(TUNING, headers=watch.auth).status_code == 204  # none: still 204


def test_one_users_tuning_is_not_another_users(
    watch: WatchActions, other_watch: WatchActions, tuning: Tuning, clock: ManualClock
) -> None:
    sounds = read_through(watch, tuning, clock)
    assert_problem(status(other_watch), 404, "no-tuning")
    assert_problem(heard(other_watch, {"sounds": as_ms(sounds)}), 404, "no-tuning")
    assert other_watch.client.delete(TUNING, headers=other_watch.auth).status_code == 204
    assert status(watch).get_json()["done_speaking"] is True
    assert tuning.state(OTHER_USER, clock.now()) is None


# -- what the face heard ----------------------------------------------------------------------


def test_what_was_heard_fits_the_users_own_speaker(
    watch: WatchActions,
    tuning: Tuning,
    voices: Voices,
    clock: ManualClock,
    schemas: dict[str, Any],
) -> None:
    sounds = read_through(watch, tuning, clock)

    response = heard(watch, {"sounds": as_ms(sounds)})

    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert_matches(schemas, "TunedVoice", body)
    assert abs(body["start_delay_ms"] - ms(DELAY_S)) <= 1
    assert body["parts"] == len(TUNING_SCRIPT.parts) == body["fit"]["parts"]
    assert body["speech_s"] == body["fit"]["speech_s"] > 0
    timing = voices.timing_for(WATCH_USER)
    assert timing is not voices.default
    assert timing.start_delay_s == pytest.approx(DELAY_S, abs=0.001)
    assert voices.timing_for(OTHER_USER) is voices.default
    assert_problem(status(watch), 404, "no-tuning")  # the tuning is over


def test_what_was_heard_before_the_voice_read_it_all_waits_for_the_rest(
    watch: WatchActions, tuning: Tuning, clock: ManualClock
) -> None:
    listen(watch)
    body = assert_problem(heard(watch, {"sounds": [[1, 2]]}), 409, "tuning-unfinished")
    assert "read 0 of its parts" in body["detail"]
    tuning.speak(WATCH_USER, clock.now(), from_start=True)
    body = assert_problem(heard(watch, {"sounds": [[1, 2]]}), 409, "tuning-unfinished")
    assert "read 1 of 3 parts" in body["detail"]
    assert status(watch).status_code == 200  # nothing was lost


def test_what_was_heard_without_a_tuning_is_a_404(watch: WatchActions) -> None:
    assert_problem(heard(watch, {"sounds": [[1, 2]]}), 404, "no-tuning")


def test_what_is_not_the_script_is_refused_and_the_tuning_ends(
    watch: WatchActions, tuning: Tuning, voices: Voices, clock: ManualClock
) -> None:
    sounds = read_through(watch, tuning, clock)
    state = tuning.state(WATCH_USER, clock.now())
    assert state is not None
    cut = [(start, end) for start, end in sounds if start < state.spoken[-1]]

    body = assert_problem(heard(watch, {"sounds": as_ms(cut)}), 422, "recording-mismatch")

    assert "no speech in part 3 of 3" in body["detail"]
    assert_problem(status(watch), 404, "no-tuning")
    assert voices.timing_for(WATCH_USER) is voices.default


def test_a_stretch_that_ends_before_it_starts_is_refused_and_the_tuning_ends(
    watch: WatchActions, tuning: Tuning, clock: ManualClock
) -> None:
    sounds = as_ms(read_through(watch, tuning, clock))
    sounds.append([sounds[-1][1] + 2000, sounds[-1][1] + 1000])
    body = assert_problem(heard(watch, {"sounds": sounds}), 422, "recording-mismatch")
    assert "ends before it starts" in body["detail"]
    assert_problem(status(watch), 404, "no-tuning")


def test_what_was_heard_must_be_sent_as_json(watch: WatchActions) -> None:
    listen(watch)
    response = watch.client.post(
        HEARD, data='{"sounds": []}', content_type="text/plain", headers=watch.auth
    )
    assert_problem(response, 415)
    assert status(watch).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        b'"sounds"',
        b"{}",
        b'{"sounds": [[1, 2]], "more": 1}',
        b'{"sounds": {"0": [1, 2]}}',
        b'{"sounds": [[1, 2, 3]]}',
        b'{"sounds": [[1]]}',
        b'{"sounds": [1, 2]}',
        b'{"sounds": [["1", "2"]]}',
        b'{"sounds": [[true, false]]}',
        b'{"sounds": [[null, 2]]}',
        b'{"sounds": [[-1, 2]]}',
        b'{"sounds": [[1, 1e16]]}',
        b'{"sounds": [[NaN, 2]]}',
        b'{"sounds": [[1, Infinity]]}',
    ],
    ids=[
        "broken-json",
        "a-list",
        "a-string",
        "no-sounds",
        "extra-key",
        "sounds-an-object",
        "a-pair-of-three",
        "a-pair-of-one",
        "bare-numbers",
        "strings",
        "booleans",
        "null",
        "negative",
        "past-15-digits",
        "nan",
        "infinity",
    ],
)
def test_a_malformed_body_is_a_400_and_keeps_the_tuning(watch: WatchActions, raw: bytes) -> None:
    listen(watch)
    response = heard_raw(watch, raw)
    assert_problem(response, 400, "malformed-request")
    assert status(watch).status_code == 200


def test_more_stretches_than_a_tuning_may_report_are_a_400(watch: WatchActions) -> None:
    listen(watch)
    too_many = [[i, i + 1] for i in range(MAX_SOUNDS + 1)]
    body = assert_problem(heard(watch, {"sounds": too_many}), 400, "malformed-request")
    assert f"At most {MAX_SOUNDS} stretches" in body["detail"]


def test_a_body_larger_than_other_watch_requests_is_read(
    watch: WatchActions, tuning: Tuning, clock: ManualClock
) -> None:
    sounds = read_through(watch, tuning, clock)
    # Every stretch split into many short ones, as a meter hears a voice: over 4 KiB of JSON.
    split = [
        (start + k * (end - start) / 20, start + (k + 0.5) * (end - start) / 20)
        for start, end in sounds
        for k in range(20)
    ]
    raw = json.dumps({"sounds": as_ms(split)}).encode()
    assert 4 * 1024 < len(raw) < TUNING_MAX_BODY
    response = heard_raw(watch, raw)
    assert response.status_code == 200, response.get_json()


def test_a_body_over_64_kib_is_a_413_and_keeps_the_tuning(watch: WatchActions) -> None:
    listen(watch)
    raw = b'{"sounds": [' + b" " * TUNING_MAX_BODY + b"]}"
    response = heard_raw(watch, raw)
    assert_problem(response, 413)
    assert status(watch).status_code == 200
