"""The pairing service under test: on a fresh SQLite file and a hand-moved clock."""

from __future__ import annotations

import random

import pytest

from shared.clock import ManualClock
from shared.pairing.service import PairingService
from shared.stores.sqlite import SQLiteStore


@pytest.fixture
def service(store: SQLiteStore, clock: ManualClock) -> PairingService:
    """A pairing service with a seeded rng, so codes repeat run to run."""
    return PairingService(store, clock, random.Random(4829))
