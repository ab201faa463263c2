"""Fixtures for the watch side: the app, a paired `watch` helper, and a live server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sciatica_coach import create_app
from sciatica_coach.app import services_of
from shared.pairing.service import PairingService
from shared.routine.coach import Coach
from shared.services import put_services
from shared.stores.redis import RedisStore
from shared.stores.sqlite import SQLiteStore
from tests.support.redis_servers import redis_server
from tests.support.stores import AnyStore
from tests.support.watch import OTHER_USER, QUICK_ROUTINE, SpyNotifier, WatchActions, serving

# -- the app ------------------------------------------------------------------------------------


@pytest.fixture
def coach(app: Flask) -> Coach:
    return services_of(app).coach


@pytest.fixture
def notifier(coach: Coach) -> SpyNotifier:
    """Swapped in before any request, so long polls can be synchronised without sleeping."""
    spy = SpyNotifier()
    coach.notifier = spy
    return spy


@pytest.fixture
def pairing(app: Flask) -> PairingService:
    return services_of(app).pairing


@pytest.fixture
def watch(client: FlaskClient, pairing: PairingService) -> WatchActions:
    """A watch already paired to WATCH_USER."""
    helper = WatchActions(client, pairing)
    helper.pair()
    return helper


@pytest.fixture
def other_watch(client: FlaskClient, pairing: PairingService) -> WatchActions:
    """A second user's watch on the same server."""
    helper = WatchActions(client, pairing)
    helper.pair(OTHER_USER)
    return helper


# -- both stores: a test module that wants them puts `either_store` in its app_config ---------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """CI's Redis, or one of our own (tests/support/redis_servers.py); skipped or failed without."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def either_store(request: pytest.FixtureRequest, tmp_path: Path) -> AnyStore:
    """A fresh store of each kind in turn; the app given it as STORE closes it."""
    if request.param == "redis":
        store = RedisStore.from_url(request.getfixturevalue("redis_url"))
        store.client.flushdb()
        return store
    return SQLiteStore(tmp_path / "either.sqlite3")


# -- a live server on loopback, with the real clock ---------------------------------------------


@pytest.fixture
def quick_routine(tmp_path: Path) -> Path:
    path = tmp_path / "quick.toml"
    path.write_text(QUICK_ROUTINE, "utf-8")
    return path


@pytest.fixture
def live_app(tmp_path: Path, quick_routine: Path) -> Iterator[Flask]:
    """The real app on the wall clock with 1.5 s holds and a 1 s token-poll interval."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE": str(tmp_path / "live.sqlite3"),
            "ROUTINE_FILE": str(quick_routine),
            "DEV_SKIP_VERIFY": True,
        }
    )
    coach = services_of(app).coach
    quick_polls = PairingService(coach.store, coach.clock, interval_s=1)
    put_services(app.extensions, replace(services_of(app), pairing=quick_polls))
    yield app
    coach.store.close()


@pytest.fixture
def live_server(live_app: Flask) -> Iterator[str]:
    """werkzeug's threaded server on 127.0.0.1 and a free port; yields the base URL."""
    with serving(live_app, "live-server") as url:
        yield url


@pytest.fixture
def live_coach(live_app: Flask) -> Coach:
    return services_of(live_app).coach


@pytest.fixture
def live_pairing(live_app: Flask) -> PairingService:
    return services_of(live_app).pairing
