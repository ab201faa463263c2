"""Fixtures for the routine core: the packaged routine, a manual clock, an engine and a store."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from core_support import Drive, make_drive

from shared.clock import ManualClock
from shared.coach import Coach
from shared.engine import RoutineEngine
from shared.routine import Routine, load_routine
from shared.speech_timing import SpeechTimingModel
from shared.sqlite_store import SQLiteStore


@pytest.fixture(scope="session")
def routine() -> Routine:
    """The packaged sciatica routine (loaded once; it is immutable)."""
    return load_routine()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_780_000_000.0)


@pytest.fixture
def engine(routine: Routine) -> RoutineEngine:
    """An engine whose run ids count up, so runs are told apart predictably."""
    counter = itertools.count(1)
    return RoutineEngine(routine, SpeechTimingModel(), new_run_id=lambda: f"run-{next(counter)}")


@pytest.fixture
def drive(engine: RoutineEngine, clock: ManualClock) -> Drive:
    """`drive(phase, step=1)`: a fresh run put into `phase` (see core_support.make_drive)."""
    return make_drive(engine, clock)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A fresh SQLite store in a temporary file, closed after the test."""
    db = SQLiteStore(tmp_path / "coach.sqlite3")
    yield db
    db.close()


@pytest.fixture
def coach(store: SQLiteStore, engine: RoutineEngine, clock: ManualClock) -> Coach:
    return Coach(store, engine, clock)
