"""The app's services in one object, kept and found one way, with no web framework involved."""

from __future__ import annotations

from typing import Any

import pytest

from shared.clock import ManualClock
from shared.pairing.service import PairingService
from shared.routine.coach import Coach
from shared.services import EXTENSION, AppServices, put_services, services_in
from shared.stores.sqlite import SQLiteStore
from shared.timing import SpeechTimingModel
from shared.timing.tuning import Tuning
from shared.timing.voices import Voices
from tests.support.timing import TUNING_SCRIPT


@pytest.fixture
def services(coach: Coach, store: SQLiteStore, clock: ManualClock) -> AppServices:
    voices = Voices(store, SpeechTimingModel())
    return AppServices(coach, PairingService(store, clock), voices, Tuning(voices, TUNING_SCRIPT))


def test_services_kept_are_the_services_found(services: AppServices) -> None:
    extensions: dict[str, Any] = {}
    put_services(extensions, services)
    assert services_in(extensions) is services
    assert list(extensions) == [EXTENSION]


def test_keeping_them_again_replaces_them(services: AppServices) -> None:
    extensions: dict[str, Any] = {}
    put_services(extensions, services)
    other = AppServices(services.coach, services.pairing, services.voices, services.tuning)
    put_services(extensions, other)
    assert services_in(extensions) is other


@pytest.mark.parametrize("extensions", [{}, {EXTENSION: "something else"}])
def test_an_app_without_them_says_so(extensions: dict[str, Any]) -> None:
    with pytest.raises(LookupError, match="not built by create_app"):
        services_in(extensions)


def test_they_cannot_be_swapped_one_by_one(services: AppServices) -> None:
    with pytest.raises(AttributeError):
        services.coach = services.coach  # type: ignore[misc]
