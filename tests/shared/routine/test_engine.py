"""The routine engine: a state machine over absolute deadlines, read through a manual clock."""

from __future__ import annotations

import itertools
import json
import logging
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from shared.clock import ManualClock, ScaledClock
from shared.routine.coach import Coach
from shared.routine.cues import WARNING_LEAD_S, Cue, CueKind
from shared.routine.definition import Routine, Side, Step, load_routine, parse_routine
from shared.routine.engine import (
    TRANSITIONS,
    Action,
    Announcement,
    Event,
    IllegalEvent,
    LeadIn,
    Phase,
    RoutineEngine,
    RunState,
    RunView,
    Said,
    Status,
)
from shared.routine.settings import Flow, Settings
from shared.stores.sqlite import SQLiteStore
from shared.timing import SpeechTimingModel
from tests.support.core import INTO_HOLD, LEAD_IN, Drive

HOLD_S = 30.0
LAST = 5  # the packaged routine's "close" step
HOLD_STEPS = (0, 1, 3, 4)


def step_length(engine: RoutineEngine, step: Step) -> float:
    return engine.timing.estimate(step.say) + (step.hold.seconds if step.hold else 0.0)


def remaining_after(engine: RoutineEngine, index: int) -> float:
    """Estimated seconds of the steps after `index`."""
    return sum(step_length(engine, s) for s in engine.routine.steps[index + 1 :])


# -- the whole table ---------------------------------------------------------------------

# The expected machine, written out by hand (not read from TRANSITIONS): every change to the
# engine's table must be mirrored here. Columns are events, rows phases; "illegal" raises.
ILLEGAL = "illegal"
# Short names so a row of the table fits on a line.
BEGIN, ADV, BACK, REDO = Action.BEGIN, Action.ADVANCE, Action.GO_BACK, Action.RESTART_STEP
PAUSE, RESUME, STOP, NOOP = Action.PAUSE, Action.RESUME, Action.STOP, Action.NOTHING
CARRY = Action.CARRY_ON
NO = ILLEGAL
COLUMNS = (
    Event.START,
    Event.NEXT,
    Event.PREVIOUS,
    Event.REPEAT,
    Event.PAUSE,
    Event.RESUME,
    Event.START_OVER,
    Event.STOP,
    Event.TIME_LEFT,
    Event.CARRY_ON,
)
# fmt: off
EXPECTED_ROWS: dict[Phase, tuple[Action | str, ...]] = {
    #                  start  next  previous repeat pause   resume  over   stop  time   carry
    Phase.IDLE:       (BEGIN, NO,   NO,      NO,    NO,     NO,     BEGIN, NOOP, NOOP, NOOP),
    Phase.ANNOUNCING: (NO,    ADV,  BACK,    REDO,  PAUSE,  NOOP,   BEGIN, STOP, NOOP, CARRY),
    Phase.HOLDING:    (NO,    ADV,  BACK,    REDO,  PAUSE,  NOOP,   BEGIN, STOP, NOOP, CARRY),
    Phase.AWAITING:   (NO,    ADV,  BACK,    REDO,  PAUSE,  NOOP,   BEGIN, STOP, NOOP, CARRY),
    Phase.PAUSED:     (NO,    ADV,  BACK,    REDO,  NOOP,   RESUME, BEGIN, STOP, NOOP, NOOP),
    Phase.STOPPED:    (NO,    ADV,  BACK,    REDO,  NOOP,   RESUME, BEGIN, NOOP, NOOP, NOOP),
    Phase.COMPLETED:  (BEGIN, NO,   NO,      NOOP,  NO,     NO,     BEGIN, NOOP, NOOP, NOOP),
}
# fmt: on
EXPECTED_TABLE: dict[tuple[Phase, Event], Action | str] = {
    (phase, event): cell
    for phase, row in EXPECTED_ROWS.items()
    for event, cell in zip(COLUMNS, row, strict=True)
}


def test_the_expected_table_names_every_phase_and_event_once() -> None:
    assert sorted(COLUMNS) == sorted(Event)
    assert set(EXPECTED_ROWS) == set(Phase)
    assert len(EXPECTED_TABLE) == len(Phase) * len(Event)


def test_the_engines_table_is_exactly_the_expected_one() -> None:
    legal = {pair: cell for pair, cell in EXPECTED_TABLE.items() if cell != ILLEGAL}
    assert legal == TRANSITIONS


#: Where a legal event leaves a run that was at step 1: (phase, step), None for "unchanged".
EXPECTED_AFTER: dict[Action, tuple[Phase, int] | None] = {
    Action.BEGIN: (Phase.ANNOUNCING, 0),
    Action.ADVANCE: (Phase.ANNOUNCING, 2),
    Action.GO_BACK: (Phase.ANNOUNCING, 0),
    Action.RESTART_STEP: (Phase.ANNOUNCING, 1),
    Action.PAUSE: (Phase.PAUSED, 1),
    Action.RESUME: (Phase.ANNOUNCING, 1),
    Action.STOP: (Phase.STOPPED, 1),
    # Waiting for next: a hold keeps its end, and nothing else moves.
    Action.CARRY_ON: None,
    Action.NOTHING: None,
}


@pytest.mark.parametrize(("phase", "event"), list(EXPECTED_TABLE))
def test_every_phase_and_event_does_what_the_expected_table_says(
    drive: Drive, engine: RoutineEngine, clock: ManualClock, phase: Phase, event: Event
) -> None:
    state = drive(phase, step=1)
    # A moment later, so that even repeating a step just announced is a change.
    now = clock.advance(0.5)
    assert engine.phase(state, now) is phase
    expected = EXPECTED_TABLE[(phase, event)]
    if expected == ILLEGAL:
        with pytest.raises(IllegalEvent) as caught:
            engine.apply(state, event, now, LEAD_IN)
        assert (caught.value.phase, caught.value.event) == (phase, event)
        assert str(caught.value) == f"cannot {event.value} while {phase.value}"
        return
    assert isinstance(expected, Action)
    transition = engine.apply(state, event, now, LEAD_IN)
    assert (transition.event, transition.action, transition.before) == (event, expected, phase)
    after = EXPECTED_AFTER[expected]
    if after is None:
        assert transition.state == state
        assert not transition.changed
        return
    assert (engine.phase(transition.state, now), transition.state.step_index) == after
    assert transition.changed
    assert transition.state.version == state.version + 1
    if expected is Action.BEGIN:
        assert transition.state.run_id not in (None, state.run_id)
    else:
        assert transition.state.run_id == state.run_id


def test_the_table_only_lets_a_run_start_when_none_is_under_way() -> None:
    starts = {phase for phase, event in TRANSITIONS if event is Event.START}
    assert starts == {Phase.IDLE, Phase.COMPLETED}


def test_every_action_of_the_table_is_carried_out_by_its_own_method() -> None:
    assert set(RoutineEngine._BY_ACTION) == set(Action)
    assert {action for action in TRANSITIONS.values()} <= set(RoutineEngine._BY_ACTION)


