"""Where a test puts a run by voice before what it checks: into the first hold, or past step 1.

The clock is the test's own (a ManualClock), so "into the hold" is exact and nothing sleeps.
"""

from __future__ import annotations

from sciatica_coach.demo.simulator import AlexaSimulator
from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.engine import RunView


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
