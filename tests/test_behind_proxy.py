"""The product behind a real TLS-terminating proxy: `sciatica-coach serve` behind `caddy run`.

Alexa only calls HTTPS on port 443 with a trusted certificate, so every real deployment
sits behind a proxy like this (docs/DEPLOY.md). Here Caddy serves HTTPS on loopback with
its local CA, the app listens on loopback behind it with SCIATICA_TRUSTED_PROXIES=1, and
every request of these tests goes through Caddy: signed Alexa requests are verified as
without the proxy, a watch pairs by voice and its long poll is held open and woken through
it, per-address pairing limits see each client's own address (and a client cannot claim
another's), and SIGTERM drains a poll waiting through Caddy.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator, Transport
from sciatica_coach.server import GRACEFUL_TIMEOUT_S
from shared.pairing.limits import CLIENT_START_LIMIT
from shared.pairing.protocol import DEVICE_CODE_GRANT
from tests.support.caddy import Caddy, caddy_in_front, require_caddy
from tests.support.serve import (
    BOOT_TIMEOUT_S,
    HTTP_TIMEOUT_S,
    SKILL_ID,
    Launcher,
    Server,
    TrackedConnection,
    pair_watch,
    watch_get,
)

USER = "amzn1.ask.account.BEHIND-THE-PROXY"
#: Far longer than any wake takes: a poll answered within HTTP_TIMEOUT_S was woken.
WAIT_S = 25


@dataclass
class Deployment:
    """The app behind Caddy, and the demo CA its verifier trusts in place of Amazon's."""

    server: Server
    caddy: Caddy
    ca: DemoCA

    def speaker(self, session: requests.Session, user_id: str = USER) -> AlexaSimulator:
        """A signed Alexa speaker that posts through Caddy, as Alexa would."""
        return AlexaSimulator(
            https_transport(self.caddy, session), self.ca, SKILL_ID, time.time, user_id=user_id
        )


def waiting_in(server: Server) -> int:
    """The app's own count of waiting polls (/healthz), on a connection closed at once: an
    idle keep-alive one would hold a SIGTERM drain for gunicorn's keep-alive time."""
    health = requests.get(
        server.url("/healthz"), headers={"Connection": "close"}, timeout=HTTP_TIMEOUT_S
    )
    assert health.status_code == 200, health.text
    return int(health.json()["notifier"]["waiting"])


def https_transport(caddy: Caddy, session: requests.Session) -> Transport:
    """Posts signed envelopes to /alexa through Caddy."""

    def post(body: bytes, headers: Any) -> tuple[int, Any]:
        response = session.post(
            caddy.url("/alexa"), data=body, headers=dict(headers), timeout=HTTP_TIMEOUT_S
        )
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    return post


def settings(directory: Path, ca: DemoCA) -> dict[str, str]:
    """docs/DEPLOY.md's environment, with the demo CA standing in for Amazon's roots."""
    cache = directory / "alexa-certs"
    ca.install_chain(cache)
    return {
        "SCIATICA_DB": str(directory / "coach.sqlite3"),
        "SCIATICA_SKILL_ID": SKILL_ID,
        "SCIATICA_ALEXA_CA_FILE": str(ca.write_root(directory / "alexa-root.pem")),
        "SCIATICA_ALEXA_CERT_CACHE": str(cache),
        "SCIATICA_TRUSTED_PROXIES": "1",
    }


@pytest.fixture(scope="module")
def ca() -> DemoCA:
    """Minted now: the server checks signatures against the real clock."""
    return DemoCA.generate(now=datetime.now(UTC))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, ca: DemoCA) -> Iterator[Deployment]:
    """One app behind one Caddy for the tests that leave the app running."""
    require_caddy()
    directory = tmp_path_factory.mktemp("behind-proxy")
    launcher = Launcher(directory)
    try:
        server = launcher.start(env=settings(directory, ca))
        with caddy_in_front(directory / "caddy", server.port) as caddy:
            yield Deployment(server, caddy, ca)
    finally:
        launcher.kill_all()


