"""Fixtures for the application package: a clean environment, apps that tidy up, a demo coach."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from sciatica_coach import create_app
from sciatica_coach.app import coach_of
from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.definition import load_routine
from shared.routine.engine import RoutineEngine
from shared.stores.sqlite import SQLiteStore
from shared.timing import SpeechTimingModel

AppFactory = Callable[..., Flask]


@pytest.fixture(autouse=True)
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
def demo_coach(tmp_path: Path, clock: ManualClock) -> Iterator[Coach]:
    """The core as the local demo wires it, on a manual clock and a temporary SQLite file."""
    store = SQLiteStore(tmp_path / "demo.sqlite3")
    yield Coach(store, RoutineEngine(load_routine(), SpeechTimingModel()), clock)
    store.close()
