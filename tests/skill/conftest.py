"""Fixtures for the skill's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from sciatica_coach import create_app
from sciatica_coach.app import coach_of
from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock
from shared.routine.coach import Coach
from skill import verification
from tests.support.chain_server import ChainServer
from tests.support.voice import speaker_for


@pytest.fixture
def chain_server() -> Iterator[ChainServer]:
    """A real HTTP server on loopback, so download_chain is tested over a socket."""
    with ChainServer(
        b"-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n"
    ) as server:
        yield server


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every chain download an app built after this fixture attempts; none ever succeeds."""
    attempted: list[str] = []

    def no_download(url: str, **_: object) -> bytes:
        attempted.append(url)
        raise OSError("tests never download a chain")

    monkeypatch.setattr(verification, "download_chain", no_download)
    return attempted


@pytest.fixture
def guarded_app(app_config: dict[str, Any], downloads: list[str]) -> Iterator[Flask]:
    """The verified app of tests/conftest.py, built so that it cannot download a chain."""
    app = create_app(app_config)
    yield app
    coach_of(app).store.close()


@pytest.fixture
def guarded_speaker(guarded_app: Flask, demo_ca: DemoCA, clock: ManualClock) -> AlexaSimulator:
    """A signed speaker talking to guarded_app."""
    return speaker_for(guarded_app, demo_ca, clock, "amzn1.ask.account.TEST-USER-GUARDED")


@pytest.fixture
def coach(app: Flask) -> Coach:
    """The app's own Coach, to look at the run the skill moved."""
    return coach_of(app)
