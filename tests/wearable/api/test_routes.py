"""The watch API over HTTP: pairing, cue polls with ETags and long polls, actions from the wrist."""

from __future__ import annotations

import io
import threading
import time
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shared.clock import ManualClock
from shared.pairing.limits import CLIENT_START_LIMIT
from shared.pairing.protocol import DEVICE_CODE_GRANT
from shared.pairing.service import PairingService
from shared.routine.coach import Coach
from shared.routine.cues import CueKind
from shared.routine.engine import Event
from skill.spoken_code import parse_spoken_code
from tests.support.watch import WATCH_USER, SpyNotifier, WatchActions
from wearable.api.haptics import all_platforms, pattern_for

PROBLEM = "application/problem+json"


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


# -- pairing ------------------------------------------------------------------------------------


def test_a_pairing_tells_the_watch_what_to_show(client: FlaskClient) -> None:
    response = client.post("/api/v1/pairings")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    spaced = " ".join(body["user_code"])
    assert body["user_code_spoken"] == spaced
    assert body["prompt"] == f"Say: Alexa, ask sciatica coach to pair code {spaced}"
    assert (body["expires_in"], body["interval"]) == (600, 5)
    assert len(body["device_code"]) >= 43


def test_one_address_cannot_use_up_pairing_for_everyone(client: FlaskClient) -> None:
    def start(address: str) -> Any:
        return client.post("/api/v1/pairings", environ_base={"REMOTE_ADDR": address})

    for _ in range(CLIENT_START_LIMIT.limit):
        assert start("203.0.113.7").status_code == 200
    refused = start("203.0.113.7")
    body = assert_problem(refused, 429)
    assert body["type"].endswith("busy")
    assert int(refused.headers["Retry-After"]) > 0
    assert start("203.0.113.8").status_code == 200


def test_a_pairing_request_with_a_small_body_ignores_it(client: FlaskClient) -> None:
    response = client.post("/api/v1/pairings", data=b'{"hello": "watch"}')
    assert response.status_code == 200
    assert "device_code" in response.get_json()


def test_a_pairing_request_with_a_large_body_is_a_413_problem(client: FlaskClient) -> None:
    assert_problem(client.post("/api/v1/pairings", data=b"x" * 10_000), 413)


def test_a_chunked_body_past_the_limit_is_a_413_problem_though_nobody_reads_it(
    client: FlaskClient,
) -> None:
    # No Content-Length: the server only learns the size while reading (wsgi.input_terminated).
    response = client.post(
        "/api/v1/pairings",
        input_stream=io.BytesIO(b"x" * 10_000),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_problem(response, 413)


def token_answer(client: FlaskClient, **form: str) -> tuple[int, dict[str, Any]]:
    response = client.post("/api/v1/token", data=form)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, response.get_json()


def test_the_token_endpoint_speaks_rfc_8628(
    client: FlaskClient, pairing: PairingService, clock: ManualClock
) -> None:
    start = client.post("/api/v1/pairings").get_json()
    grant = {"grant_type": DEVICE_CODE_GRANT, "device_code": start["device_code"]}
    status, body = token_answer(client, **grant)
    assert (status, body["error"]) == (400, "authorization_pending")
    assert body["error_description"]
    clock.advance(1)
    status, body = token_answer(client, **grant)
    assert (status, body["error"]) == (400, "slow_down")
    pairing.bind(WATCH_USER, parse_spoken_code(start["user_code_spoken"]))
    clock.advance(10)
    status, body = token_answer(client, **grant)
    assert status == 200
    assert body["token_type"] == "Bearer"
    assert pairing.authenticate(body["access_token"]) == WATCH_USER


def test_an_expired_device_code_answers_expired_token(
    client: FlaskClient, clock: ManualClock
) -> None:
    start = client.post("/api/v1/pairings").get_json()
    clock.advance(600)
    status, body = token_answer(
        client, grant_type=DEVICE_CODE_GRANT, device_code=start["device_code"]
    )
    assert (status, body["error"]) == (400, "expired_token")


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"device_code": "x"}, "invalid_request"),
        ({"grant_type": DEVICE_CODE_GRANT}, "invalid_request"),
        ({"grant_type": "password", "device_code": "x"}, "unsupported_grant_type"),
        ({"grant_type": DEVICE_CODE_GRANT, "device_code": "never-issued"}, "invalid_grant"),
    ],
)
def test_bad_token_requests_get_oauth_errors(
    client: FlaskClient, form: dict[str, str], error: str
) -> None:
    status, body = token_answer(client, **form)
    assert (status, body["error"]) == (400, error)


