"""Fixtures every test package shares: a hand-moved clock, the app, and a signed speaker."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings

from sciatica_coach import create_app
from sciatica_coach.app import coach_of, services_of
from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator, Transport
from shared.clock import ManualClock
from skill.alexa_settings import AlexaSettings, SettingsApiError
from tests.support.paths import FIXTURES
from tests.support.redis_servers import redis_server
from tests.support.serve import Launcher

# Property tests judge what the code does, never how fast the machine is: a per-example
# deadline or a "too slow" health check fails on two busy cores (seen: generating recursive
# JSON for test_any_json_is_a_profile_or_a_profile_error took 2.7 s with the CPU loaded).
settings.register_profile(
    "any-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("any-machine")
SKILL_ID = "amzn1.ask.skill.00000000-0000-4000-8000-5c1a71ca0c0a"


@pytest.fixture(autouse=True)
def amazon_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Calls to Alexa's own APIs (envelopes name them); tests never make them, they fail.

    The recorded envelopes carry Amazon's apiEndpoint and a token, so a skill asked for a
    time zone would go out to the internet; here it fails as an unreachable host would,
    and only a fake on loopback (tests/support/alexa_api.py) is really called.
    """
    attempted: list[str] = []
    real = AlexaSettings._get

    def loopback_only(self: AlexaSettings, url: str, token: str) -> bytes:
        if urlsplit(url).hostname not in ("127.0.0.1", "::1", "localhost"):
            attempted.append(url)
            raise SettingsApiError("tests never call Amazon")
        return real(self, url, token)

    monkeypatch.setattr(AlexaSettings, "_get", loopback_only)
    return attempted


@pytest.fixture(scope="session")
def demo_now() -> datetime:
    """The wall time the demo CAs are minted at; tests start their clocks here."""
    return datetime(2026, 11, 25, 18, 3, 46, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo_ca(demo_now: datetime) -> DemoCA:
    """The CA the verifier under test trusts, standing in for Amazon's."""
    return DemoCA.generate(now=demo_now)


@pytest.fixture(scope="session")
def other_ca(demo_now: datetime) -> DemoCA:
    """A well-formed CA the verifier does not trust, standing in for an impostor."""
    return DemoCA.generate(now=demo_now, name="Impostor")


@pytest.fixture
def clock(demo_now: datetime) -> ManualClock:
    """Time only moves when a test says so: a whole routine runs in milliseconds."""
    return ManualClock(demo_now.timestamp())


@pytest.fixture
def app_config(tmp_path: Path, clock: ManualClock, demo_ca: DemoCA) -> dict[str, Any]:
    """A config with a fresh SQLite file and verification on against the demo CA."""
    cache = tmp_path / "alexa-certs"
    demo_ca.install_chain(cache)
    return {
        "TESTING": True,
        "DATABASE": str(tmp_path / "coach.sqlite3"),
        "CLOCK": clock,
        "SKILL_ID": SKILL_ID,
        "ALEXA_CA_FILE": str(demo_ca.write_root(tmp_path / "alexa-root.pem")),
        "ALEXA_CERT_CACHE": str(cache),
        "DEV_SKIP_VERIFY": False,
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(app_config)
    yield app
    services_of(app).coach.store.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def flask_transport(client: FlaskClient) -> Transport:
    """Posts signed envelopes to /alexa through the test client."""

    def post(body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        response = client.post("/alexa", data=body, headers=dict(headers))
        return response.status_code, response.get_json(silent=True)

    return post


@pytest.fixture
def speaker(client: FlaskClient, demo_ca: DemoCA, clock: ManualClock) -> AlexaSimulator:
    """A signed Alexa speaker for one user, built from the recorded envelopes."""
    return AlexaSimulator.from_fixture_dir(
        FIXTURES / "alexa",
        transport=flask_transport(client),
        ca=demo_ca,
        skill_id=SKILL_ID,
        clock=clock.now,
        user_id="amzn1.ask.account.TEST-USER-ONE",
    )


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis for the session: CI's or our own (tests/support/redis_servers.py).

    Without one its tests are skipped, except in CI, where they fail; each test empties
    what it uses first.
    """
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def script_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """espeak-ng (en-us, 160 wpm) reading `sciatica-coach voice script`, as a WAV file."""
    from bench.espeak import VOICES, speak
    from shared.routine.definition import load_routine
    from skill.calibration import calibration_script
    from tests.support.espeak import require_espeak

    require_espeak()
    wav = tmp_path_factory.mktemp("voice") / "script.wav"
    return speak(calibration_script(load_routine()).ssml(), VOICES[0], wav)


AppFactory = Callable[..., Flask]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SCIATICA_* setting from the machine running the tests leaks into them."""
    for name in list(os.environ):
        if name.startswith("SCIATICA_"):
            monkeypatch.delenv(name)


@pytest.fixture
def make_app() -> Iterator[AppFactory]:
    """`make_app(config)` is create_app(config), with every store it opens closed afterwards."""
    made: list[Flask] = []

    def make(config: Mapping[str, Any] | None = None) -> Flask:
        app = create_app(config)
        made.append(app)
        return app

    yield make
    for app in made:
        coach_of(app).store.close()


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    """Starts `sciatica-coach serve` processes, and kills whichever are left at the end."""
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.kill_all()
