"""A speaker for an app, and where a test puts a run by voice: into the first hold, past step 1.

The clock is the test's own (a ManualClock), so "into the hold" is exact and nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.engine import RunView
from tests.support.paths import FIXTURES


def into_first_hold(
    speaker: AlexaSimulator, coach: Coach, clock: ManualClock, into: float
) -> RunView:
    """Start the routine and move the clock `into` seconds past the first hold's start.

    Returns the run as the start left it, so a test can compare the hold with what follows.
    """
    speaker.says("StartRoutineIntent")
    view = coach.view(speaker.user_id)
    clock.set(view.hold.start + into)
    return view


def past_first_step(speaker: AlexaSimulator, coach: Coach, clock: ManualClock) -> None:
    """Start the routine and move the clock past step 1's "Time's up", into the quiet after it."""
    speaker.says("StartRoutineIntent")
    clock.set(coach.view(speaker.user_id).state.step_end + 1)


def speaker_for(app: Flask, ca: DemoCA, clock: ManualClock, user_id: str) -> AlexaSimulator:
    """A speaker signing real envelopes to `app`'s /alexa through its test client."""
    client = app.test_client()

    def post(body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        response = client.post("/alexa", data=body, headers=dict(headers))
        return response.status_code, response.get_json(silent=True)

    return AlexaSimulator.from_fixture_dir(
        FIXTURES / "alexa",
        transport=post,
        ca=ca,
        skill_id=app.config["SKILL_ID"],
        clock=clock.now,
        user_id=user_id,
    )
