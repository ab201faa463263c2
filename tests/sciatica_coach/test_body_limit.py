"""Chunked bodies obey the same size limits as bodies that declare their length."""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sciatica_coach.app import services_of
from sciatica_coach.body_limit import ChunkedBodyLimit
from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator, Transport
from shared.clock import ManualClock
from shared.pairing.protocol import DEVICE_CODE_GRANT
from tests.support.paths import FIXTURES
from tests.support.serve import Launcher

LIMIT = 64 * 1024
SKILL_ID = "amzn1.ask.skill.00000000-0000-4000-8000-0000b0d71e55"


def chunked_transport(client: FlaskClient) -> Transport:
    """Posts signed envelopes to /alexa as a chunked body, with no Content-Length."""

    def post(body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        response = client.post(
            "/alexa",
            input_stream=io.BytesIO(body),
            headers={**headers, "Transfer-Encoding": "chunked"},
        )
        return response.status_code, response.get_json(silent=True)

    return post


def post_chunked(client: FlaskClient, path: str, body: bytes, **headers: str) -> Any:
    return client.post(
        path, input_stream=io.BytesIO(body), headers={"Transfer-Encoding": "chunked", **headers}
    )


def test_a_chunked_alexa_request_within_the_limit_is_answered(
    app: Flask, client: FlaskClient, demo_ca: DemoCA, clock: ManualClock
) -> None:
    speaker = AlexaSimulator.from_fixture_dir(
        FIXTURES / "alexa",
        transport=chunked_transport(client),
        ca=demo_ca,
        skill_id=app.config["SKILL_ID"],
        clock=clock.now,
    )
    turn = speaker.launch()
    assert turn.status == 200
    assert "Welcome" in turn.ssml


def test_an_oversized_chunked_alexa_body_is_refused_for_its_size(client: FlaskClient) -> None:
    response = post_chunked(client, "/alexa", b"{" + b" " * LIMIT + b"}")
    assert response.status_code == 400
    assert response.get_json()["error"] == "body_too_large"


def paired_token(app: Flask, client: FlaskClient) -> str:
    start = client.post("/api/v1/pairings").get_json()
    services_of(app).pairing.bind("amzn1.ask.account.CHUNKY", start["user_code"])
    answer = client.post(
        "/api/v1/token",
        data={"grant_type": DEVICE_CODE_GRANT, "device_code": start["device_code"]},
    )
    return answer.get_json()["access_token"]


def test_an_oversized_chunked_watch_body_is_a_413_problem(app: Flask, client: FlaskClient) -> None:
    response = post_chunked(
        client,
        "/api/v1/actions",
        b'{"action": "' + b"x" * 8192 + b'"}',
        Authorization="Bearer " + paired_token(app, client),
        **{"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


def test_a_chunked_watch_action_within_the_limit_is_read_whole(
    app: Flask, client: FlaskClient
) -> None:
    response = post_chunked(
        client,
        "/api/v1/actions",
        b'{"action": "dance"}',
        Authorization="Bearer " + paired_token(app, client),
        **{"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "dance" in response.get_json()["detail"]


def test_a_chunked_token_request_within_the_limit_is_read_whole(client: FlaskClient) -> None:
    """The form reaches the token endpoint intact: its answer is about the code, not the form."""
    response = post_chunked(
        client,
        "/api/v1/token",
        b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=nope",
        **{"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_bodies_with_a_length_pass_through_untouched() -> None:
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(dict(environ))
        start_response("200 OK", [])
        return [b""]

    stream = io.BytesIO(b"abc")
    environ = {"CONTENT_LENGTH": "3", "wsgi.input": stream, "HTTP_TRANSFER_ENCODING": ""}
    ChunkedBodyLimit(app, 2)(environ, lambda *a: None)
    assert seen[0]["wsgi.input"] is stream
    assert seen[0]["CONTENT_LENGTH"] == "3"


# -- through the real server ----------------------------------------------------------------


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.kill_all()


def send_chunked(port: int, path: str, body: bytes) -> tuple[int, Any]:
    """A chunked POST in 8 KiB chunks, as a client that sends no Content-Length does."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))
        conn.request(
            "POST",
            path,
            body=chunks,
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


def test_the_real_server_refuses_an_oversized_chunked_body_for_its_size(
    launcher: Launcher, tmp_path: Path
) -> None:
    ca = DemoCA.generate(now=datetime.now(UTC))
    server = launcher.start(
        env={
            "SCIATICA_DB": str(tmp_path / "coach.sqlite3"),
            "SCIATICA_SKILL_ID": SKILL_ID,
            "SCIATICA_ALEXA_CA_FILE": str(ca.write_root(tmp_path / "root.pem")),
        }
    )
    status, body = send_chunked(server.port, "/alexa", b"[" + b" " * (2 * LIMIT) + b"]")
    assert (status, body["error"]) == (400, "body_too_large")
    status, body = send_chunked(server.port, "/alexa", b"[]")
    assert (status, body["error"]) == (400, "malformed_body")