@pytest.mark.parametrize("phase", list(Phase))
def test_a_run_is_under_way_while_a_step_is_said_held_or_awaits_next(phase: Phase) -> None:
    moving = {Phase.ANNOUNCING, Phase.HOLDING, Phase.AWAITING}
    assert phase.under_way is (phase in moving)
    assert phase.resumable is (phase in moving | {Phase.PAUSED, Phase.STOPPED})


@pytest.mark.parametrize("phase", list(Phase))
def test_the_table_lets_exactly_the_runs_under_way_be_paused(phase: Phase) -> None:
    """The rule the voice and the wrist both rely on, in the table and in Phase alike."""
    assert (TRANSITIONS.get((phase, Event.PAUSE)) is Action.PAUSE) is phase.under_way


@pytest.mark.parametrize(
    ("phase", "step", "settles"),
    [
        (Phase.ANNOUNCING, LAST, True),
        (Phase.ANNOUNCING, 1, False),
        (Phase.HOLDING, 4, False),
        (Phase.AWAITING, 1, False),
        (Phase.PAUSED, 1, False),
        (Phase.IDLE, 0, False),
        (Phase.COMPLETED, 0, False),
    ],
)
def test_a_run_settles_by_the_clock_only_while_its_last_step_is_said_or_held(
    engine: RoutineEngine, clock: ManualClock, drive: Drive, phase: Phase, step: int, settles: bool
) -> None:
    state = drive(phase, step)
    view = engine.view(state, clock.now())
    assert view.settles_at == (state.step_end if settles else None)
    if settles:
        assert view.settles_at is not None
        after = engine.view(state, view.settles_at)
        assert after.phase is Phase.COMPLETED


# -- starting and the phases of a step ---------------------------------------------------


def test_start_announces_step_zero_with_the_hold_after_the_lead_in(
    engine: RoutineEngine, clock: ManualClock
) -> None:
    now = clock.now()
    transition = engine.apply(engine.new_state(), Event.START, now, LEAD_IN)
    state = transition.state
    assert engine.phase(state, now) is Phase.ANNOUNCING
    assert state.status is Status.ACTIVE
    assert state.step_index == 0
    assert state.run_id == "run-1"
    assert state.started_at == state.step_started_at == now
    assert state.hold_start == now + LEAD_IN
    assert state.hold_end == state.step_end == now + LEAD_IN + HOLD_S
    assert transition.announcement == Announcement(0)


def test_run_is_holding_once_the_lead_in_is_over(engine: RoutineEngine, clock: ManualClock) -> None:
    start = clock.now()
    state = engine.apply(engine.new_state(), Event.START, start, LEAD_IN).state
    assert engine.phase(state, start + LEAD_IN - 0.001) is Phase.ANNOUNCING
    assert engine.phase(state, start + LEAD_IN) is Phase.HOLDING
    assert engine.phase(state, start + LEAD_IN + HOLD_S - 0.001) is Phase.HOLDING


def test_run_awaits_the_next_step_once_the_hold_ends(
    engine: RoutineEngine, clock: ManualClock
) -> None:
    start = clock.now()
    state = engine.apply(engine.new_state(), Event.START, start, LEAD_IN).state
    assert engine.phase(state, start + LEAD_IN + HOLD_S) is Phase.AWAITING
    assert engine.phase(state, start + 10_000) is Phase.AWAITING


def test_step_without_a_hold_awaits_once_spoken(drive: Drive, engine: RoutineEngine) -> None:
    state = drive(Phase.ANNOUNCING, step=2)
    assert state.hold_start is state.hold_end is None
    assert state.step_end == state.step_started_at + LEAD_IN
    assert engine.phase(state, state.step_end) is Phase.AWAITING


# -- pausing, stopping, resuming ---------------------------------------------------------


