"""Random event sequences on a moving clock: the engine's invariants hold after every step."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.clock import ManualClock
from shared.cues import CueKind
from shared.engine import (
    TRANSITIONS,
    Event,
    IllegalEvent,
    Phase,
    RoutineEngine,
    RunState,
    RunView,
    Status,
)
from shared.routine import Routine

RUNNING = {Phase.ANNOUNCING, Phase.HOLDING, Phase.AWAITING}
#: The phase each stored status (other than active) must read as.
PHASE_OF_STATUS = {
    Status.IDLE: Phase.IDLE,
    Status.PAUSED: Phase.PAUSED,
    Status.STOPPED: Phase.STOPPED,
    Status.COMPLETED: Phase.COMPLETED,
}
NEXT_DEADLINE = "next deadline"

# How far the clock moves before each event: anything up to two minutes, or exactly to
# the run's next deadline, so the boundaries between phases are hit on the dot.
advances = st.one_of(st.floats(0, 120, allow_nan=False), st.just(NEXT_DEADLINE))
lead_ins = st.one_of(st.none(), st.just(0.0), st.floats(0, 60, allow_nan=False))
scripts = st.lists(st.tuples(st.sampled_from(list(Event)), advances, lead_ins), max_size=40)


def next_deadline(state: RunState, now: float) -> float:
    ahead = [t for t in (state.hold_start, state.hold_end, state.step_end) if t and t > now]
    return min(ahead) - now if ahead else 0.0


def check_view(engine: RoutineEngine, view: RunView) -> None:
    state, now, phase = view.state, view.now, view.phase
    if state.status is Status.ACTIVE:
        assert phase in RUNNING or (
            phase is Phase.COMPLETED
            and state.step_index == engine.routine.last_index
            and now >= state.step_end
        )
    else:
        assert phase is PHASE_OF_STATUS[state.status]
    assert 0 <= state.step_index <= engine.routine.last_index
    assert (view.step is None) == (phase is Phase.IDLE)

    cue_times = [cue.at for cue in view.cues]
    assert cue_times == sorted(cue_times)
    assert all(at >= now for at in cue_times)
    if phase not in RUNNING:
        assert view.cues == ()
    for cue in view.cues:
        assert cue.step_index == state.step_index
        if cue.kind is CueKind.ROUTINE_COMPLETE:
            assert cue.step_index == engine.routine.last_index

    if view.hold is not None:
        hold = engine.routine.step(state.step_index).hold
        assert hold is not None
        assert 0 < view.hold.seconds <= hold.seconds
        assert 0 <= view.hold.remaining <= view.hold.seconds
    assert view.routine_remaining_s >= 0
    if phase is Phase.COMPLETED:
        assert view.routine_remaining_s == 0


@settings(max_examples=200, deadline=None, database=None)
@given(script=scripts)
def test_random_event_sequences_keep_every_invariant(
    routine: Routine, script: list[tuple[Event, float | str, float | None]]
) -> None:
    engine = RoutineEngine(routine)
    clock = ManualClock()
    state = engine.new_state()
    completed = False
    for event, advance, lead_in in script:
        clock.advance(next_deadline(state, clock.now()) if advance == NEXT_DEADLINE else advance)
        now = clock.now()
        before = engine.view(state, now)
        check_view(engine, before)
        if completed:
            assert before.phase is Phase.COMPLETED, "a completed run came back to life"

        if (before.phase, event) not in TRANSITIONS:
            with pytest.raises(IllegalEvent):
                engine.apply(state, event, now, lead_in)
            continue
        transition = engine.apply(state, event, now, lead_in)
        new = transition.state

        assert transition.before is before.phase
        assert transition.action is TRANSITIONS[(before.phase, event)]
        assert new.version >= state.version
        assert (new.version > state.version) is transition.changed
        if not transition.changed:
            assert new == state
        assert transition.completed is (new.status is Status.COMPLETED)

        after = engine.view(new, now)
        check_view(engine, after)
        if event in (Event.START, Event.START_OVER):
            # A zero lead-in starts the hold at once.
            assert after.phase in (Phase.ANNOUNCING, Phase.HOLDING)
            assert after.step_index == 0
            assert new.run_id != state.run_id
        elif completed:
            assert after.phase is Phase.COMPLETED
        completed = after.phase is Phase.COMPLETED
        state = new
