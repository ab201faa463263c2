"""One user hash in every log line: the core's, the voice's, the watch's and the request log.

A whole session (pair a watch by voice, start, act from the wrist, disable the skill) is run
with the request log on and the served logging filter in place; every line about the user
names them by the same user_ref, and no line names them in clear.
"""

from __future__ import annotations

import ast
import hashlib
import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sciatica_coach.app import coach_of, services_of
from sciatica_coach.demo.simulator import AlexaSimulator
from sciatica_coach.logs import JsonFormatter, RequestFilter
from sciatica_coach.request_log import init_request_log
from shared.clock import ManualClock
from shared.pairing.protocol import DEVICE_CODE_GRANT
from shared.redis_connection import user_tag
from shared.routine.engine import Event
from shared.stores.base import RetriesExhausted, UserVoice, VersionConflict
from shared.user_ref import USER_REF_HEX, user_ref
from tests.support.paths import REPO

#: The speaker fixture's user (tests/conftest.py).
USER = "amzn1.ask.account.TEST-USER-ONE"
ROOT = REPO


@pytest.fixture
def logged(app: Flask, caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record at INFO and up, through the same filter `serve` puts on its handler."""
    init_request_log(app)
    caplog.handler.addFilter(RequestFilter())
    caplog.set_level(logging.INFO)
    return caplog


def pair_by_voice(client: FlaskClient, speaker: AlexaSimulator) -> dict[str, str]:
    """The watch shows a code, the person says it, the watch trades its device code."""
    start = client.post("/api/v1/pairings").get_json()
    turn = speaker.says("PairWatchIntent", code=start["user_code_spoken"])
    assert "watch is paired" in turn.ssml, turn.ssml
    token = client.post(
        "/api/v1/token", data={"grant_type": DEVICE_CODE_GRANT, "device_code": start["device_code"]}
    ).get_json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def assert_never_in_clear(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert USER not in JsonFormatter().format(record), record.getMessage()


def test_a_whole_session_names_its_user_by_one_hash_and_never_in_clear(
    client: FlaskClient, speaker: AlexaSimulator, logged: pytest.LogCaptureFixture
) -> None:
    ref = user_ref(USER)
    auth = pair_by_voice(client, speaker)
    speaker.says("StartRoutineIntent")
    assert client.post("/api/v1/actions", json={"action": "pause"}, headers=auth).status_code == 200
    assert speaker.send(speaker._envelope("skill_disabled")).status == 200

    said = messages(logged)
    for line in [
        f"pairing code bound to user {ref}",
        f"watch paired to user {ref}; token issued",
        f"unpaired 1 watch(es) and 0 pending pairing(s) of user {ref}",
        f"skill disabled; deleted user {ref}",
    ]:
        assert line in said
    assert_never_in_clear(logged)
    # In a request that acts for the user, every line carries the same hash as a field.
    [action] = [r for r in logged.records if r.getMessage().startswith("watch action pause")]
    assert action.user == ref
    requests = [r for r in logged.records if r.name == "sciatica_coach.request_log"]
    alexa = [r for r in requests if r.path == "/alexa"]
    assert alexa
    assert {r.user for r in alexa} == {ref}
    assert {r.user for r in requests if r.path == "/api/v1/actions"} == {ref}
    assert {r.user for r in requests if r.path == "/api/v1/pairings"} == {None}


def test_a_request_that_fails_verification_names_no_user(
    client: FlaskClient, speaker: AlexaSimulator, logged: pytest.LogCaptureFixture
) -> None:
    envelope = speaker._envelope("launch")
    envelope["context"]["System"]["application"]["applicationId"] = "amzn1.ask.skill.other"
    assert speaker.send(envelope).status == 400
    requests = [r for r in logged.records if r.name == "sciatica_coach.request_log"]
    assert [r.user for r in requests] == [None]
    assert not [r for r in logged.records if getattr(r, "user", None)]


def test_a_run_conflict_names_the_user_by_the_same_hash(
    app: Flask,
    clock: ManualClock,
    logged: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    coach = coach_of(app)
    save = coach.store.save_run
    lost: list[bool] = []

    def lose_once(user_id: str, *args: object, **kwargs: object) -> None:
        if not lost:
            lost.append(True)
            raise VersionConflict(user_id, None, 1)
        save(user_id, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(coach.store, "save_run", lose_once)
    coach.apply(USER, Event.START, 1.0)
    assert f"run conflict for user {user_ref(USER)} on attempt 1; retrying" in messages(logged)
    assert_never_in_clear(logged)


def test_the_voice_giving_up_on_conflicts_names_the_user(
    app: Flask,
    speaker: AlexaSimulator,
    logged: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def always_lose(user_id: str, *args: object, **kwargs: object) -> None:
        raise RetriesExhausted(user_id, 3, None)

    monkeypatch.setattr(coach_of(app), "apply", always_lose)
    speaker.says("StartRoutineIntent")
    assert any(
        message.startswith(f"gave up on user {user_ref(USER)} after repeated run conflicts")
        for message in messages(logged)
    )
    assert_never_in_clear(logged)


def test_an_unreadable_stored_voice_names_the_user(
    app: Flask, clock: ManualClock, logged: pytest.LogCaptureFixture
) -> None:
    voices = services_of(app).voices
    voices.store.ensure_user(USER, clock.now())
    voices.store.save_voice(USER, UserVoice("{not a profile", 0.0), clock.now())
    assert voices.timing_for(USER) is voices.default
    assert any(f"voice profile of user {user_ref(USER)}" in m for m in messages(logged))
    assert_never_in_clear(logged)


def test_the_hash_is_labelled_so_it_matches_no_other_hash_of_the_id() -> None:
    ref = user_ref(USER)
    assert len(ref) == USER_REF_HEX
    int(ref, 16)
    assert ref != hashlib.sha256(USER.encode()).hexdigest()[:USER_REF_HEX]
    assert not user_tag(USER).startswith(ref)


def test_no_other_module_defines_a_user_hash_of_its_own() -> None:
    names = {"user_ref", "user_hash", "hash_user"}
    defined = []
    for package in ("shared", "skill", "wearable", "sciatica_coach"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.FunctionDef) and node.name in names:
                    defined.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert defined == ["shared/user_ref.py: user_ref"]