def test_pause_mid_hold_keeps_remaining_time_however_long_the_pause(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    paused = drive(Phase.PAUSED, step=1)
    left = HOLD_S - INTO_HOLD
    assert engine.view(paused, clock.now()).hold.remaining == left
    clock.advance(1000)
    assert engine.phase(paused, clock.now()) is Phase.PAUSED
    assert engine.view(paused, clock.now()).hold.remaining == left

    resume_at = clock.now()
    transition = engine.apply(paused, Event.RESUME, resume_at, 3.0)
    resumed = transition.state
    assert transition.announcement == Announcement(1, resumed_hold_s=left)
    assert resumed.step_index == 1
    assert resumed.hold_start == resume_at + 3.0
    assert resumed.hold_end == resumed.step_end == resume_at + 3.0 + left
    assert resumed.paused_at is None
    clock.advance(3.0)
    assert engine.phase(resumed, clock.now()) is Phase.HOLDING
    assert engine.view(resumed, clock.now()).hold.remaining == left


def test_pausing_again_while_a_resumed_hold_is_being_picked_up_keeps_what_was_left(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    paused = drive(Phase.PAUSED, step=1)
    left = HOLD_S - INTO_HOLD
    resumed = engine.apply(paused, Event.RESUME, clock.now(), 3.0).state
    clock.advance(1.0)  # still inside "picking up your hold..."
    assert engine.phase(resumed, clock.now()) is Phase.ANNOUNCING
    paused_again = engine.apply(resumed, Event.PAUSE, clock.now()).state
    clock.advance(500)
    transition = engine.apply(paused_again, Event.RESUME, clock.now(), 2.0)
    assert transition.announcement == Announcement(1, resumed_hold_s=left)
    assert transition.state.hold_end - transition.state.hold_start == left


def test_resumed_hold_without_a_lead_in_carries_on_at_once(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    paused = drive(Phase.PAUSED, step=1)
    clock.advance(60)
    resumed = engine.apply(paused, Event.RESUME, clock.now()).state
    assert engine.phase(resumed, clock.now()) is Phase.HOLDING
    assert resumed.hold_end == clock.now() + HOLD_S - INTO_HOLD


def test_pause_while_announcing_then_resume_announces_the_step_again(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    state = drive(Phase.ANNOUNCING, step=1)
    clock.advance(LEAD_IN / 2)
    paused = engine.apply(state, Event.PAUSE, clock.now(), LEAD_IN).state
    assert engine.view(paused, clock.now()).hold.remaining == HOLD_S
    clock.advance(100)
    transition = engine.apply(paused, Event.RESUME, clock.now(), LEAD_IN)
    assert transition.announcement == Announcement(1)
    assert transition.state.step_started_at == clock.now()
    assert transition.state.hold_start == clock.now() + LEAD_IN
    assert transition.state.hold_end - transition.state.hold_start == HOLD_S


def test_pause_while_awaiting_then_resume_keeps_awaiting(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    state = drive(Phase.AWAITING, step=1)
    paused = engine.apply(state, Event.PAUSE, clock.now()).state
    clock.advance(500)
    transition = engine.apply(paused, Event.RESUME, clock.now(), LEAD_IN)
    assert transition.announcement is None
    assert engine.phase(transition.state, clock.now()) is Phase.AWAITING
    assert transition.state.step_index == 1
    assert transition.state.hold_end - transition.state.hold_start == HOLD_S
    assert engine.view(transition.state, clock.now()).cues == ()


def test_stop_then_resume_announces_the_step_with_the_full_hold(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    stopped = drive(Phase.STOPPED, step=1)
    clock.advance(3600)
    transition = engine.apply(stopped, Event.RESUME, clock.now(), LEAD_IN)
    assert transition.announcement == Announcement(1)
    assert transition.state.hold_start == clock.now() + LEAD_IN
    assert transition.state.hold_end == clock.now() + LEAD_IN + HOLD_S


# -- navigating --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("from_step", "to_step", "at_first_step"),
    [(0, 0, True), (1, 0, False), (4, 3, False)],
)
def test_previous_goes_back_one_step_and_says_when_there_was_none(
    drive: Drive,
    engine: RoutineEngine,
    clock: ManualClock,
    from_step: int,
    to_step: int,
    at_first_step: bool,
) -> None:
    state = drive(Phase.HOLDING, step=from_step)
    transition = engine.apply(state, Event.PREVIOUS, clock.now(), LEAD_IN)
    assert transition.state.step_index == to_step
    assert transition.at_first_step is at_first_step
    assert transition.announcement == Announcement(to_step, at_first_step=at_first_step)
    assert transition.state.hold_start == clock.now() + LEAD_IN


def test_repeat_during_a_hold_restarts_it_with_a_new_full_window(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    state = drive(Phase.HOLDING, step=3)
    transition = engine.apply(state, Event.REPEAT, clock.now(), LEAD_IN)
    repeated = transition.state
    assert repeated.step_index == 3
    assert repeated.run_id == state.run_id
    assert repeated.hold_start == clock.now() + LEAD_IN > state.hold_start
    assert repeated.hold_end - repeated.hold_start == HOLD_S
    assert engine.view(repeated, clock.now() + LEAD_IN).hold.remaining == HOLD_S


def test_next_during_a_hold_skips_to_the_next_step(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    state = drive(Phase.HOLDING, step=3)
    transition = engine.apply(state, Event.NEXT, clock.now(), LEAD_IN)
    assert transition.state.step_index == 4
    assert transition.announcement == Announcement(4)
    assert engine.phase(transition.state, clock.now()) is Phase.ANNOUNCING


def test_next_on_the_last_step_completes_the_run(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    state = drive(Phase.ANNOUNCING, step=LAST)
    transition = engine.apply(state, Event.NEXT, clock.now(), LEAD_IN)
    assert transition.completed
    assert transition.announcement is None
    assert transition.state.status is Status.COMPLETED
    assert transition.state.completed_at == clock.now()
    assert engine.phase(transition.state, clock.now()) is Phase.COMPLETED


def test_running_past_the_end_of_the_last_step_completes_the_run(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    state = drive(Phase.ANNOUNCING, step=LAST)
    assert engine.settle(state, state.step_end - 0.001) is state
    assert engine.phase(state, state.step_end) is Phase.COMPLETED

    settled = engine.settle(state, state.step_end + 60)
    assert settled.status is Status.COMPLETED
    assert settled.completed_at == state.step_end
    assert settled.version == state.version + 1
    assert engine.settle(settled, state.step_end + 120) is settled


@pytest.mark.parametrize("phase", list(Phase))
def test_start_over_from_any_phase_begins_a_new_run_at_step_zero(
    drive: Drive, engine: RoutineEngine, clock: ManualClock, phase: Phase
) -> None:
    state = drive(phase, step=4)
    transition = engine.apply(state, Event.START_OVER, clock.now(), LEAD_IN)
    fresh = transition.state
    assert fresh.run_id is not None
    assert fresh.run_id != state.run_id
    assert fresh.step_index == 0
    assert fresh.started_at == clock.now()
    assert fresh.completed_at is fresh.paused_at is None
    assert engine.phase(fresh, clock.now()) is Phase.ANNOUNCING


@pytest.mark.parametrize("event", [Event.NEXT, Event.PREVIOUS, Event.PAUSE, Event.RESUME])
def test_a_completed_run_refuses_to_move(
    drive: Drive, engine: RoutineEngine, clock: ManualClock, event: Event
) -> None:
    completed = drive(Phase.COMPLETED)
    with pytest.raises(IllegalEvent):
        engine.apply(completed, event, clock.now(), LEAD_IN)


def test_a_run_that_ran_past_its_end_is_completed_for_events_too(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    state = drive(Phase.ANNOUNCING, step=LAST)
    clock.set(state.step_end + 1)
    with pytest.raises(IllegalEvent) as caught:
        engine.apply(state, Event.NEXT, clock.now(), LEAD_IN)
    assert caught.value.phase is Phase.COMPLETED


# -- time left ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "hold_left", "routine_left"),
    [
        (Phase.ANNOUNCING, HOLD_S, lambda e: remaining_after(e, 1) + LEAD_IN + HOLD_S),
        (Phase.HOLDING, HOLD_S - INTO_HOLD, lambda e: remaining_after(e, 1) + HOLD_S - INTO_HOLD),
        (Phase.AWAITING, 0.0, lambda e: remaining_after(e, 1)),
        (Phase.PAUSED, HOLD_S - INTO_HOLD, lambda e: remaining_after(e, 1) + HOLD_S - INTO_HOLD),
        # A stopped hold starts again in full, so the whole step is still to come.
        (Phase.STOPPED, HOLD_S, lambda e: remaining_after(e, 0)),
        (Phase.IDLE, None, lambda e: remaining_after(e, -1)),
        (Phase.COMPLETED, None, lambda e: 0.0),
    ],
)
def test_time_left_in_every_phase(
    drive: Drive,
    engine: RoutineEngine,
    clock: ManualClock,
    phase: Phase,
    hold_left: float | None,
    routine_left: Callable[[RoutineEngine], float],
) -> None:
    state = drive(phase, step=1)
    transition = engine.apply(state, Event.TIME_LEFT, clock.now(), LEAD_IN)
    assert not transition.changed
    view = engine.view(transition.state, clock.now())
    assert view.phase is phase
    if hold_left is None:
        assert view.hold is None
    else:
        assert view.hold.remaining == hold_left
        assert view.hold.seconds == HOLD_S
    assert view.routine_remaining_s == pytest.approx(routine_left(engine))


def test_idle_time_left_is_the_whole_routine_in_minutes(engine: RoutineEngine) -> None:
    total = engine.view(engine.new_state(), 0.0).routine_remaining_s
    # Four 30 s holds plus the spoken words: a few minutes.
    assert 4 * HOLD_S < total < 15 * 60


def test_hold_time_left_counts_down_while_holding(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    state = drive(Phase.HOLDING, step=1)
    seen = []
    for _ in range(4):
        seen.append(engine.view(state, clock.now()).hold.remaining)
        clock.advance(5)
    assert seen == [20.0, 15.0, 10.0, 5.0]
    clock.advance(5)
    view = engine.view(state, clock.now())
    assert view.phase is Phase.AWAITING
    assert view.hold.remaining == 0.0


@pytest.mark.parametrize("phase", [Phase.PAUSED, Phase.STOPPED])
def test_time_left_is_frozen_while_paused_or_stopped(
    drive: Drive, engine: RoutineEngine, clock: ManualClock, phase: Phase
) -> None:
    state = drive(phase, step=1)
    before = engine.view(state, clock.now())
    clock.advance(900)
    after = engine.view(state, clock.now())
    assert (after.hold, after.routine_remaining_s) == (before.hold, before.routine_remaining_s)


def test_pausing_again_during_the_pick_up_counts_only_the_hold_left(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    left = HOLD_S - INTO_HOLD
    resumed = engine.apply(drive(Phase.PAUSED, step=1), Event.RESUME, clock.now(), 3.0).state
    clock.advance(1.0)  # "picking up your hold..." is still being said
    paused_again = engine.apply(resumed, Event.PAUSE, clock.now()).state
    view = engine.view(paused_again, clock.now())
    assert view.hold.remaining == left
    # Not the whole step again: resume carries on with the 20 s that were left.
    assert view.routine_remaining_s == pytest.approx(remaining_after(engine, 1) + left)
    assert view.hold.started


def test_a_run_stopped_during_a_resumed_hold_reports_the_full_hold_resume_restarts(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    resumed = engine.apply(drive(Phase.PAUSED, step=1), Event.RESUME, clock.now(), 3.0).state
    clock.advance(3.0 + 5.0)
    stopped = engine.apply(resumed, Event.STOP, clock.now()).state
    view = engine.view(stopped, clock.now())
    assert (view.hold.remaining, view.hold.seconds) == (HOLD_S, HOLD_S)
    assert view.routine_remaining_s == pytest.approx(remaining_after(engine, 0))
    again = engine.apply(stopped, Event.RESUME, clock.now(), LEAD_IN).state
    assert again.hold_end - again.hold_start == HOLD_S
    assert not view.hold.started


def _paused_in_hold(drive: Drive, engine: RoutineEngine, clock: ManualClock) -> RunState:
    return drive(Phase.PAUSED, step=1)


def _paused_announcing(drive: Drive, engine: RoutineEngine, clock: ManualClock) -> RunState:
    state = drive(Phase.ANNOUNCING, step=1)
    clock.advance(LEAD_IN / 2)
    return engine.apply(state, Event.PAUSE, clock.now()).state


def _paused_awaiting(step: int) -> Callable[[Drive, RoutineEngine, ManualClock], RunState]:
    def build(drive: Drive, engine: RoutineEngine, clock: ManualClock) -> RunState:
        return engine.apply(drive(Phase.AWAITING, step=step), Event.PAUSE, clock.now()).state

    return build


def _paused_in_pick_up(drive: Drive, engine: RoutineEngine, clock: ManualClock) -> RunState:
    resumed = engine.apply(drive(Phase.PAUSED, step=1), Event.RESUME, clock.now(), 3.0).state
    clock.advance(1.0)
    return engine.apply(resumed, Event.PAUSE, clock.now()).state


def _paused_in_resumed_hold(drive: Drive, engine: RoutineEngine, clock: ManualClock) -> RunState:
    resumed = engine.apply(drive(Phase.PAUSED, step=1), Event.RESUME, clock.now(), 3.0).state
    clock.advance(3.0 + 5.0)
    return engine.apply(resumed, Event.PAUSE, clock.now()).state


def _stopped_in_hold(drive: Drive, engine: RoutineEngine, clock: ManualClock) -> RunState:
    return drive(Phase.STOPPED, step=1)


def _stopped_in_resumed_hold(drive: Drive, engine: RoutineEngine, clock: ManualClock) -> RunState:
    resumed = engine.apply(drive(Phase.PAUSED, step=1), Event.RESUME, clock.now(), 3.0).state
    clock.advance(3.0 + 5.0)
    return engine.apply(resumed, Event.STOP, clock.now()).state


def _stopped_awaiting(drive: Drive, engine: RoutineEngine, clock: ManualClock) -> RunState:
    return engine.apply(drive(Phase.AWAITING, step=2), Event.STOP, clock.now()).state


@pytest.mark.parametrize(
    ("build", "started"),
    [
        pytest.param(_paused_in_hold, True, id="paused-in-hold"),
        pytest.param(_paused_announcing, False, id="paused-announcing"),
        pytest.param(_paused_awaiting(1), True, id="paused-awaiting-after-a-hold"),
        pytest.param(_paused_awaiting(2), None, id="paused-awaiting-a-step-without-hold"),
        pytest.param(_paused_in_pick_up, True, id="paused-picking-up-a-resumed-hold"),
        pytest.param(_paused_in_resumed_hold, True, id="paused-in-a-resumed-hold"),
        pytest.param(_stopped_in_hold, False, id="stopped-in-hold"),
        pytest.param(_stopped_in_resumed_hold, False, id="stopped-in-a-resumed-hold"),
        pytest.param(_stopped_awaiting, None, id="stopped-awaiting-a-step-without-hold"),
    ],
)
def test_time_left_while_paused_or_stopped_is_what_resume_gives(
    drive: Drive,
    engine: RoutineEngine,
    clock: ManualClock,
    build: Callable[[Drive, RoutineEngine, ManualClock], RunState],
    started: bool | None,
) -> None:
    state = build(drive, engine, clock)
    clock.advance(120)
    before = engine.view(state, clock.now())
    assert before.phase in (Phase.PAUSED, Phase.STOPPED)
    # Resumed with the engine's own timing of the words, the figures carry straight on.
    after = engine.view(engine.apply(state, Event.RESUME, clock.now()).state, clock.now())
    assert after.routine_remaining_s == pytest.approx(before.routine_remaining_s)
    if started is None:
        assert before.hold is after.hold is None
        return
    assert after.hold.remaining == pytest.approx(before.hold.remaining)
    assert before.hold.started is started


@pytest.mark.parametrize(
    ("phase", "step", "started"),
    [
        (Phase.ANNOUNCING, 1, False),
        (Phase.HOLDING, 1, True),
        (Phase.AWAITING, 1, True),
        (Phase.PAUSED, 1, True),
        (Phase.STOPPED, 1, False),
    ],
)
def test_a_hold_says_whether_it_has_started(
    drive: Drive, engine: RoutineEngine, clock: ManualClock, phase: Phase, step: int, started: bool
) -> None:
    assert engine.view(drive(phase, step=step), clock.now()).hold.started is started


# -- cues --------------------------------------------------------------------------------


@pytest.mark.parametrize(("step", "side"), [(0, "left"), (1, "right"), (3, "left"), (4, "right")])
def test_a_hold_cues_its_start_a_warning_and_its_end_with_the_side(
    drive: Drive, engine: RoutineEngine, clock: ManualClock, step: int, side: str
) -> None:
    state = drive(Phase.ANNOUNCING, step=step)
    start = clock.now() + LEAD_IN
    end = start + HOLD_S
    assert engine.view(state, clock.now()).cues == (
        Cue(start, CueKind.HOLD_START, step, side),
        Cue(end - WARNING_LEAD_S, CueKind.HOLD_WARNING, step, side),
        Cue(end, CueKind.HOLD_END, step, side),
    )


def test_cues_already_past_are_not_pending(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    state = drive(Phase.HOLDING, step=1)
    kinds = [cue.kind for cue in engine.view(state, clock.now()).cues]
    assert kinds == [CueKind.HOLD_WARNING, CueKind.HOLD_END]


def test_routine_complete_is_cued_at_the_end_of_the_last_step(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    state = drive(Phase.ANNOUNCING, step=LAST)
    assert engine.view(state, clock.now()).cues == (
        Cue(state.step_end, CueKind.ROUTINE_COMPLETE, LAST),
    )


@pytest.mark.parametrize("step", range(LAST))
def test_routine_complete_is_never_cued_before_the_last_step(
    drive: Drive, engine: RoutineEngine, clock: ManualClock, step: int
) -> None:
    state = drive(Phase.ANNOUNCING, step=step)
    cues = engine.view(state, clock.now()).cues
    assert CueKind.ROUTINE_COMPLETE not in {cue.kind for cue in cues}
    assert len(cues) == (3 if step in HOLD_STEPS else 0)


@pytest.mark.parametrize(
    "phase", [Phase.PAUSED, Phase.STOPPED, Phase.IDLE, Phase.COMPLETED, Phase.AWAITING]
)
def test_no_cues_are_pending_when_nothing_is_about_to_happen(
    drive: Drive, engine: RoutineEngine, clock: ManualClock, phase: Phase
) -> None:
    state = drive(phase, step=1)
    assert engine.view(state, clock.now()).cues == ()


# -- versions ----------------------------------------------------------------------------


def test_version_bumps_on_every_change_and_never_on_a_no_op(
    engine: RoutineEngine, clock: ManualClock
) -> None:
    script = [
        (0, Event.START, True),
        (1, Event.TIME_LEFT, False),
        (LEAD_IN, Event.RESUME, False),
        (5, Event.PAUSE, True),
        (60, Event.PAUSE, False),
        (0, Event.TIME_LEFT, False),
        (1, Event.RESUME, True),
        (1, Event.REPEAT, True),
        (1, Event.STOP, True),
        (1, Event.STOP, False),
        (1, Event.PAUSE, False),
        (1, Event.RESUME, True),
        (1, Event.NEXT, True),
        (1, Event.PREVIOUS, True),
    ]
    state = engine.new_state()
    for advance, event, changes in script:
        clock.advance(advance)
        transition = engine.apply(state, event, clock.now(), LEAD_IN)
        assert transition.changed is changes, event
        if changes:
            assert transition.state.version == state.version + 1
        else:
            assert transition.state == state
        state = transition.state
    assert state.version == sum(1 for *_, changes in script if changes)


def test_settling_a_finished_run_counts_as_a_change(
    drive: Drive, engine: RoutineEngine, clock: ManualClock
) -> None:
    state = drive(Phase.ANNOUNCING, step=LAST)
    clock.set(state.step_end + 1)
    transition = engine.apply(state, Event.TIME_LEFT, clock.now())
    assert transition.changed
    assert transition.completed
    assert transition.state.version == state.version + 1
    assert transition.state.completed_at == state.step_end


# -- lead-ins ----------------------------------------------------------------------------


def test_lead_in_callable_is_told_what_is_announced(
    engine: RoutineEngine, clock: ManualClock
) -> None:
    heard: list[Announcement] = []

    def lead_in(announcement: Announcement) -> float:
        heard.append(announcement)
        return 2.5

    state = engine.apply(engine.new_state(), Event.START, clock.now(), lead_in).state
    assert state.hold_start == clock.now() + 2.5
    clock.advance(2.5 + 12)
    state = engine.apply(state, Event.PAUSE, clock.now(), lead_in).state
    clock.advance(40)
    state = engine.apply(state, Event.RESUME, clock.now(), lead_in).state
    assert heard == [Announcement(0), Announcement(0, resumed_hold_s=HOLD_S - 12)]
    assert state.hold_start == clock.now() + 2.5


def test_without_a_lead_in_the_step_words_are_timed(
    engine: RoutineEngine, clock: ManualClock
) -> None:
    state = engine.apply(engine.new_state(), Event.START, clock.now()).state
    spoken = engine.timing.estimate(engine.routine.step(0).say)
    assert spoken > 0
    assert state.hold_start == clock.now() + spoken


@pytest.mark.parametrize(
    "lead_in",
    [-1.0, -0.001, 3600.0, 1e9, math.nan, math.inf, lambda announcement: -5.0],
    ids=["negative", "barely-negative", "an-hour", "huge", "nan", "inf", "callable-negative"],
)
def test_an_insane_lead_in_is_refused(
    engine: RoutineEngine, clock: ManualClock, lead_in: object
) -> None:
    with pytest.raises(ValueError, match="lead-in"):
        engine.apply(engine.new_state(), Event.START, clock.now(), lead_in)  # type: ignore[arg-type]


# -- storage form ------------------------------------------------------------------------


@pytest.mark.parametrize("phase", list(Phase))
def test_run_state_survives_a_json_round_trip(drive: Drive, phase: Phase) -> None:
    state = drive(phase, step=1)
    assert RunState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_run_state_of_an_unknown_format_is_refused(drive: Drive) -> None:
    data = drive(Phase.HOLDING).to_dict()
    data["format"] = 99
    with pytest.raises(ValueError, match="format"):
        RunState.from_dict(data)


def test_run_state_with_unknown_fields_is_refused(drive: Drive) -> None:
    data = {**drive(Phase.HOLDING).to_dict(), "colour": "red"}
    with pytest.raises(ValueError, match="unknown fields"):
        RunState.from_dict(data)


@pytest.mark.parametrize(
    ("change", "problem"),
    [({"routine_id": None}, "routine_id"), ({"status": "dancing"}, "dancing")],
)
def test_run_state_with_a_bad_field_is_refused(
    drive: Drive, change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        RunState.from_dict({**drive(Phase.HOLDING).to_dict(), **change})


# -- a stored run from a routine that has changed ----------------------------------------


def _packaged_data() -> dict[str, Any]:
    text = (
        resources.files("shared.routine").joinpath("routines", "sciatica.toml").read_text("utf-8")
    )
    return tomllib.loads(text)


def _routine(data: dict[str, Any]) -> Routine:
    return parse_routine(json.dumps(data), fmt="json")


@pytest.fixture
def stale_step(clock: ManualClock) -> RunState:
    """A run at step 7 of a longer edition of the routine (same id), as stored before the
    file lost its last two steps."""
    data = _packaged_data()
    data["steps"] += [
        {"id": "extra-a", "title": "Extra A", "say": "One more thing."},
        {"id": "extra-b", "title": "Extra B", "say": "And another.", "hold": {"side": "none"}},
    ]
    longer = RoutineEngine(_routine(data))
    state = longer.apply(longer.new_state(), Event.START, clock.now(), LEAD_IN).state
    for _ in range(7):
        state = longer.apply(state, Event.NEXT, clock.now(), LEAD_IN).state
    assert state.step_index == 7
    return state


@pytest.fixture
def other_routine(clock: ManualClock) -> RunState:
    """A run holding at step 1 of a routine with another id."""
    data = {**_packaged_data(), "id": "another-routine"}
    other = RoutineEngine(_routine(data))
    state = other.apply(other.new_state(), Event.START, clock.now(), LEAD_IN).state
    state = other.apply(state, Event.NEXT, clock.now(), LEAD_IN).state
    clock.advance(LEAD_IN + 1)
    return state


@pytest.mark.parametrize("which", ["stale_step", "other_routine"])
def test_a_run_the_engine_cannot_read_is_read_as_idle_and_says_so(
    engine: RoutineEngine,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
    which: str,
) -> None:
    stored: RunState = request.getfixturevalue(which)
    with caplog.at_level(logging.WARNING, logger="shared.routine.engine"):
        view = engine.view(stored, clock.now())
    assert view.phase is Phase.IDLE
    assert view.step is None
    assert view.hold is None
    assert view.cues == ()
    assert view.state == replace(engine.new_state(), version=stored.version)
    assert (
        view.routine_remaining_s == engine.view(engine.new_state(), clock.now()).routine_remaining_s
    )
    assert engine.phase(stored, clock.now()) is Phase.IDLE
    assert "reading it as idle" in caplog.text
    assert repr(stored.routine_id) in caplog.text


def test_the_warning_names_the_step_that_no_longer_exists(
    engine: RoutineEngine, clock: ManualClock, stale_step: RunState
) -> None:
    assert engine.unreadable(stale_step) == (
        "is at step 7 ('extra-b'), which 'sciatica-release-and-stretch' lacks now"
    )


def test_a_run_stored_without_a_plan_past_the_routines_end_says_how_long_it_is(
    engine: RoutineEngine, stale_step: RunState
) -> None:
    """A run stored before runs kept their plan reads against the routine's own steps."""
    assert engine.unreadable(replace(stale_step, plan=())) == (
        "is at step 7 but 'sciatica-release-and-stretch' has 6 steps now"
    )


@pytest.mark.parametrize("which", ["stale_step", "other_routine"])
def test_settling_an_unreadable_run_sets_it_aside_as_a_new_version(
    engine: RoutineEngine, clock: ManualClock, request: pytest.FixtureRequest, which: str
) -> None:
    stored: RunState = request.getfixturevalue(which)
    settled = engine.settle(stored, clock.now())
    assert settled == replace(engine.new_state(), version=stored.version + 1)


@pytest.mark.parametrize("which", ["stale_step", "other_routine"])
def test_an_unreadable_run_can_be_started_afresh_but_not_moved(
    engine: RoutineEngine, clock: ManualClock, request: pytest.FixtureRequest, which: str
) -> None:
    stored: RunState = request.getfixturevalue(which)
    with pytest.raises(IllegalEvent) as caught:
        engine.apply(stored, Event.NEXT, clock.now(), LEAD_IN)
    assert caught.value.phase is Phase.IDLE
    transition = engine.apply(stored, Event.START, clock.now(), LEAD_IN)
    assert transition.changed
    assert transition.state.version > stored.version
    assert transition.state.routine_id == engine.routine.id
    assert transition.state.step_index == 0
    assert transition.state.run_id != stored.run_id
    assert engine.phase(transition.state, clock.now()) is Phase.ANNOUNCING


def test_time_left_on_an_unreadable_run_is_a_change_that_replaces_it(
    engine: RoutineEngine, clock: ManualClock, stale_step: RunState
) -> None:
    transition = engine.apply(stale_step, Event.TIME_LEFT, clock.now())
    assert transition.changed
    assert transition.state == replace(engine.new_state(), version=stale_step.version + 1)


@pytest.mark.parametrize(
    "broken",
    [
        {"status": Status.ACTIVE, "step_end": None},
        {"status": Status.PAUSED, "paused_at": None},
        {"status": Status.COMPLETED, "step_index": -1},
    ],
    ids=["active-without-end", "paused-without-moment", "negative-step"],
)
def test_an_inconsistent_run_is_read_as_idle(
    drive: Drive, engine: RoutineEngine, clock: ManualClock, broken: dict[str, Any]
) -> None:
    state = replace(drive(Phase.HOLDING, step=1), **broken)
    assert engine.view(state, clock.now()).phase is Phase.IDLE


def test_a_user_whose_stored_run_no_longer_fits_gets_answers_not_errors(
    coach: Coach, store: SQLiteStore, stale_step: RunState
) -> None:
    user = "amzn1.ask.account.EDITED"
    store.save_run(user, stale_step, None)
    assert coach.view(user).phase is Phase.IDLE
    # The stored record was replaced once, by compare-and-set, with a clean idle run.
    assert store.load_run(user) == replace(coach.engine.new_state(), version=stale_step.version + 1)
    outcome = coach.apply(user, Event.START)
    assert outcome.view.phase is Phase.ANNOUNCING
    assert store.load_run(user) == outcome.transition.state


# -- the clock the engine runs on ---------------------------------------------------------


@pytest.mark.parametrize("seconds", [-1.0, math.nan, math.inf, -math.inf])
def test_a_manual_clock_refuses_to_move_back_or_by_no_number(seconds: float) -> None:
    clock = ManualClock(start=100.0)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(seconds)
    assert clock.now() == 100.0


@pytest.mark.parametrize("when", [math.nan, math.inf])
def test_a_manual_clock_is_only_set_to_a_finite_time(when: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        ManualClock(start=when)
    with pytest.raises(ValueError, match="finite"):
        ManualClock().set(when)


@pytest.mark.parametrize(
    ("speed", "anchor"),
    [(0.0, None), (-2.0, None), (math.nan, None), (math.inf, None), (2.0, math.nan)],
)
def test_a_scaled_clock_needs_a_positive_speed_and_a_finite_anchor(
    speed: float, anchor: float | None
) -> None:
    with pytest.raises(ValueError, match=r"speed|anchor"):
        ScaledClock(speed, anchor)


def test_a_scaled_clock_runs_speed_times_faster_from_its_anchor() -> None:
    clock = ScaledClock(60.0, anchor=1_000.0)
    assert clock.real_seconds(30.0) == 0.5
    assert clock.now() > 1_000.0


# -- Random walks through the engine on a moving clock: every invariant holds after every step -----


RUNNING = {Phase.ANNOUNCING, Phase.HOLDING, Phase.AWAITING}
#: The phase each stored status (other than active) must read as.
PHASE_OF_STATUS = {
    Status.IDLE: Phase.IDLE,
    Status.PAUSED: Phase.PAUSED,
    Status.STOPPED: Phase.STOPPED,
    Status.COMPLETED: Phase.COMPLETED,
}
#: Events that may bring a completed run back: a new run from step 0.
RESTARTS = {Event.START, Event.START_OVER}
#: Float tolerance for sums of estimated speech.
EPS = 1e-6

# None lets the engine time the words; 0 starts a hold at once; otherwise any sane length.
lead_ins = st.one_of(st.none(), st.just(0.0), st.floats(0, 60, allow_nan=False))


@dataclass
class Coverage:
    """What the walks reached, so a test can say the property test explored for real."""

    furthest_step: int = -1
    completions: int = 0
    events_on_completed: int = 0
    phases: set[Phase] = field(default_factory=set)
    pairs: set[tuple[Phase, Event]] = field(default_factory=set)


class EngineWalk(RuleBasedStateMachine):
    """One user's run driven by random events and clock moves, checked after every step."""

    #: Set on a subclass to record what the walks reached.
    coverage: Coverage | None = None

    def __init__(self) -> None:
        super().__init__()
        counter = itertools.count(1)
        self.engine = RoutineEngine(
            load_routine(), SpeechTimingModel(), new_run_id=lambda: f"run-{next(counter)}"
        )
        self.routine: Routine = self.engine.routine
        self.clock = ManualClock()
        self.state: RunState = self.engine.new_state()
        #: Set once the run reads as completed; cleared only by a legal start or start over.
        self.completed = False
        self.furthest = -1
        self.on_completed = 0

    # -- events ---------------------------------------------------------------------------

    #: The person's settings a start plans the run with.
    person = Settings()

    def voice(self, lead_in: float | None) -> LeadIn:
        """How the voice times what it says: here, one step at a time."""
        return lead_in

    def send(self, event_: Event, lead_in_s: float | None) -> None:
        lead_in = self.voice(lead_in_s)
        now = self.clock.now()
        before = self.engine.view(self.state, now)
        self.check(before)
        # Completion is recorded first: the clock may have carried the run past its end, and
        # an illegal event below (which changes nothing) must not hide that it completed.
        self.observe(before)
        self.record(before.phase, event_)
        if (before.phase, event_) not in TRANSITIONS:
            with pytest.raises(IllegalEvent) as caught:
                self.engine.apply(self.state, event_, now, lead_in, self.person)
            assert (caught.value.phase, caught.value.event) == (before.phase, event_)
            return
        transition = self.engine.apply(self.state, event_, now, lead_in, self.person)
        new = transition.state
        assert transition.before is before.phase
        assert transition.action is TRANSITIONS[(before.phase, event_)]
        assert new.version >= self.state.version, "the version went down"
        assert (new.version > self.state.version) is transition.changed
        if not transition.changed:
            assert new == self.state
        assert transition.completed is (new.status is Status.COMPLETED)
        after = self.engine.view(new, now)
        self.check(after)
        if event_ in RESTARTS:
            assert after.phase in (Phase.ANNOUNCING, Phase.HOLDING)  # a zero lead-in holds at once
            assert after.step_index == 0
            assert new.run_id != self.state.run_id
            self.completed = False
        elif self.completed:
            assert after.phase is Phase.COMPLETED, f"{event_.value} revived a completed run"
        self.state = new
        self.observe(after)

    @rule(event_=st.sampled_from(Event), lead_in=lead_ins)
    def any_event(self, event_: Event, lead_in: float | None) -> None:
        self.send(event_, lead_in)

    @rule(lead_in=lead_ins)
    def start(self, lead_in: float | None) -> None:
        self.send(Event.START, lead_in)

    @rule(lead_in=lead_ins)
    def next(self, lead_in: float | None) -> None:
        self.send(Event.NEXT, lead_in)

    @rule(count=st.integers(2, 7), lead_in=lead_ins)
    def next_several_times(self, count: int, lead_in: float | None) -> None:
        """Several nexts in a row, so walks get to the last steps and past them."""
        for _ in range(count):
            self.send(Event.NEXT, lead_in)

    @rule(lead_in=lead_ins)
    def previous(self, lead_in: float | None) -> None:
        self.send(Event.PREVIOUS, lead_in)

    @rule(lead_in=lead_ins)
    def repeat(self, lead_in: float | None) -> None:
        self.send(Event.REPEAT, lead_in)

    @rule()
    def pause(self) -> None:
        self.send(Event.PAUSE, None)

    @rule(lead_in=lead_ins)
    def resume(self, lead_in: float | None) -> None:
        self.send(Event.RESUME, lead_in)

    @rule(lead_in=lead_ins)
    def start_over(self, lead_in: float | None) -> None:
        self.send(Event.START_OVER, lead_in)

    @rule()
    def stop(self) -> None:
        self.send(Event.STOP, None)

    @rule()
    def time_left(self) -> None:
        self.send(Event.TIME_LEFT, None)

    # -- the clock ------------------------------------------------------------------------

    @rule(seconds=st.floats(0, 5, allow_nan=False))
    def wait_a_moment(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def wait_for_the_next_deadline(self) -> None:
        """Exactly onto the next deadline, so the boundaries between phases are hit."""
        chained = [t for c in self.state.chain for t in (c.started_at, c.hold_start, c.step_end)]
        ahead = [
            t
            for t in (self.state.hold_start, self.state.hold_end, self.state.step_end, *chained)
            if t is not None and t > self.clock.now()
        ]
        if ahead:
            self.clock.set(min(ahead))

    @rule(extra=st.floats(0, 3, allow_nan=False))
    def wait_out_the_hold(self, extra: float) -> None:
        if self.state.hold_end is not None and self.state.hold_end > self.clock.now():
            self.clock.set(self.state.hold_end + extra)

    @rule(extra=st.floats(0, 60, allow_nan=False))
    def wait_past_the_step(self, extra: float) -> None:
        if self.state.step_end is not None and self.state.step_end > self.clock.now():
            self.clock.set(self.state.step_end + extra)

    @rule(seconds=st.floats(60, 3600, allow_nan=False))
    def wait_a_long_time(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # -- invariants -----------------------------------------------------------------------

    @invariant()
    def every_view_is_consistent(self) -> None:
        view = self.engine.view(self.state, self.clock.now())
        self.check(view)
        self.observe(view)

    @invariant()
    def every_event_from_here_behaves(self) -> None:
        """Each of the nine events from this very state, each undone (the engine is pure).

        So every state a walk reaches is checked against the whole table, and a completed
        run is offered every event: none may bring it back but a start.
        """
        kept = self.state, self.completed
        for event_ in Event:
            self.send(event_, None)
            self.state, self.completed = kept

    @invariant()
    def completed_stays_completed_until_started_again(self) -> None:
        if self.completed:
            phase = self.engine.phase(self.state, self.clock.now())
            assert phase is Phase.COMPLETED, "a completed run came back to life"

    @invariant()
    def time_left_while_stopped_is_what_resume_gives(self) -> None:
        now = self.clock.now()
        view = self.engine.view(self.state, now)
        if view.phase not in (Phase.PAUSED, Phase.STOPPED):
            return
        # Resumed with the engine's own lead-in, the figures must not jump.
        resumed = self.engine.view(self.engine.apply(self.state, Event.RESUME, now).state, now)
        assert resumed.routine_remaining_s == pytest.approx(view.routine_remaining_s, abs=EPS)
        if view.hold is not None:
            assert resumed.hold is not None
            assert resumed.hold.remaining == pytest.approx(view.hold.remaining, abs=EPS)
            if view.hold.remaining == view.hold.seconds:
                # A hold still to come in full is as long after resume as it was said to be.
                assert resumed.hold.seconds == pytest.approx(view.hold.seconds, abs=EPS)

    # -- checks ---------------------------------------------------------------------------

    def check(self, view: RunView) -> None:
        state, now, phase = view.state, view.now, view.phase
        if state.status is Status.ACTIVE:
            assert state.step_end is not None
            # The phase is the one the deadlines give.
            if now >= state.step_end:
                last = state.step_index == self.routine.last_index
                assert phase is (Phase.COMPLETED if last else Phase.AWAITING)
            elif state.hold_start is not None and now >= state.hold_start:
                assert phase is Phase.HOLDING
            else:
                assert phase is Phase.ANNOUNCING
        else:
            assert phase is PHASE_OF_STATUS[state.status]
        assert 0 <= state.step_index <= self.routine.last_index
        assert (view.step is None) == (phase is Phase.IDLE)
        if state.hold_start is not None:
            assert state.hold_end is not None
            assert state.step_end is not None
            assert state.step_started_at is not None
            assert state.step_started_at <= state.hold_start <= state.hold_end == state.step_end

        cue_times = [cue.at for cue in view.cues]
        assert cue_times == sorted(cue_times), "cues out of time order"
        assert all(at >= now for at in cue_times), "a pending cue lies in the past"
        if phase not in RUNNING:
            assert view.cues == ()
        said_to = state.step_index + len(state.chain)  # a hands-free reply says several
        for cue in view.cues:
            assert state.step_index <= cue.step_index <= said_to
            if cue.kind is CueKind.ROUTINE_COMPLETE:
                assert cue.step_index == self.routine.last_index
        if state.chain:
            assert phase in RUNNING
            starts = [state.step_end, *(c.started_at for c in state.chain)]
            ends = [state.step_end, *(c.step_end for c in state.chain)]
            assert all(b >= e - EPS for b, e in zip(starts[1:], ends, strict=False))
            assert all(now < c.started_at for c in state.chain), "a chained step under way"

        if view.hold is not None:
            hold = self.routine.step(state.step_index).hold
            assert hold is not None
            assert 0 < view.hold.seconds <= hold.seconds + EPS
            assert 0 <= view.hold.remaining <= view.hold.seconds, "hold time left out of range"
            if phase is Phase.HOLDING:
                assert view.hold.remaining == pytest.approx(state.hold_end - now)
        assert view.routine_remaining_s >= 0
        if phase is Phase.COMPLETED:
            assert view.routine_remaining_s == 0

    def observe(self, view: RunView) -> None:
        if view.phase is Phase.COMPLETED and not self.completed:
            self.completed = True
            hypothesis.event("reached completion")
            if self.coverage is not None:
                self.coverage.completions += 1
        if view.phase is not Phase.IDLE:
            self.furthest = max(self.furthest, view.step_index)
        if self.coverage is not None:
            self.coverage.phases.add(view.phase)
            self.coverage.furthest_step = max(self.coverage.furthest_step, self.furthest)

    def record(self, phase: Phase, event_: Event) -> None:
        if phase is Phase.COMPLETED:
            self.on_completed += 1
            hypothesis.event(f"{event_.value} on a completed run")
        if self.coverage is not None:
            self.coverage.pairs.add((phase, event_))
            if phase is Phase.COMPLETED:
                self.coverage.events_on_completed += 1

    def teardown(self) -> None:
        hypothesis.event(f"furthest step {self.furthest}")
        # Steer the search toward walks that go far and then keep poking a finished run.
        target(float(self.furthest), label="furthest step")
        target(float(self.on_completed), label="events on a completed run")


class HandsFreeWalk(EngineWalk):
    """The same walks for a person whose voice carries on by itself: every reply chains
    the steps after it, and events land mid-chain."""

    person = Settings(flow=Flow.HANDS_FREE)

    def voice(self, lead_in: float | None) -> LeadIn:
        if lead_in is None:
            return None

        def chained(announcement: Announcement) -> tuple[Said, ...]:
            routine = announcement.routine
            assert routine is not None
            assert announcement.hands_free
            said = [Said(0.0, lead_in)]
            carried = announcement.carried_hold_s
            at = carried if carried is not None else lead_in + _held(routine, announcement)
            for index in range(announcement.step_index + 1, routine.last_index + 1):
                begins = at + 2.0  # "time's up" and the quiet to get into position
                said.append(Said(begins, begins + lead_in))
                at = begins + lead_in + _held(routine, replace(announcement, step_index=index))
            return tuple(said)

        return chained


def _held(routine: Routine, announcement: Announcement) -> float:
    """How long the announced step holds: what was left of a resumed hold, or all of it."""
    if announcement.resumed_hold_s is not None:
        return announcement.resumed_hold_s
    hold = routine.step(announcement.step_index).hold
    return 0.0 if hold is None else hold.seconds


WALKS = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TestEngineWalks = EngineWalk.TestCase
TestEngineWalks.settings = WALKS
TestHandsFreeWalks = HandsFreeWalk.TestCase
TestHandsFreeWalks.settings = WALKS


def test_the_walks_reach_every_step_completion_and_every_phase_and_event() -> None:
    coverage = Coverage()
    recording = type("RecordingWalk", (EngineWalk,), {"coverage": coverage})
    run_state_machine_as_test(
        recording, settings=settings(WALKS, max_examples=150, derandomize=True)
    )
    routine = load_routine()
    assert coverage.furthest_step == routine.last_index
    # Loose floors (a typical run has hundreds and thousands): only a walk that has stopped
    # exploring falls below them.
    assert coverage.completions >= 10
    assert coverage.events_on_completed >= 100
    assert coverage.phases == set(Phase)
    # Every (phase, event) pair was tried, legal or not: REPEAT on a completed run included.
    assert coverage.pairs == set(itertools.product(Phase, Event))


# -- a person's settings reaching a run under way -------------------------------------------------


def _hands_free_start(engine: RoutineEngine, clock: ManualClock) -> RunState:
    def chained(announcement: Announcement) -> tuple[Said, ...]:
        return tuple(
            Said(70.0 * k, 70.0 * k + LEAD_IN)
            for k in range(announcement.routine.last_index - announcement.step_index + 1)
        )

    return engine.apply(
        engine.new_state(), Event.START, clock.now(), chained, Settings(flow=Flow.HANDS_FREE)
    ).state


def test_a_new_plan_leaves_the_steps_a_reply_still_says(
    engine: RoutineEngine, clock: ManualClock
) -> None:
    state = _hands_free_start(engine, clock)
    assert len(state.chain) == 5
    replanned = engine.replan(state, Settings(first_side=Side.RIGHT, flow=Flow.HANDS_FREE))
    assert replanned.plan == state.plan  # every step is in the reply: nothing left to change
    assert replanned.chain == state.chain


def test_asked_by_voice_a_new_plan_starts_after_the_step_under_way(
    engine: RoutineEngine, clock: ManualClock
) -> None:
    state = _hands_free_start(engine, clock)
    clock.advance(LEAD_IN + 5)  # 5 s into step 1's hold: the person speaks, the reply stops
    replanned = engine.replan(
        state, Settings(first_side=Side.RIGHT, flow=Flow.HANDS_FREE), interrupted_at=clock.now()
    )
    assert replanned.chain == ()
    assert replanned.step_index == 0
    assert replanned.hold_end == state.hold_end  # the hold under way keeps its end
    assert replanned.plan[3:5] == ("stretch-right", "stretch-left")
    assert replanned.version == state.version + 1
