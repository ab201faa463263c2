"""Helpers shared by the core's tests (a module, since test modules cannot import conftest).

`make_drive` puts a fresh run into any phase by applying events while a manual clock
moves, so a test can start from "paused mid-hold at step 1" without repeating the steps.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.clock import ManualClock
from shared.pairing.service import PairingService
from shared.routine.coach import Coach
from shared.routine.engine import Event, Phase, RoutineEngine, RunState, Status
from shared.stores.base import CompletedRun

#: The lead-in (seconds of speech before a hold starts) every driven event uses.
LEAD_IN = 4.0
#: How far into a hold a driven run is when holding, paused or stopped.
INTO_HOLD = 10.0

Drive = Callable[..., RunState]


def make_drive(engine: RoutineEngine, clock: ManualClock) -> Drive:
    """`drive(phase, step=1)`: a run in `phase` at `step`, the clock left at that moment.

    Holding, paused and stopped runs are INTO_HOLD seconds into the step's hold (the step
    must have one); awaiting runs are one second past the step's end. Idle and completed
    runs ignore `step`.
    """

    def apply(state: RunState, event: Event) -> RunState:
        return engine.apply(state, event, clock.now(), LEAD_IN).state

    def drive(phase: Phase, step: int = 1) -> RunState:
        state = engine.new_state()
        if phase is Phase.IDLE:
            return state
        state = apply(state, Event.START)
        if phase is Phase.COMPLETED:
            for _ in range(len(engine.routine)):
                state = apply(state, Event.NEXT)
            assert engine.phase(state, clock.now()) is Phase.COMPLETED
            return state
        for _ in range(step):
            state = apply(state, Event.NEXT)
        hold = engine.routine.step(step).hold
        if phase is Phase.AWAITING:
            clock.advance(LEAD_IN + (hold.seconds if hold else 0.0) + 1.0)
        elif phase is not Phase.ANNOUNCING:
            assert hold is not None, f"step {step} has no hold to be {phase.value} in"
            clock.advance(LEAD_IN + INTO_HOLD)
            if phase is Phase.PAUSED:
                state = apply(state, Event.PAUSE)
            elif phase is Phase.STOPPED:
                state = apply(state, Event.STOP)
        assert engine.phase(state, clock.now()) is phase
        assert state.step_index == step
        return state

    return drive


#: Long enough for any step of the packaged routine: its words and its longest hold.
WHOLE_STEP_S = 150.0


def run_to_the_end(coach: Coach, user_id: str, clock: ManualClock) -> float:
    """A whole run as a person does it: start, 'next' after each step, the last one ending
    by itself as the clock moves. Returns when it finished (epoch s)."""
    coach.apply(user_id, Event.START)
    for _ in range(4 * len(coach.routine) + 1):
        clock.advance(WHOLE_STEP_S)
        view = coach.view(user_id)
        if view.phase is Phase.COMPLETED:
            assert view.state.completed_at is not None
            return view.state.completed_at
        coach.apply(user_id, Event.NEXT)
    raise AssertionError("the run never finished")


def finished_at(coach: Coach, user_id: str, *times: float) -> None:
    """Runs of `user_id` recorded as finished at `times`, as the Coach records a finished one."""
    for at in times:
        current = coach.store.load_run(user_id)
        version = current.version if current is not None else None
        run_id = f"run-{at}"
        done = RunState(
            coach.routine.id,
            version=(version or 0) + 1,
            status=Status.COMPLETED,
            run_id=run_id,
            started_at=at - 600,
            completed_at=at,
        )
        coach.store.save_run(
            user_id, done, version, CompletedRun(run_id, coach.routine.id, at - 600, at)
        )


def paired(service: PairingService, user: str) -> str:
    """A watch of `user` paired all the way through `service`; its access token."""
    start = service.start()
    service.bind(user, start.user_code)
    return service.exchange(start.device_code).access_token