@pytest.fixture
def sessions() -> Iterator[Callable[[Deployment, str], requests.Session]]:
    """`sessions(deployment, source)`: a session through Caddy from one loopback address."""
    made: list[requests.Session] = []

    def make(deployment: Deployment, source: str = "127.0.0.1") -> requests.Session:
        session = deployment.caddy.session(source)
        made.append(session)
        return session

    yield make
    for session in made:
        session.close()


@pytest.fixture
def connections() -> Iterator[list[TrackedConnection]]:
    """Raw connections a test opened, closed with their answers when it ends."""
    opened: list[TrackedConnection] = []
    yield opened
    for conn in opened:
        conn.close()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = BOOT_TIMEOUT_S) -> None:
    """Wait for `condition`, polling; fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)


def open_poll(
    caddy: Caddy, opened: list[TrackedConnection], token: str, etag: str
) -> TrackedConnection:
    """A long poll sent through Caddy, its answer left unread."""
    conn = caddy.connect()
    opened.append(conn)
    conn.request(
        "GET",
        f"/api/v1/cues?wait={WAIT_S}",
        headers={"Authorization": f"Bearer {token}", "If-None-Match": etag},
    )
    return conn


def start_pairing(session: requests.Session, caddy: Caddy, **headers: str) -> requests.Response:
    return session.post(caddy.url("/api/v1/pairings"), headers=headers, timeout=HTTP_TIMEOUT_S)


# -- Alexa through the proxy ----------------------------------------------------------------------


def test_signed_alexa_requests_are_verified_and_answered_through_the_proxy(
    deployment: Deployment, sessions: Callable[..., requests.Session]
) -> None:
    session = sessions(deployment)
    speaker = deployment.speaker(session)
    welcome = speaker.launch()
    assert welcome.status == 200, welcome.body
    assert welcome.ssml.startswith("<speak>")

    # The proxy passes the body and its signature untouched, and the verifier still checks
    # them: a body changed after signing is refused as it would be without the proxy.
    def tampered(body: bytes, headers: Any) -> tuple[int, Any]:
        return https_transport(deployment.caddy, session)(body.replace(b"en-US", b"en-GB"), headers)

    forger = AlexaSimulator(tampered, deployment.ca, SKILL_ID, time.time, user_id=USER)
    refused = forger.launch()
    assert refused.status == 400
    assert refused.body["error"] == "bad_signature"


# -- a watch through the proxy --------------------------------------------------------------------


def test_a_watch_pairs_by_voice_and_its_long_poll_is_woken_through_the_proxy(
    deployment: Deployment,
    sessions: Callable[..., requests.Session],
    connections: list[TrackedConnection],
) -> None:
    caddy = deployment.caddy
    watch = sessions(deployment, "127.0.0.4")
    speaker = deployment.speaker(sessions(deployment))

    started = start_pairing(watch, caddy)
    assert started.status_code == 200, started.text
    pairing = started.json()
    heard = speaker.says("PairWatchIntent", code=pairing["user_code"])
    assert "watch is paired" in heard.ssml
    issued = watch.post(
        caddy.url("/api/v1/token"),
        data={"grant_type": DEVICE_CODE_GRANT, "device_code": pairing["device_code"]},
        timeout=HTTP_TIMEOUT_S,
    )
    assert issued.status_code == 200, issued.text
    auth = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    assert speaker.says("StartRoutineIntent").status == 200

    before = watch.get(caddy.url("/api/v1/cues"), headers=auth, timeout=HTTP_TIMEOUT_S)
    assert before.status_code == 200
    poll = open_poll(
        caddy, connections, auth["Authorization"][len("Bearer ") :], before.headers["ETag"]
    )
    wait_until(lambda: waiting_in(deployment.server) == 1, "the poll waits in the app")

    assert speaker.says("AMAZON.NextIntent").status == 200
    # Reading gives up after HTTP_TIMEOUT_S, well before the poll's own WAIT_S.
    woken = poll.getresponse()
    assert woken.status == 200
    assert woken.getheader("ETag") not in (None, before.headers["ETag"])
    woken.read()

    for action in ("pause", "resume", "next"):
        moved = watch.post(
            caddy.url("/api/v1/actions"),
            json={"action": action},
            headers=auth,
            timeout=HTTP_TIMEOUT_S,
        )
        assert moved.status_code == 200, (action, moved.text)


# -- per-address limits see each client, and nobody can claim another's address ------------------


def test_each_client_address_has_its_own_pairing_limit_and_cannot_claim_another(
    deployment: Deployment, sessions: Callable[..., requests.Session]
) -> None:
    caddy = deployment.caddy
    busy = sessions(deployment, "127.0.0.2")
    other = sessions(deployment, "127.0.0.3")
    allowed = CLIENT_START_LIMIT.limit
    assert [start_pairing(busy, caddy).status_code for _ in range(allowed)] == [200] * allowed
    refused = start_pairing(busy, caddy)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0

    # Another address behind the same proxy keeps its own share.
    assert start_pairing(other, caddy).status_code == 200
    # Claiming to be someone else does not help: Caddy replaces an untrusted client's
    # X-Forwarded-For with the address it really came from...
    assert start_pairing(busy, caddy, **{"X-Forwarded-For": "127.0.0.9"}).status_code == 429
    # ... and does not let a client spend another's share either.
    assert start_pairing(other, caddy, **{"X-Forwarded-For": "127.0.0.2"}).status_code == 200


# -- stopping the app behind the proxy ----------------------------------------------------------


def test_sigterm_answers_a_poll_waiting_through_the_proxy_and_exits_zero(
    launcher: Launcher, tmp_path: Path, ca: DemoCA, connections: list[TrackedConnection]
) -> None:
    require_caddy()
    server = launcher.start(env=settings(tmp_path, ca))
    token = pair_watch(tmp_path / "coach.sqlite3", USER)
    etag = watch_get(server, token).headers["ETag"]
    with caddy_in_front(tmp_path / "caddy", server.port) as caddy:
        poll = open_poll(caddy, connections, token, etag)
        wait_until(lambda: waiting_in(server) == 1, "the poll waits in the app")

        server.signal(signal.SIGTERM)
        answer = poll.getresponse()
        assert answer.status == 304  # the run as it stands, not a 502 from a cut connection
        answer.read()
        assert server.process.wait(timeout=GRACEFUL_TIMEOUT_S + HTTP_TIMEOUT_S) == 0
        messages = [record.get("msg", "") for record in server.log_records()]
        assert "stopping: waking the long polls this worker holds" in messages
        assert "Worker graceful timeout" not in " ".join(messages)


def test_an_alexa_request_that_comes_while_the_app_restarts_is_held_until_it_is_back(
    launcher: Launcher, tmp_path: Path, ca: DemoCA
) -> None:
    require_caddy()
    server = launcher.start(env=settings(tmp_path, ca))
    with caddy_in_front(tmp_path / "caddy", server.port) as caddy, caddy.session() as session:
        server.signal(signal.SIGTERM)
        assert server.process.wait(timeout=GRACEFUL_TIMEOUT_S + HTTP_TIMEOUT_S) == 0
        # The app is down; its successor is starting (a supervisor's restart), not listening
        # yet. Caddy holds the request and tries again (lb_try_duration, buffer_requests).
        launcher.start(env=settings(tmp_path, ca), port=server.port, wait=False)
        speaker = AlexaSimulator(
            https_transport(caddy, session), ca, SKILL_ID, time.time, user_id=USER
        )
        assert speaker.launch().status == 200