def test_a_token_request_as_json_is_an_invalid_request(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/token", json={"grant_type": DEVICE_CODE_GRANT, "device_code": "x"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "raw",
    [
        f"grant_type={DEVICE_CODE_GRANT}&device_code=abc\xff".encode("latin-1"),
        f"grant_type={DEVICE_CODE_GRANT}&device_code=abc%FF".encode(),
        f"grant_type={DEVICE_CODE_GRANT}&device_code=%C3".encode(),
    ],
    ids=["raw byte", "percent-encoded byte", "cut-off sequence"],
)
def test_a_form_that_is_not_utf_8_is_an_invalid_request_that_says_so(
    client: FlaskClient, raw: bytes
) -> None:
    response = client.post(
        "/api/v1/token", data=raw, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert "UTF-8" in body["error_description"]


def test_a_form_in_another_charset_is_an_invalid_request(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/token",
        data=f"grant_type={DEVICE_CODE_GRANT}&device_code=x",
        content_type="application/x-www-form-urlencoded; charset=iso-8859-1",
    )
    assert response.get_json() == {
        "error": "invalid_request",
        "error_description": "the form must be UTF-8, not 'iso-8859-1'",
    }


def test_a_percent_encoded_utf_8_form_is_read(client: FlaskClient, pairing: PairingService) -> None:
    start = client.post("/api/v1/pairings").get_json()
    pairing.bind(WATCH_USER, start["user_code"])
    raw = f"grant_type={quote(DEVICE_CODE_GRANT, safe='')}&device_code={start['device_code']}"
    response = client.post(
        "/api/v1/token", data=raw, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200


def test_a_parameter_given_twice_is_an_invalid_request(client: FlaskClient) -> None:
    body = f"grant_type={DEVICE_CODE_GRANT}&device_code=a&device_code=b"
    response = client.post(
        "/api/v1/token", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.get_json()["error"] == "invalid_request"


# -- cue polls ----------------------------------------------------------------------------------


def test_an_idle_run_has_no_cues(watch: WatchActions, clock: ManualClock) -> None:
    response = watch.poll()
    assert response.status_code == 200
    body = response.get_json()
    assert body["state"] == "idle"
    assert body["cues"] == []
    assert body["step"] is None
    assert body["server_time_ms"] == ms(clock.now())


def test_a_poll_carries_the_step_the_hold_and_every_cue_with_its_pattern(
    watch: WatchActions, coach: Coach, clock: ManualClock
) -> None:
    outcome = coach.apply(WATCH_USER, Event.START, lead_in=3.0)
    body = watch.poll().get_json()
    state = outcome.transition.state
    assert body["version"] == state.version
    assert body["state"] == "announcing"
    assert body["step"] == {
        "index": 0,
        "count": len(coach.routine),
        "id": coach.routine.step(0).id,
        "title": coach.routine.step(0).title,
        "side": "left",
        "hold_seconds": 30.0,
    }
    assert body["hold"] == {
        "start_ms": ms(clock.now() + 3),
        "end_ms": ms(clock.now() + 33),
        "remaining_ms": 30_000,
        "seconds": 30.0,
    }
    kinds = [cue["kind"] for cue in body["cues"]]
    assert kinds == ["hold_start", "hold_warning", "hold_end"]
    assert [cue["at_ms"] for cue in body["cues"]] == [
        ms(clock.now() + 3),
        ms(clock.now() + 28),
        ms(clock.now() + 33),
    ]
    for cue in body["cues"]:
        assert cue["pattern"] == all_platforms(pattern_for(CueKind(cue["kind"])))
        assert cue["side"] == "left"
        assert cue["step_index"] == 0


def test_every_figure_of_a_poll_is_whole_ms_and_the_hold_left_is_end_minus_server_time(
    watch: WatchActions, coach: Coach, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contract of WATCH_API.md "Times": one reading of the run, its arithmetic exact.

    The clock moves a fraction of a millisecond at every reading, as a real one does between
    the request arriving, the run being read and the answer leaving, so rounding each figure
    on its own would put remaining_ms a millisecond off end_ms - server_time_ms.
    """
    clock.advance(0.000_4)
    tick = clock.now

    def ticking() -> float:
        clock.advance(0.000_3337)
        return tick()

    monkeypatch.setattr(clock, "now", ticking)
    coach.apply(WATCH_USER, Event.START, lead_in=0.0)
    holding = 0
    for _ in range(200):
        clock.advance(0.1)
        response = watch.poll()
        body = response.get_json()
        received = int(response.headers["Server-Receive-Ms"])
        sent = int(response.headers["Server-Send-Ms"])
        assert (received, sent) == (
            body["clock"]["server_receive_ms"],
            body["clock"]["server_send_ms"],
        )
        assert received <= body["server_time_ms"] <= sent
        hold = body["hold"]
        if body["state"] == "holding":
            holding += 1
            assert hold["remaining_ms"] == hold["end_ms"] - body["server_time_ms"]
            assert hold["end_ms"] - sent <= hold["remaining_ms"] <= hold["end_ms"] - received
    assert holding > 100


def test_a_paused_hold_keeps_what_resume_will_give_however_long_the_pause(
    watch: WatchActions, coach: Coach, clock: ManualClock
) -> None:
    coach.apply(WATCH_USER, Event.START, lead_in=0.0)
    clock.advance(12.25)
    coach.apply(WATCH_USER, Event.PAUSE)
    first = watch.poll().get_json()["hold"]["remaining_ms"]
    clock.advance(600)
    assert watch.poll().get_json()["hold"]["remaining_ms"] == first == 17_750


def test_on_the_last_step_the_cues_include_the_routine_complete(
    watch: WatchActions, coach: Coach
) -> None:
    coach.apply(WATCH_USER, Event.START)
    for _ in range(len(coach.routine) - 1):
        coach.apply(WATCH_USER, Event.NEXT)
    kinds = [cue["kind"] for cue in watch.poll().get_json()["cues"]]
    assert kinds[-1] == "routine_complete"


def test_cues_already_past_are_left_out(
    watch: WatchActions, coach: Coach, clock: ManualClock
) -> None:
    coach.apply(WATCH_USER, Event.START, lead_in=1.0)
    clock.advance(2)
    body = watch.poll().get_json()
    assert body["state"] == "holding"
    assert [cue["kind"] for cue in body["cues"]] == ["hold_warning", "hold_end"]
    assert body["hold"]["remaining_ms"] == 29_000


def test_the_etag_is_strong_and_a_match_answers_304_with_no_body(
    watch: WatchActions, coach: Coach
) -> None:
    coach.apply(WATCH_USER, Event.START)
    first = watch.poll()
    etag = first.headers["ETag"]
    assert etag.startswith('"')  # strong: no W/ prefix
    again = watch.poll(etag=etag)
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"] == "private, no-cache"
    assert again.headers["Vary"] == first.headers["Vary"] == "Authorization"


def test_a_change_gives_a_new_etag(watch: WatchActions, coach: Coach) -> None:
    coach.apply(WATCH_USER, Event.START)
    etag = watch.poll().headers["ETag"]
    coach.apply(WATCH_USER, Event.PAUSE)
    response = watch.poll(etag=etag)
    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert response.get_json()["state"] == "paused"


def test_the_clock_block_gives_the_watch_ntps_timestamps(
    watch: WatchActions, clock: ManualClock
) -> None:
    response = watch.poll(client_send_ms=1_234)
    body = response.get_json()
    assert body["clock"] == {
        "client_send_ms": 1_234,
        "server_receive_ms": ms(clock.now()),
        "server_send_ms": ms(clock.now()),
    }
    assert response.headers["Server-Receive-Ms"] == str(ms(clock.now()))
    assert response.headers["Server-Send-Ms"] == str(ms(clock.now()))


def test_a_304_still_carries_the_clock_headers(watch: WatchActions) -> None:
    etag = watch.poll().headers["ETag"]
    response = watch.poll(etag=etag, client_send_ms=5)
    assert response.status_code == 304
    assert "Server-Receive-Ms" in response.headers
    assert "Server-Send-Ms" in response.headers


@pytest.mark.parametrize(
    "wait", ["abc", "-1", "31", "1.5", "", "1e1", "99999999999999999", "5\n", "5 ", " 5", "\uff15"]
)
def test_a_bad_wait_is_a_400_problem(watch: WatchActions, wait: str) -> None:
    body = assert_problem(watch.poll(wait=wait), 400)
    assert "wait" in body["detail"]


@pytest.mark.parametrize("value", ["soon", "-5", "1.5", "1234\n", "1234\r\n"])
def test_a_bad_client_time_is_a_400_problem(watch: WatchActions, value: str) -> None:
    assert_problem(watch.poll(client_send_ms=value), 400)


def test_a_poll_past_the_end_settles_the_run_as_completed(
    watch: WatchActions, coach: Coach, clock: ManualClock
) -> None:
    coach.apply(WATCH_USER, Event.START)
    for _ in range(len(coach.routine) - 1):
        coach.apply(WATCH_USER, Event.NEXT)
    clock.advance(3600)
    assert watch.poll().get_json()["state"] == "completed"
    assert len(coach.history(WATCH_USER)) == 1


# -- long polls ---------------------------------------------------------------------------------


def long_poll_in_thread(watch: WatchActions, etag: str, wait: int) -> tuple[threading.Thread, dict]:
    result: dict[str, Any] = {}

    def poll() -> None:
        result["response"] = watch.poll(etag=etag, wait=wait)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    return thread, result


def test_a_change_by_voice_wakes_a_waiting_watch_at_once(
    watch: WatchActions, coach: Coach, notifier: SpyNotifier
) -> None:
    coach.apply(WATCH_USER, Event.START)
    etag = watch.poll().headers["ETag"]
    started = time.monotonic()
    thread, result = long_poll_in_thread(watch, etag, wait=30)
    assert notifier.waiting.wait(10), "the poll never started waiting"
    coach.apply(WATCH_USER, Event.PAUSE)  # what "Alexa, pause" does
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 10  # far less than the 30 s it asked to wait
    response = result["response"]
    assert response.status_code == 200
    assert response.get_json()["state"] == "paused"
    assert response.headers["ETag"] != etag


def test_a_watch_that_is_behind_is_answered_without_waiting(
    watch: WatchActions, coach: Coach, notifier: SpyNotifier
) -> None:
    etag = watch.poll().headers["ETag"]
    coach.apply(WATCH_USER, Event.START)
    response = watch.poll(etag=etag, wait=30)
    assert response.status_code == 200
    assert not notifier.waiting.is_set()


def test_if_none_match_star_never_holds_the_request(
    watch: WatchActions, notifier: SpyNotifier
) -> None:
    response = watch.poll(etag="*", wait=30)
    assert response.status_code == 304
    assert not notifier.waiting.is_set()


# -- actions from the wrist ---------------------------------------------------------------------


def test_next_from_the_wrist_moves_the_run_the_voice_reads(
    watch: WatchActions, coach: Coach, clock: ManualClock
) -> None:
    coach.apply(WATCH_USER, Event.START)
    response = watch.act("next")
    assert response.status_code == 200
    body = response.get_json()
    assert body["step"]["index"] == 1
    assert coach.view(WATCH_USER).step_index == 1  # the next voice turn starts from here
    assert response.headers["ETag"] == watch.poll().headers["ETag"]


def test_a_wrist_action_gives_the_default_five_second_lead_in(
    watch: WatchActions, coach: Coach, clock: ManualClock
) -> None:
    coach.apply(WATCH_USER, Event.START)
    hold = watch.act("next").get_json()["hold"]
    assert hold["start_ms"] == ms(clock.now() + 5)


def test_the_lead_in_is_configurable(app: Flask, watch: WatchActions, coach: Coach) -> None:
    app.config["WATCH_LEAD_IN_S"] = 2.5
    coach.apply(WATCH_USER, Event.START)
    body = watch.act("repeat").get_json()
    assert body["hold"]["start_ms"] == body["server_time_ms"] + 2_500


def test_pause_and_resume_from_the_wrist_keep_the_hold_time_left(
    watch: WatchActions, coach: Coach, clock: ManualClock
) -> None:
    coach.apply(WATCH_USER, Event.START, lead_in=0.0)
    clock.advance(10)
    paused = watch.act("pause").get_json()
    assert paused["state"] == "paused"
    assert paused["cues"] == []
    assert paused["hold"]["remaining_ms"] == 20_000
    clock.advance(60)
    resumed = watch.act("resume").get_json()
    assert resumed["state"] == "announcing"  # the lead-in to get back into position
    assert resumed["hold"]["start_ms"] == ms(clock.now() + 5)
    assert resumed["hold"]["end_ms"] == ms(clock.now() + 25)


def test_previous_and_repeat_are_the_voices_events(watch: WatchActions, coach: Coach) -> None:
    coach.apply(WATCH_USER, Event.START)
    coach.apply(WATCH_USER, Event.NEXT)
    assert watch.act("previous").get_json()["step"]["index"] == 0
    assert watch.act("repeat").get_json()["step"]["index"] == 0


@pytest.mark.parametrize("condition", ["*", "current", "after"])
def test_an_action_is_applied_and_answered_200_whatever_if_none_match_says(
    watch: WatchActions, coach: Coach, condition: str
) -> None:
    """Only GET and HEAD may answer 304 (RFC 9110 13.1.2); an action always shows its result."""
    coach.apply(WATCH_USER, Event.START)
    current = watch.poll().headers["ETag"]
    # The ETag the run will have once paused: one version on, same user and run.
    after = current.replace(
        f".{coach.view(WATCH_USER).version}.", f".{coach.view(WATCH_USER).version + 1}."
    )
    tag = {"*": "*", "current": current, "after": after}[condition]
    response = watch.client.post(
        "/api/v1/actions",
        json={"action": "pause"},
        headers={**watch.auth, "If-None-Match": tag},
    )
    assert response.status_code == 200
    assert response.get_json()["state"] == "paused"
    assert response.headers["ETag"] == after
    assert coach.view(WATCH_USER).phase.value == "paused"


def test_a_head_poll_may_still_answer_304(watch: WatchActions) -> None:
    etag = watch.poll().headers["ETag"]
    response = watch.client.head("/api/v1/cues", headers={**watch.auth, "If-None-Match": etag})
    assert response.status_code == 304


def test_an_action_that_makes_no_sense_now_is_a_409_problem(watch: WatchActions) -> None:
    body = assert_problem(watch.act("next"), 409)  # nothing started yet
    assert body["type"].endswith("illegal-action")


def test_an_unknown_action_is_a_400_problem_naming_the_allowed_ones(
    watch: WatchActions,
) -> None:
    body = assert_problem(watch.act("jump"), 400)
    assert body["type"].endswith("unknown-action")
    assert body["allowed"] == ["pause", "resume", "next", "previous", "repeat"]


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[]",
        b'"next"',
        b"{}",
        b'{"action": "next", "extra": 1}',
        b'{"action": 3}',
        b'{"action": null}',
        b'{"action": ["next"]}',
        b"\xff\xfe",
        b"[" * 4000,  # deeper than the JSON parser recurses
    ],
)
def test_a_malformed_action_body_is_a_400_problem(watch: WatchActions, raw: bytes) -> None:
    response = watch.client.post(
        "/api/v1/actions", data=raw, content_type="application/json", headers=watch.auth
    )
    assert_problem(response, 400)


def test_an_action_that_is_not_json_is_a_415_problem(watch: WatchActions) -> None:
    response = watch.client.post("/api/v1/actions", data={"action": "next"}, headers=watch.auth)
    assert_problem(response, 415)


def test_an_oversized_body_is_a_413_problem(watch: WatchActions) -> None:
    huge = b'{"action": "' + b"x" * 10_000 + b'"}'
    response = watch.client.post(
        "/api/v1/actions", data=huge, content_type="application/json", headers=watch.auth
    )
    assert_problem(response, 413)


def test_an_oversized_token_request_is_a_413_problem(client: FlaskClient) -> None:
    response = client.post("/api/v1/token", data={"device_code": "x" * 10_000})
    assert_problem(response, 413)


def test_unpairing_with_a_large_body_is_a_413_and_leaves_the_watch_paired(
    watch: WatchActions,
) -> None:
    response = watch.client.delete("/api/v1/devices/me", data=b"x" * 10_000, headers=watch.auth)
    assert_problem(response, 413)
    assert watch.poll().status_code == 200


def test_unpairing_with_a_small_body_ignores_it(watch: WatchActions) -> None:
    response = watch.client.delete("/api/v1/devices/me", data=b"bye", headers=watch.auth)
    assert response.status_code == 204
    assert watch.poll().status_code == 401


def test_a_poll_with_a_large_body_is_a_413_problem(watch: WatchActions) -> None:
    response = watch.client.get("/api/v1/cues", data=b"x" * 10_000, headers=watch.auth)
    assert_problem(response, 413)


# -- the rest of the surface --------------------------------------------------------------------


def test_an_unknown_api_path_is_a_404_problem(client: FlaskClient) -> None:
    assert_problem(client.get("/api/v1/nothing-here"), 404)


def test_a_wrong_method_is_a_405_problem_with_allow(client: FlaskClient) -> None:
    response = client.put("/api/v1/cues")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_the_openapi_document_is_served(client: FlaskClient) -> None:
    body = client.get("/api/v1/openapi.json").get_json()
    assert body["openapi"] == "3.1.0"
    assert "/api/v1/cues" in body["paths"]


def test_the_web_face_and_its_assets_are_served(client: FlaskClient) -> None:
    page = client.get("/watch")
    assert page.status_code == 200
    assert b'id="user-code"' in page.data
    for asset in ("watch.js", "watch.css"):
        with client.get(f"/watch/static/{asset}") as response:
            assert response.status_code == 200


class RunReads:
    """Counts the store's run reads (the stamps read that comes with the token is not one)."""

    def __init__(self, coach: Coach) -> None:
        self.count = 0
        store = coach.store
        for name in ("load_run", "load_run_and_stamp"):
            read = getattr(store, name)

            def counted(*args: Any, _read: Any = read) -> Any:
                self.count += 1
                return _read(*args)

            setattr(store, name, counted)


def test_a_304_for_the_current_snapshot_reads_no_run(watch: WatchActions, coach: Coach) -> None:
    coach.apply(WATCH_USER, Event.START)
    first = watch.poll()
    reads = RunReads(coach)
    again = watch.poll(etag=first.headers["ETag"], client_send_ms=7)
    assert again.status_code == 304
    assert reads.count == 0
    assert again.headers["ETag"] == first.headers["ETag"]
    for header in ("Cache-Control", "Vary", "Server-Receive-Ms", "Server-Send-Ms"):
        assert again.headers[header] == first.headers[header]


def test_polls_of_an_unchanged_run_read_it_from_the_store_at_most_once(
    watch: WatchActions, coach: Coach, clock: ManualClock
) -> None:
    coach.apply(WATCH_USER, Event.START)
    reads = RunReads(coach)
    bodies = []
    for _ in range(5):
        clock.advance(0.5)
        response = watch.poll()
        assert response.status_code == 200
        bodies.append(response.get_json())
    assert reads.count == 0  # kept from the save this instance made
    assert [body["server_time_ms"] for body in bodies] == sorted(
        {body["server_time_ms"] for body in bodies}
    )


def test_a_change_made_by_another_instance_is_read_at_the_next_poll(
    watch: WatchActions, coach: Coach, app: Flask
) -> None:
    coach.apply(WATCH_USER, Event.START)
    etag = watch.poll().headers["ETag"]
    elsewhere = Coach(coach.store, coach.engine, coach.clock)  # same store, its own memory
    elsewhere.apply(WATCH_USER, Event.PAUSE)
    response = watch.poll(etag=etag)
    assert response.status_code == 200
    assert response.get_json()["state"] == "paused"
    assert watch.poll(etag=response.headers["ETag"]).status_code == 304


def test_a_token_unpaired_on_another_instance_is_refused_at_the_next_poll(
    watch: WatchActions, coach: Coach, pairing: PairingService
) -> None:
    coach.apply(WATCH_USER, Event.START)
    etag = watch.poll().headers["ETag"]
    assert watch.poll(etag=etag).status_code == 304  # the token is remembered now
    PairingService(pairing.store, pairing.clock).revoke_user(WATCH_USER)
    assert watch.poll(etag=etag).status_code == 401
