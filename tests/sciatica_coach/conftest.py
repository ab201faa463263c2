"""Fixtures for the application package: a clean environment, apps that tidy up, a demo coach."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.definition import load_routine
from shared.routine.engine import RoutineEngine
from shared.stores.sqlite import SQLiteStore
from shared.timing import SpeechTimingModel

AppFactory = Callable[..., Flask]


@pytest.fixture(autouse=True)
def _no_machine_settings(clean_environment: None) -> None:
    """Every test of the application package runs with no SCIATICA_* setting of the machine."""


@pytest.fixture
def env_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database SCIATICA_DB names, so a test can show that given settings win over it."""
    path = tmp_path / "from-env.sqlite3"
    monkeypatch.setenv("SCIATICA_DB", str(path))
    return path


@pytest.fixture
def demo_coach(tmp_path: Path, clock: ManualClock) -> Iterator[Coach]:
    """The core as the local demo wires it, on a manual clock and a temporary SQLite file."""
    store = SQLiteStore(tmp_path / "demo.sqlite3")
    yield Coach(store, RoutineEngine(load_routine(), SpeechTimingModel()), clock)
    store.close()
