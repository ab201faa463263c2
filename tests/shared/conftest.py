"""Fixtures for the routine core: the routine, a manual clock, an engine, a store, a tuning."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.clock import ManualClock
from shared.notify.redis import RedisNotifier
from shared.routine.coach import Coach
from shared.routine.definition import Routine, load_routine
from shared.routine.engine import RoutineEngine
from shared.stores.redis import RedisStore
from shared.stores.sqlite import SQLiteStore
from shared.timing import SpeechTimingModel
from shared.timing.tuning import Tuning
from shared.timing.voices import Voices
from tests.support.core import Drive, make_drive
from tests.support.redis_servers import SentinelSetup, redis_cluster, redis_sentinel
from tests.support.stores import AnyStore, Instances, StoreSpec, empty
from tests.support.timing import TUNING_SCRIPT, TUNING_SECTION_S


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


@pytest.fixture
def tuning(store: SQLiteStore) -> Tuning:
    """A tuning of the short TUNING_SCRIPT over the users' voices, with the default timing."""
    return Tuning(Voices(store, SpeechTimingModel()), TUNING_SCRIPT, TUNING_SECTION_S)


# -- both stores: the contract tests run each test against SQLite and against Redis ------------


@pytest.fixture
def redis_store(redis_url: str) -> Iterator[RedisStore]:
    """A Redis store on a database emptied first, so each test starts from nothing."""
    db = RedisStore.from_url(redis_url)
    db.client.flushdb()
    yield db
    db.close()


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real three-node Redis Cluster (see redis_support), started once for the session."""
    with redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as url:
        yield url


@pytest.fixture(scope="session")
def redis_sentinel_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSetup]:
    """A real master, replica and Sentinel (see redis_support), started once for the session."""
    with redis_sentinel(tmp_path_factory.mktemp("redis-sentinel")) as setup:
        yield setup


@pytest.fixture(params=["sqlite", "redis", "redis-cluster"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    """Which back end a contract test runs on; a Redis one is asked for only when used.

    "redis-cluster" runs the very same contract on a real Redis Cluster, where any command
    or script whose keys span two slots fails with CROSSSLOT.
    """
    if request.param == "redis":
        request.getfixturevalue("redis_store")  # empties the database for this test
        return StoreSpec("redis", request.getfixturevalue("redis_url"))
    if request.param == "redis-cluster":
        url = request.getfixturevalue("redis_cluster_url")
        empty(url)
        return StoreSpec("redis", url)
    return StoreSpec("sqlite", str(tmp_path / "contract.sqlite3"))


@pytest.fixture
def any_store(store_spec: StoreSpec) -> Iterator[AnyStore]:
    """The store under contract: SQLite or Redis, fresh, closed after the test."""
    db = store_spec.open()
    yield db
    db.close()


@pytest.fixture
def instances(redis_url: str, request: pytest.FixtureRequest) -> Iterator[Instances]:
    """Two notifiers on one Redis, as two app instances have: `a` and `b`."""
    prefix = f"test:{request.node.name}:"  # no test hears another's changes
    pair = Instances(
        RedisNotifier.from_url(redis_url, prefix=prefix),
        RedisNotifier.from_url(redis_url, prefix=prefix),
    )
    yield pair
    pair.a.close()
    pair.b.close()
