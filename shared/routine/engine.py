"""One user's run of a routine as a state machine over absolute deadlines, never ticking counters.

The stored state says which step is on and when its speech, hold and end fall. What
phase the run is in at any moment (announcing, holding, awaiting the next step) is
derived from those deadlines and the clock the caller passes, so the voice and the
watch read the same answer from the same record.

A stored run that this engine cannot read (it belongs to another routine, or its step is
past the end of a routine file that has since changed) reads as idle, keeping its version
so compare-and-set still works, and the engine logs that it set the run aside.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from functools import cached_property
from typing import Any, ClassVar

from ..timing import SpeechTiming, SpeechTimingModel
from .cues import Cue, CueKind, hold_cues
from .definition import Routine, Step

log = logging.getLogger(__name__)

STATE_FORMAT = 1


class Status(StrEnum):
    """What is stored: whether a run exists and whether it is moving."""

    IDLE = "idle"
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"


class Phase(StrEnum):
    """What is happening at one moment, derived from the status and the deadlines."""

    IDLE = "idle"
    ANNOUNCING = "announcing"
    HOLDING = "holding"
    AWAITING = "awaiting"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"

    @property
    def under_way(self) -> bool:
        """A run is moving: a step is being said, held, or waits for "next"."""
        return self in UNDER_WAY

    @property
    def resumable(self) -> bool:
        """There is a place to come back to: a run under way, paused or stopped."""
        return self in UNDER_WAY or self in (Phase.PAUSED, Phase.STOPPED)


#: The one definition of "a run is under way"; every side asks Phase.under_way.
UNDER_WAY = frozenset({Phase.ANNOUNCING, Phase.HOLDING, Phase.AWAITING})


class Event(StrEnum):
    """What a user (by voice or from the wrist) can ask of a run."""

    START = "start"
    NEXT = "next"
    PREVIOUS = "previous"
    REPEAT = "repeat"
    PAUSE = "pause"
    RESUME = "resume"
    START_OVER = "start_over"
    STOP = "stop"
    TIME_LEFT = "time_left"


class Action(StrEnum):
    """What the engine does for a legal (phase, event) pair."""

    BEGIN = "begin"
    ADVANCE = "advance"
    GO_BACK = "go_back"
    RESTART_STEP = "restart_step"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    NOTHING = "nothing"


_NAVIGATION = {
    Event.NEXT: Action.ADVANCE,
    Event.PREVIOUS: Action.GO_BACK,
    Event.REPEAT: Action.RESTART_STEP,
    Event.START_OVER: Action.BEGIN,
    Event.STOP: Action.STOP,
    Event.TIME_LEFT: Action.NOTHING,
}

#: The whole machine at a glance: a pair missing here is an illegal event.
TRANSITIONS: dict[tuple[Phase, Event], Action] = {
    (Phase.IDLE, Event.START): Action.BEGIN,
    (Phase.IDLE, Event.START_OVER): Action.BEGIN,
    (Phase.IDLE, Event.STOP): Action.NOTHING,
    (Phase.IDLE, Event.TIME_LEFT): Action.NOTHING,
    **{
        (phase, event): action
        for phase in sorted(UNDER_WAY)
        for event, action in {
            **_NAVIGATION,
            Event.PAUSE: Action.PAUSE,
            Event.RESUME: Action.NOTHING,
        }.items()
    },
    **{(Phase.PAUSED, event): action for event, action in _NAVIGATION.items()},
    (Phase.PAUSED, Event.PAUSE): Action.NOTHING,
    (Phase.PAUSED, Event.RESUME): Action.RESUME,
    **{(Phase.STOPPED, event): action for event, action in _NAVIGATION.items()},
    (Phase.STOPPED, Event.STOP): Action.NOTHING,
    (Phase.STOPPED, Event.PAUSE): Action.NOTHING,
    (Phase.STOPPED, Event.RESUME): Action.RESUME,
    (Phase.COMPLETED, Event.START): Action.BEGIN,
    (Phase.COMPLETED, Event.START_OVER): Action.BEGIN,
    (Phase.COMPLETED, Event.REPEAT): Action.NOTHING,
    (Phase.COMPLETED, Event.STOP): Action.NOTHING,
    (Phase.COMPLETED, Event.TIME_LEFT): Action.NOTHING,
}


@dataclass(frozen=True, slots=True)
class Announcement:
    """What the voice is about to say: a step from its start, or a paused hold carrying on."""

    step_index: int
    resumed_hold_s: float | None = None
    #: "Previous" on the first step: there was none before, so this one is said again.
    at_first_step: bool = False


#: How long the voice talks before a hold starts: seconds, a function of what is announced
#: (so a caller can time the very words it will speak), or None to estimate from the step.
LeadIn = float | Callable[[Announcement], float] | None


class _Resume(StrEnum):
    """What resume does with a paused or stopped run."""

    ANNOUNCE = "announce"  # the step from its start, with its whole hold
    CONTINUE_HOLD = "continue_hold"  # the hold, with the time it had left
    KEEP_AWAITING = "keep_awaiting"  # nothing to say: the step was already done


class IllegalEvent(Exception):
    """An event that makes no sense now (next before starting, start mid-run, ...)."""

    def __init__(self, phase: Phase, event: Event) -> None:
        super().__init__(f"cannot {event.value} while {phase.value}")
        self.phase = phase
        self.event = event


@dataclass(frozen=True, slots=True)
class RunState:
    """A user's run as stored: JSON-able, versioned, and free of anything that ticks."""

    routine_id: str
    version: int = 0
    status: Status = Status.IDLE
    run_id: str | None = None
    step_index: int = 0
    started_at: float | None = None
    step_started_at: float | None = None
    hold_start: float | None = None
    hold_end: float | None = None
    step_end: float | None = None
    paused_at: float | None = None
    completed_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "routine_id": self.routine_id,
            "version": self.version,
            "status": self.status.value,
            "run_id": self.run_id,
            "step_index": self.step_index,
            "started_at": self.started_at,
            "step_started_at": self.step_started_at,
            "hold_start": self.hold_start,
            "hold_end": self.hold_end,
            "step_end": self.step_end,
            "paused_at": self.paused_at,
            "completed_at": self.completed_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunState:
        """The stored form read back; ValueError, not a TypeError, for a record it cannot be."""
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown run state format {data.get('format')!r}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k != "format"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"run state has unknown fields {unknown}")
        if not isinstance(values.get("routine_id"), str):
            raise ValueError("run state has no routine_id")
        values["status"] = Status(values.get("status", Status.IDLE.value))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class HoldWindow:
    """A hold's start, end and what is left of it at the moment of the view.

    For a paused or stopped run the figures are what resume will do: a paused hold carries
    on with `remaining`; a stopped step (or one paused before its hold began) starts again
    with its whole hold. `started` says whether the hold is under way or was when paused
    (a hold being picked up after a pause counts), so the voice can say "12 seconds left"
    rather than "before the hold starts".
    """

    start: float
    end: float
    remaining: float
    seconds: float
    started: bool = False


