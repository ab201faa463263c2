"""The real `sciatica-coach serve` against the document it serves: no 5xx, no schema drift.

The in-process fuzz (tests/wearable/api/test_openapi.py) checks the app; this one reads the
live `/api/v1/openapi.json` over HTTP from the production server (gunicorn, gevent) and sends
every case through it, as a watch would, so what the server stack adds or changes on the way
(headers, framing, a 304's missing body, refusals made before the app) is checked too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from shared.clock import SystemClock
from shared.pairing.service import PairingService
from shared.routine.coach import Coach
from shared.routine.definition import load_routine
from shared.routine.engine import Event, Phase, RoutineEngine
from shared.stores.sqlite import SQLiteStore
from shared.timing import SpeechTimingModel
from shared.timing.tuning import Tuning
from shared.timing.voices import Voices
from skill.calibration import calibration_script
from tests.support.openapi import NO_2XX_BY_FUZZING, as_a_paired_watch, fuzz_config
from tests.support.serve import SKILL_ID, Launcher, Server
from wearable.api.openapi import build_spec

#: Like every test of the app package: no SCIATICA_* setting of the machine leaks in.
pytestmark = pytest.mark.usefixtures("clean_environment")

USER = "amzn1.ask.account.SERVE-OPENAPI"
#: Cases per operation, valid and invalid together: a few hundred requests in all.
EXAMPLES = 40


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, SQLiteStore]]:
    """One server for the module, and the core's own handle on its SQLite file."""
    tmp_path = tmp_path_factory.mktemp("serve-openapi")
    launcher = Launcher(tmp_path)
    db = tmp_path / "coach.sqlite3"
    server = launcher.start("--db", str(db), "--skill-id", SKILL_ID)
    store = SQLiteStore(db)
    yield server, store
    store.close()
    launcher.kill_all()


@pytest.fixture
def pairing(live: tuple[Server, SQLiteStore]) -> PairingService:
    return PairingService(live[1], SystemClock())


@pytest.fixture
def authorization(live: tuple[Server, SQLiteStore], pairing: PairingService) -> str:
    """A watch paired on the server's store, its run under way and its face listening for a
    tuning, so cue and tuning answers are full ones."""
    started = pairing.start()
    pairing.bind(USER, started.user_code)
    token = pairing.exchange(started.device_code).access_token
    coach = Coach(live[1], RoutineEngine(load_routine(), SpeechTimingModel()), SystemClock())
    if coach.view(USER).phase in (Phase.IDLE, Phase.COMPLETED):
        coach.apply(USER, Event.START)
    voices = Voices(live[1], SpeechTimingModel())
    Tuning(voices, calibration_script(load_routine())).listen(USER, SystemClock().now())
    return f"Bearer {token}"


OPERATIONS = [
    (path, method.upper()) for path, ops in build_spec()["paths"].items() for method in ops
]


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_the_live_server_answers_every_case_as_its_own_document_says(
    live: tuple[Server, SQLiteStore],
    pairing: PairingService,
    authorization: str,
    path: str,
    method: str,
) -> None:
    server, _ = live
    schema = schemathesis.openapi.from_url(server.url("/api/v1/openapi.json"), config=fuzz_config())
    operation = schema[path][method]
    statuses: set[int] = set()

    @given(case=st.one_of(operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE)))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(case: Any) -> None:
        as_a_paired_watch(case, authorization, pairing, USER)
        statuses.add(case.call_and_validate(timeout=10).status_code)

    fuzz()
    assert not [status for status in statuses if status >= 500], statuses
    if (path, method) not in NO_2XX_BY_FUZZING:
        assert any(200 <= status < 300 for status in statuses), statuses
