"""The request log and the JSON formatter: one parseable line per request, users only hashed."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable

import pytest
from flask import Flask, g, jsonify, request
from flask.typing import ResponseReturnValue

from sciatica_coach.logs import JsonFormatter, RequestFilter, logging_config
from sciatica_coach.request_log import REQUEST_ID_HEADER, init_request_log, outcome_for
from shared.user_ref import USER_REF_HEX, user_ref

RAW_USER = "amzn1.ask.account.SECRET-RAW-USER"
LOGGER = "sciatica_coach.request_log"
LogOf = Callable[..., list[logging.LogRecord]]


@pytest.fixture
def logged_app() -> Flask:
    """A small app with the request log, a route that names its user, and an early answer."""
    app = Flask("logged")

    @app.before_request
    def answer_early() -> ResponseReturnValue | None:
        # Registered before the log, like the watch API's answer to unknown /api/v1 paths.
        if request.path == "/early":
            return jsonify(error="early"), 404
        return None

    init_request_log(app)

    @app.get("/me")
    def me() -> ResponseReturnValue:
        g.log_user = RAW_USER
        return jsonify(ok=True)

    @app.get("/refused")
    def refused() -> ResponseReturnValue:
        g.log_outcome = "bad_signature"
        return jsonify(error="no"), 400

    @app.get("/boom")
    def boom() -> ResponseReturnValue:
        raise RuntimeError("kaboom")

    return app


@pytest.fixture
def log_of(logged_app: Flask, caplog: pytest.LogCaptureFixture) -> LogOf:
    """`log_of(*paths)`: GET each path on the logged app; the request log's records, in order."""
    caplog.set_level(logging.INFO, LOGGER)

    def get(*paths: str) -> list[logging.LogRecord]:
        client = logged_app.test_client()
        for path in paths:
            client.get(path)
        return [record for record in caplog.records if record.name == LOGGER]

    return get


def test_one_record_per_request_with_method_path_status_and_latency(log_of: LogOf) -> None:
    [record] = log_of("/me?device_code=SECRET-CODE")
    assert (record.method, record.path, record.status, record.outcome) == ("GET", "/me", 200, "ok")
    assert record.latency_ms >= 0
    assert "SECRET-CODE" not in record.getMessage()


def test_the_user_is_logged_only_as_a_truncated_hash(
    log_of: LogOf, caplog: pytest.LogCaptureFixture
) -> None:
    [record] = log_of("/me")
    assert record.user == user_ref(RAW_USER)
    assert len(record.user) == USER_REF_HEX
    assert RAW_USER not in caplog.text


def test_a_request_without_a_user_logs_none(log_of: LogOf) -> None:
    [record] = log_of("/refused")
    assert record.user is None


def test_a_handler_may_name_the_outcome(log_of: LogOf) -> None:
    [record] = log_of("/refused")
    assert (record.status, record.outcome) == (400, "bad_signature")


def test_requests_answered_early_and_failures_are_logged_too(log_of: LogOf) -> None:
    early, boom = log_of("/early", "/boom")
    assert (early.status, early.outcome, early.latency_ms is not None) == (
        404,
        "client_error",
        True,
    )
    assert (boom.status, boom.outcome) == (500, "server_error")


def test_the_request_id_is_echoed_and_a_callers_plain_one_is_kept(logged_app: Flask) -> None:
    client = logged_app.test_client()
    made = client.get("/me").headers[REQUEST_ID_HEADER]
    assert len(made) == 32
    assert client.get("/me").headers[REQUEST_ID_HEADER] != made
    kept = client.get("/me", headers={REQUEST_ID_HEADER: "lb-7f3a.1"})
    assert kept.headers[REQUEST_ID_HEADER] == "lb-7f3a.1"


@pytest.mark.parametrize("offered", ["a" * 65, "with space", 'quote"d', "new\\nline"])
def test_a_callers_unsafe_request_id_is_replaced(logged_app: Flask, offered: str) -> None:
    answer = logged_app.test_client().get("/me", headers={REQUEST_ID_HEADER: offered})
    assert answer.headers[REQUEST_ID_HEADER] != offered
    assert len(answer.headers[REQUEST_ID_HEADER]) == 32


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "ok"), (204, "ok"), (304, "not_modified"), (401, "client_error"), (503, "server_error")],
)
def test_outcome_words(status: int, outcome: str) -> None:
    assert outcome_for(status) == outcome


def test_user_hashes_are_stable_and_tell_users_apart() -> None:
    assert user_ref(RAW_USER) == user_ref(RAW_USER)
    assert user_ref(RAW_USER) != user_ref(RAW_USER + "2")


# -- the JSON formatter ----------------------------------------------------------------------


def format_record(message: str, *args: object, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("some.module", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    return json.loads(line)


def test_a_record_is_one_json_line_with_its_message_formatted() -> None:
    entry = format_record("%d polls waiting", 3)
    assert entry["msg"] == "3 polls waiting"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "some.module"
    assert entry["ts"].endswith("+00:00")


def test_extra_fields_are_kept_and_odd_values_stringified() -> None:
    entry = format_record("x", status=200, path="/healthz", where=object())
    assert (entry["status"], entry["path"]) == (200, "/healthz")
    assert entry["where"].startswith("<object")
    assert "args" not in entry
    assert "levelno" not in entry


def test_an_exception_stays_on_one_line() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord("m", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: bad" in json.loads(line)["exc"]


def test_records_logged_during_a_request_carry_its_id(logged_app: Flask) -> None:
    seen: list[logging.LogRecord] = []

    @logged_app.get("/talk")
    def talk() -> ResponseReturnValue:
        record = logging.LogRecord("m", logging.INFO, __file__, 1, "hi", (), None)
        RequestFilter().filter(record)
        seen.append(record)
        return jsonify(ok=True)

    answer = logged_app.test_client().get("/talk")
    assert seen[0].request_id == answer.headers[REQUEST_ID_HEADER]


def test_the_config_sends_everything_through_one_json_handler() -> None:
    config = logging_config("DEBUG")
    assert config["root"] == {"level": "DEBUG", "handlers": ["json"]}
    assert config["handlers"]["json"]["formatter"] == "json"
    assert config["loggers"]["gunicorn.error"]["handlers"] == []
