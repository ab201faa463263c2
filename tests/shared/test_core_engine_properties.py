"""Random walks through the engine on a moving clock: every invariant holds after every step.

A hypothesis state machine applies the nine events and moves the clock (a little, exactly to
the next deadline, past the end of a hold or a step, or by an hour), checking after each
rule that the version only grows, cues are pending and in time order, the hold window and
the phase agree with the deadlines, time left matches what resume will do, and a completed
run stays completed until it is started again. After every rule it also tries all nine
events from the state reached (the engine is pure, so each is undone). A second test runs
the same machine with a recorder and checks that the walks really went everywhere: every
step, completion, and every (phase, event) pair, so a walk that never gets past step 1
cannot pass for a test. Run with --hypothesis-show-statistics to see the events recorded.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, event, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from shared.clock import ManualClock
from shared.routine.cues import CueKind
from shared.routine.definition import Routine, load_routine
from shared.routine.engine import (
    TRANSITIONS,
    Event,
    IllegalEvent,
    Phase,
    RoutineEngine,
    RunState,
    RunView,
    Status,
)
from shared.timing import SpeechTimingModel

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

    def send(self, event_: Event, lead_in: float | None) -> None:
        now = self.clock.now()
        before = self.engine.view(self.state, now)
        self.check(before)
        # Completion is recorded first: the clock may have carried the run past its end, and
        # an illegal event below (which changes nothing) must not hide that it completed.
        self.observe(before)
        self.record(before.phase, event_)
        if (before.phase, event_) not in TRANSITIONS:
            with pytest.raises(IllegalEvent) as caught:
                self.engine.apply(self.state, event_, now, lead_in)
            assert (caught.value.phase, caught.value.event) == (before.phase, event_)
            return
        transition = self.engine.apply(self.state, event_, now, lead_in)
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
        ahead = [
            t
            for t in (self.state.hold_start, self.state.hold_end, self.state.step_end)
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
        for cue in view.cues:
            assert cue.step_index == state.step_index
            if cue.kind is CueKind.ROUTINE_COMPLETE:
                assert cue.step_index == self.routine.last_index

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
            event("reached completion")
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
            event(f"{event_.value} on a completed run")
        if self.coverage is not None:
            self.coverage.pairs.add((phase, event_))
            if phase is Phase.COMPLETED:
                self.coverage.events_on_completed += 1

    def teardown(self) -> None:
        event(f"furthest step {self.furthest}")
        # Steer the search toward walks that go far and then keep poking a finished run.
        target(float(self.furthest), label="furthest step")
        target(float(self.on_completed), label="events on a completed run")


WALKS = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

TestEngineWalks = EngineWalk.TestCase
TestEngineWalks.settings = WALKS


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