@dataclass(frozen=True, slots=True)
class RunView:
    """Everything either side needs to know about a run at one moment."""

    now: float
    state: RunState
    phase: Phase
    step: Step | None
    step_count: int
    hold: HoldWindow | None
    cues: tuple[Cue, ...]
    routine_remaining_s: float
    #: When the clock alone completes this run (its last step ends), else None: a reader
    #: waiting for changes must read again then, since no event will announce it.
    settles_at: float | None = None

    @property
    def version(self) -> int:
        return self.state.version

    @property
    def step_index(self) -> int:
        return self.state.step_index


@dataclass(frozen=True, slots=True)
class Transition:
    """The outcome of one event: the new state and facts the voice may want to mention."""

    event: Event
    action: Action
    before: Phase
    state: RunState
    changed: bool
    announcement: Announcement | None = None
    completed: bool = False

    @property
    def at_first_step(self) -> bool:
        """ "Previous" found no earlier step, so the first one is said again."""
        return self.announcement is not None and self.announcement.at_first_step


@dataclass
class RoutineEngine:
    """Applies events to run states for one routine, on times the caller supplies."""

    routine: Routine
    timing: SpeechTiming = field(default_factory=SpeechTimingModel)
    new_run_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)

    def new_state(self) -> RunState:
        return RunState(routine_id=self.routine.id)

    # -- runs this engine cannot read ---------------------------------------------------

    def unreadable(self, state: RunState) -> str | None:
        """Why a stored run cannot be read against this routine, or None when it can."""
        if state.routine_id != self.routine.id:
            return f"belongs to routine {state.routine_id!r}, not {self.routine.id!r}"
        if state.status is Status.IDLE:
            return None
        if not 0 <= state.step_index <= self.routine.last_index:
            return (
                f"is at step {state.step_index} but {self.routine.id!r} has"
                f" {len(self.routine)} steps now"
            )
        if state.status is Status.ACTIVE and state.step_end is None:
            return "is active without a step end"
        if state.status in (Status.PAUSED, Status.STOPPED) and state.paused_at is None:
            return f"is {state.status.value} without the moment it stopped"
        return None

    def readable(self, state: RunState) -> RunState:
        """`state`, or an idle run keeping its version (so CAS still works) if it is unreadable.

        A routine file edited under a stored run (a step removed, the id changed) must not
        crash every request of that user, nor read their run against the wrong steps.
        """
        problem = self.unreadable(state)
        if problem is None:
            return state
        log.warning(
            "stored run %s of routine %r %s; reading it as idle",
            state.run_id,
            state.routine_id,
            problem,
        )
        return replace(self.new_state(), version=state.version)

    # -- reading ------------------------------------------------------------------------

    def phase(self, state: RunState, now: float) -> Phase:
        """The phase at `now`; a run past the end of its last step is completed."""
        if self.unreadable(state) is not None:
            return Phase.IDLE
        if state.status is not Status.ACTIVE:
            return Phase(state.status.value)
        assert state.step_end is not None
        if now >= state.step_end:
            return (
                Phase.COMPLETED if state.step_index >= self.routine.last_index else Phase.AWAITING
            )
        if state.hold_start is not None and now >= state.hold_start:
            return Phase.HOLDING
        return Phase.ANNOUNCING

    def view(self, state: RunState, now: float) -> RunView:
        """A pure reading of the run at `now`: phase, step, hold window and pending cues."""
        state = self.readable(state)
        phase = self.phase(state, now)
        step = None if phase is Phase.IDLE else self.routine.step(state.step_index)
        return RunView(
            now=now,
            state=state,
            phase=phase,
            step=step,
            step_count=len(self.routine),
            hold=self._hold_window(state, phase, now),
            cues=tuple(self._pending_cues(state, phase, now)),
            routine_remaining_s=self._routine_remaining(state, phase, now),
            settles_at=self._settles_at(state, phase),
        )

    def _settles_at(self, state: RunState, phase: Phase) -> float | None:
        """The end of the last step while it is said or held: completion needs no event."""
        on_last = state.step_index >= self.routine.last_index
        if phase in (Phase.ANNOUNCING, Phase.HOLDING) and on_last:
            return state.step_end
        return None

    def _hold_window(self, state: RunState, phase: Phase, now: float) -> HoldWindow | None:
        if state.hold_start is None or state.hold_end is None:
            return None
        if phase in (Phase.IDLE, Phase.COMPLETED):
            return None
        start, end = state.hold_start, state.hold_end
        seconds = end - start
        if phase in (Phase.PAUSED, Phase.STOPPED):
            assert state.paused_at is not None
            if self._resume_plan(state) is _Resume.ANNOUNCE:
                # Resume announces the step again, so its whole hold is still to come.
                hold = self.routine.step(state.step_index).hold
                full = hold.seconds if hold is not None else seconds
                return HoldWindow(start, start + full, full, full, started=False)
            remaining = max(0.0, end - max(state.paused_at, start))
            return HoldWindow(start, end, remaining, seconds, started=True)
        remaining = min(seconds, max(0.0, end - now))
        started = now >= start or self._hold_partly_done(state)
        return HoldWindow(start, end, remaining, seconds, started=started)

    def _pending_cues(self, state: RunState, phase: Phase, now: float) -> list[Cue]:
        if not phase.under_way:
            return []
        cues: list[Cue] = []
        step = self.routine.step(state.step_index)
        if state.hold_start is not None and state.hold_end is not None:
            side = step.side.value if step.side else None
            cues.extend(hold_cues(state.step_index, state.hold_start, state.hold_end, side))
        if state.step_index >= self.routine.last_index and state.step_end is not None:
            cues.append(Cue(state.step_end, CueKind.ROUTINE_COMPLETE, state.step_index))
        return [cue for cue in cues if cue.at >= now]

    def _routine_remaining(self, state: RunState, phase: Phase, now: float) -> float:
        """Seconds of speech and holds still to come, to answer 'how long is left'.

        A paused or stopped run counts what resume will do: a hold carried on counts what it
        had left, a step announced again counts in full, a finished step not at all.
        """
        if phase is Phase.COMPLETED:
            return 0.0
        if phase is Phase.IDLE:
            return sum(self._step_lengths)
        later = sum(self._step_lengths[state.step_index + 1 :])
        if phase.under_way:
            assert state.step_end is not None
            return later + max(0.0, state.step_end - now)
        plan = self._resume_plan(state)
        if plan is _Resume.KEEP_AWAITING:
            return later
        if plan is _Resume.CONTINUE_HOLD:
            window = self._hold_window(state, phase, now)
            assert window is not None
            return later + window.remaining
        return later + self._step_lengths[state.step_index]

    def _step_length(self, step: Step) -> float:
        return self.timing.estimate(step.say) + (step.hold.seconds if step.hold else 0.0)

    @cached_property
    def _step_lengths(self) -> tuple[float, ...]:
        """Each step's estimated length, timed once: every view of every poll sums them."""
        return tuple(self._step_length(step) for step in self.routine.steps)

    # -- changing -----------------------------------------------------------------------

    def settle(self, state: RunState, now: float) -> RunState:
        """Bring a stored run up to date: completion once time has run past the last step
        (so history can keep it), and an unreadable run set aside as idle (a new version, so
        the store replaces it once rather than every request tripping over it)."""
        readable = self.readable(state)
        if readable is not state:
            return replace(readable, version=state.version + 1)
        if state.status is Status.ACTIVE and self.phase(state, now) is Phase.COMPLETED:
            return replace(
                state,
                version=state.version + 1,
                status=Status.COMPLETED,
                completed_at=state.step_end,
                paused_at=None,
            )
        return state

    def apply(
        self, state: RunState, event: Event, now: float, lead_in: LeadIn = None
    ) -> Transition:
        """Apply `event` at `now`; `lead_in` says how long the voice talks before a hold starts.

        Without a lead-in the engine estimates it from the step's own words (or none for
        a resumed hold). Raises IllegalEvent for pairs the transition table leaves out.
        """
        settled = self.settle(state, now)
        before = self.phase(settled, now)
        action = TRANSITIONS.get((before, event))
        if action is None:
            raise IllegalEvent(before, event)
        change = self._BY_ACTION[action](self, settled, now, _LeadInOf(self, lead_in))
        new = change.state
        changed = new != settled
        if changed:
            new = replace(new, version=settled.version + 1)
        elif settled is not state:
            new, changed = settled, True
        return Transition(
            event=event,
            action=action,
            before=before,
            state=new,
            changed=changed,
            announcement=change.announcement,
            completed=new.status is Status.COMPLETED,
        )

    def _announce(
        self,
        state: RunState,
        index: int,
        now: float,
        lead_in: _LeadInOf,
        *,
        at_first_step: bool = False,
    ) -> _Change:
        step = self.routine.step(index)
        announcement = Announcement(index, at_first_step=at_first_step)
        spoken_end = now + lead_in(announcement)
        if step.hold is None:
            hold_start = hold_end = None
            step_end = spoken_end
        else:
            hold_start, hold_end = spoken_end, spoken_end + step.hold.seconds
            step_end = hold_end
        announced = replace(
            state,
            status=Status.ACTIVE,
            step_index=index,
            step_started_at=now,
            hold_start=hold_start,
            hold_end=hold_end,
            step_end=step_end,
            paused_at=None,
            completed_at=None,
        )
        return _Change(announced, announcement)

    def _begin(self, state: RunState, now: float, lead_in: _LeadInOf) -> _Change:
        fresh = replace(
            self.new_state(), version=state.version, run_id=self.new_run_id(), started_at=now
        )
        return self._announce(fresh, 0, now, lead_in)

    def _advance(self, state: RunState, now: float, lead_in: _LeadInOf) -> _Change:
        if state.step_index >= self.routine.last_index:
            return _Change(
                replace(state, status=Status.COMPLETED, completed_at=now, paused_at=None)
            )
        return self._announce(state, state.step_index + 1, now, lead_in)

    def _go_back(self, state: RunState, now: float, lead_in: _LeadInOf) -> _Change:
        # On the first step there is nothing earlier: it is said again, and the voice says so.
        first = state.step_index == 0
        return self._announce(
            state, max(0, state.step_index - 1), now, lead_in, at_first_step=first
        )

    def _restart_step(self, state: RunState, now: float, lead_in: _LeadInOf) -> _Change:
        return self._announce(state, state.step_index, now, lead_in)

    def _pause(self, state: RunState, now: float, lead_in: _LeadInOf) -> _Change:
        return _Change(replace(state, status=Status.PAUSED, paused_at=now))

    def _stop(self, state: RunState, now: float, lead_in: _LeadInOf) -> _Change:
        return _Change(replace(state, status=Status.STOPPED, paused_at=now))

    def _resume_plan(self, state: RunState) -> _Resume:
        """What resume will do with a paused or stopped run; time left reads the same plan."""
        assert state.paused_at is not None
        if state.status is Status.STOPPED:
            return _Resume.ANNOUNCE
        was = self.phase(replace(state, status=Status.ACTIVE), state.paused_at)
        if was is Phase.HOLDING:
            return _Resume.CONTINUE_HOLD
        if was is Phase.ANNOUNCING:
            # Paused while the voice was picking a part-done hold back up: still part-done.
            return _Resume.CONTINUE_HOLD if self._hold_partly_done(state) else _Resume.ANNOUNCE
        return _Resume.KEEP_AWAITING

    def _resume(self, state: RunState, now: float, lead_in: _LeadInOf) -> _Change:
        """Continue a paused hold with the time it had left; anything else starts the step anew."""
        assert state.paused_at is not None
        plan = self._resume_plan(state)
        if plan is _Resume.ANNOUNCE:
            return self._announce(state, state.step_index, now, lead_in)
        running = replace(state, status=Status.ACTIVE)
        if plan is _Resume.CONTINUE_HOLD:
            assert state.hold_start is not None
            assert state.hold_end is not None
            remaining = state.hold_end - max(state.paused_at, state.hold_start)
            announcement = Announcement(state.step_index, resumed_hold_s=remaining)
            hold_start = now + lead_in(announcement)
            resumed = replace(
                running,
                step_started_at=now,
                hold_start=hold_start,
                hold_end=hold_start + remaining,
                step_end=hold_start + remaining,
                paused_at=None,
            )
            return _Change(resumed, announcement)
        # Paused while awaiting the next step: keep awaiting, deadlines moved past.
        shift = now - state.paused_at

        def moved(value: float | None) -> float | None:
            return None if value is None else value + shift

        return _Change(
            replace(
                running,
                step_started_at=moved(state.step_started_at),
                hold_start=moved(state.hold_start),
                hold_end=moved(state.hold_end),
                step_end=moved(state.step_end),
                paused_at=None,
            )
        )

    def _hold_partly_done(self, state: RunState) -> bool:
        """True when the current hold window is shorter than the step's: it was resumed."""
        hold = self.routine.step(state.step_index).hold
        if hold is None or state.hold_start is None or state.hold_end is None:
            return False
        return state.hold_end - state.hold_start < hold.seconds - 1e-6

    def _nothing(self, state: RunState, now: float, lead_in: _LeadInOf) -> _Change:
        return _Change(state)

    #: What each action of TRANSITIONS does, spelled out (a test checks every action has one).
    _BY_ACTION: ClassVar[dict[Action, Callable[..., _Change]]] = {
        Action.BEGIN: _begin,
        Action.ADVANCE: _advance,
        Action.GO_BACK: _go_back,
        Action.RESTART_STEP: _restart_step,
        Action.PAUSE: _pause,
        Action.RESUME: _resume,
        Action.STOP: _stop,
        Action.NOTHING: _nothing,
    }


@dataclass(frozen=True, slots=True)
class _Change:
    """What one action made of a run: its new state, and the step it announces, if any."""

    state: RunState
    announcement: Announcement | None = None


@dataclass(frozen=True, slots=True)
class _LeadInOf:
    """Resolves a LeadIn for one announcement, checking it is a sane duration."""

    engine: RoutineEngine
    given: LeadIn

    def __call__(self, announcement: Announcement) -> float:
        if callable(self.given):
            seconds = self.given(announcement)
        elif self.given is not None:
            seconds = self.given
        elif announcement.resumed_hold_s is not None:
            seconds = 0.0
        else:
            seconds = self.engine.timing.estimate(
                self.engine.routine.step(announcement.step_index).say
            )
        if not 0 <= seconds < 3600:
            raise ValueError(f"lead-in of {seconds!r} s is not a sane speech length")
        return float(seconds)
