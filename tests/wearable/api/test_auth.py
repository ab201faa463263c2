"""Who may read and drive a run: only a live token, and only its own user's run."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from shared.pairing.service import PairingService
from shared.routine.coach import Coach
from shared.routine.engine import Event
from tests.support.watch import OTHER_USER, WATCH_USER, SpyNotifier, WatchActions

#: Every endpoint that needs a token, called with the given headers.
PROTECTED: dict[str, Callable[[FlaskClient, dict[str, str]], TestResponse]] = {
    "GET /cues": lambda client, headers: client.get("/api/v1/cues", headers=headers),
    "POST /actions": lambda client, headers: client.post(
        "/api/v1/actions", json={"action": "pause"}, headers=headers
    ),
    "DELETE /devices/me": lambda client, headers: client.delete(
        "/api/v1/devices/me", headers=headers
    ),
}
RUN_FIELDS = {"step", "cues", "hold", "version", "state", "routine"}


def assert_unauthorized(response: TestResponse) -> dict[str, Any]:
    """A 401 problem that says how to authenticate and carries nothing about any run."""
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    body = response.get_json(force=True)
    assert body["status"] == 401
    assert not RUN_FIELDS & set(body)
    assert "ETag" not in response.headers
    return body


@pytest.fixture
def running(watch: WatchActions, coach: Coach) -> WatchActions:
    """WATCH_USER mid-routine, so there is data that must not leak."""
    coach.apply(WATCH_USER, Event.START)
    return watch


@pytest.mark.parametrize("endpoint", PROTECTED)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic d2F0Y2g6c2VjcmV0",
        "Token abc",
        "Bearer not-a-token",
        "Bearer " + "A" * 43,
        "Bearer " + "x" * 5_000,
    ],
    ids=["none", "empty", "scheme", "blank", "basic", "other", "wrong", "guess", "huge"],
)
def test_missing_or_wrong_tokens_get_401_and_no_data(
    running: WatchActions, endpoint: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_unauthorized(PROTECTED[endpoint](running.client, headers))


def test_a_missing_token_is_told_the_scheme_and_a_wrong_one_is_invalid(
    running: WatchActions,
) -> None:
    missing = running.client.get("/api/v1/cues")
    assert "error=" not in missing.headers["WWW-Authenticate"]
    wrong = running.client.get("/api/v1/cues", headers={"Authorization": "Bearer nope"})
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]


def test_the_bearer_scheme_is_case_insensitive(running: WatchActions) -> None:
    assert running.token is not None
    response = running.client.get(
        "/api/v1/cues", headers={"Authorization": f"bearer {running.token}"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("endpoint", PROTECTED)
def test_a_watch_that_unpaired_itself_is_locked_out(running: WatchActions, endpoint: str) -> None:
    assert running.unpair().status_code == 204
    assert_unauthorized(PROTECTED[endpoint](running.client, running.auth))


@pytest.mark.parametrize("endpoint", PROTECTED)
def test_unpairing_by_voice_locks_every_watch_of_that_user_out(
    running: WatchActions, pairing: PairingService, endpoint: str
) -> None:
    assert pairing.revoke_user(WATCH_USER) == 1  # what UnpairWatchIntent calls
    assert_unauthorized(PROTECTED[endpoint](running.client, running.auth))


def test_a_forgotten_user_has_no_watches_left(running: WatchActions, coach: Coach) -> None:
    coach.forget(WATCH_USER)  # the skill was disabled
    assert_unauthorized(running.poll())


def test_a_watch_unpaired_while_it_waits_gets_401(
    running: WatchActions, coach: Coach, notifier: SpyNotifier
) -> None:
    etag = running.poll().headers["ETag"]
    result: dict[str, TestResponse] = {}

    thread = threading.Thread(
        target=lambda: result.update(response=running.poll(etag=etag, wait=30)), daemon=True
    )
    thread.start()
    assert notifier.waiting.wait(10)
    coach.forget(WATCH_USER)
    thread.join(10)
    assert_unauthorized(result["response"])


def test_another_users_token_sees_only_that_users_run(
    running: WatchActions, other_watch: WatchActions, coach: Coach
) -> None:
    mine = running.poll()
    theirs = other_watch.poll()
    assert mine.get_json()["state"] == "announcing"
    assert theirs.get_json()["state"] == "idle"
    assert theirs.get_json()["cues"] == []
    # Even holding my ETag, the other watch is not told "nothing changed" about my run.
    assert other_watch.poll(etag=mine.headers["ETag"]).status_code == 200


def test_another_users_actions_never_touch_my_run(
    running: WatchActions, other_watch: WatchActions, coach: Coach
) -> None:
    before = coach.view(WATCH_USER)
    assert other_watch.act("pause").status_code == 409  # their run is idle
    assert coach.view(WATCH_USER) == before
    coach.apply(OTHER_USER, Event.START)
    assert other_watch.act("pause").get_json()["state"] == "paused"
    assert coach.view(WATCH_USER).state == before.state


def test_unpairing_one_watch_leaves_the_other_users_watch_paired(
    running: WatchActions, other_watch: WatchActions
) -> None:
    running.unpair()
    assert other_watch.poll().status_code == 200


def test_tokens_reach_the_database_only_as_hashes(
    running: WatchActions, other_watch: WatchActions, coach: Coach
) -> None:
    dump = "\n".join(sqlite3.connect(coach.store.path).iterdump())  # type: ignore[attr-defined]
    assert running.token not in dump
    assert other_watch.token not in dump


@pytest.mark.parametrize("started", [False, True], ids=["idle", "running"])
def test_two_users_at_the_same_version_never_share_an_etag(
    watch: WatchActions, other_watch: WatchActions, coach: Coach, started: bool
) -> None:
    if started:
        coach.apply(WATCH_USER, Event.START)
        coach.apply(OTHER_USER, Event.START)
    mine, theirs = watch.poll(), other_watch.poll()
    assert mine.get_json()["version"] == theirs.get_json()["version"]
    assert mine.headers["ETag"] != theirs.headers["ETag"]
    # Neither watch is told "nothing changed" by naming the other's ETag ...
    assert other_watch.poll(etag=mine.headers["ETag"]).status_code == 200
    assert watch.poll(etag=theirs.headers["ETag"]).status_code == 200
    # ... nor held in a long poll by it: another user's ETag is never current for you.
    assert other_watch.poll(etag=mine.headers["ETag"], wait=30).status_code == 200
