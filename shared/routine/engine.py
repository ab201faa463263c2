"""One user's run of a routine as a state machine over absolute deadlines, never ticking counters.

The stored state says which step is on and when its speech, hold and end fall. What
phase the run is in at any moment (announcing, holding, awaiting the next step) is
derived from those deadlines and the clock the caller passes, so the voice and the
watch read the same answer from the same record.

A run follows its own plan: the routine's steps as the person set them up (their first
side, holds per side and hold length), named by key in the stored run, so a later change of
settings re-plans only the steps that have not started. When the voice carries on by
itself (hands-free), one reply says several steps in a row: the run stores their deadlines
as a chain, and the step under way at any moment is read from it, so an interruption acts
on the step being spoken.

A stored run that this engine cannot read (it belongs to another routine, or its step is
past the end of a routine file that has since changed) reads as idle, keeping its version
so compare-and-set still works, and the engine logs that it set the run aside.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, ClassVar

from ..timing import SpeechTiming, SpeechTimingModel
from .cues import Cue, CueKind, hold_cues
from .definition import Routine, Step
from .settings import Flow, Settings

log = logging.getLogger(__name__)

STATE_FORMAT = 2
#: Formats this engine reads: 1 had no plan (the routine's own steps) and no chain.
_READABLE_FORMATS = (1, 2)


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
    #: The voice answered something else mid-run (how long is left, a nudge, help): the
    #: person's words cut the speaker off, so its answer must carry the run on from here.
    CARRY_ON = "carry_on"


class Action(StrEnum):
    """What the engine does for a legal (phase, event) pair."""

    BEGIN = "begin"
    ADVANCE = "advance"
    GO_BACK = "go_back"
    RESTART_STEP = "restart_step"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    CARRY_ON = "carry_on"
    NOTHING = "nothing"


_NAVIGATION = {
    Event.NEXT: Action.ADVANCE,
    Event.PREVIOUS: Action.GO_BACK,
    Event.REPEAT: Action.RESTART_STEP,
    Event.START_OVER: Action.BEGIN,
    Event.STOP: Action.STOP,
    Event.TIME_LEFT: Action.NOTHING,
    Event.CARRY_ON: Action.NOTHING,
}

#: The whole machine at a glance: a pair missing here is an illegal event.
TRANSITIONS: dict[tuple[Phase, Event], Action] = {
    (Phase.IDLE, Event.START): Action.BEGIN,
    (Phase.IDLE, Event.START_OVER): Action.BEGIN,
    (Phase.IDLE, Event.STOP): Action.NOTHING,
    (Phase.IDLE, Event.TIME_LEFT): Action.NOTHING,
    (Phase.IDLE, Event.CARRY_ON): Action.NOTHING,
    **{
        (phase, event): action
        for phase in sorted(UNDER_WAY)
        for event, action in {
            **_NAVIGATION,
            Event.PAUSE: Action.PAUSE,
            Event.RESUME: Action.NOTHING,
            Event.CARRY_ON: Action.CARRY_ON,
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
    (Phase.COMPLETED, Event.CARRY_ON): Action.NOTHING,
}


@dataclass(frozen=True, slots=True)
class Announcement:
    """What the voice is about to say: a step from its start, or a paused hold carrying on."""

    step_index: int
    resumed_hold_s: float | None = None
    #: "Previous" on the first step: there was none before, so this one is said again.
    at_first_step: bool = False
    #: The run's own steps (its plan, personalised), so the words can be built for them.
    routine: Routine | None = field(default=None, compare=False, repr=False)
    #: The voice carries on by itself: the reply may say the steps after this one too.
    hands_free: bool = False
    #: Carrying a hold on after an interruption: seconds from now to its end, which stays.
    carried_hold_s: float | None = None


@dataclass(frozen=True, slots=True)
class Said:
    """When a reply reaches one step, in seconds from the reply: its first word, and the
    end of what it says before the hold (the step's end, for a step with no hold)."""

    begins_s: float
    lead_in_s: float


#: How long the voice talks before a hold starts: seconds, a function of what is announced
#: (so a caller can time the very words it will speak), or None to estimate from the step.
#: A function may give, instead of seconds, when it reaches each of the steps it says in a
#: row (hands-free): the announced step first, then the steps it goes on to by itself.
LeadIn = float | Callable[[Announcement], float | Sequence[Said]] | None


class _Resume(StrEnum):
    """What resume does with a paused or stopped run."""

    ANNOUNCE = "announce"  # the step from its start, with its whole hold
    CONTINUE_HOLD = "continue_hold"  # the hold, with the time it had left
    KEEP_AWAITING = "keep_awaiting"  # nothing to say: the step was already done
    ANNOUNCE_NEXT = "announce_next"  # hands-free, the step was done: on to the next one


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
    #: The run's steps by key (Routine.plan); empty: the routine's own steps (format 1).
    plan: tuple[str, ...] = ()
    #: The person's hold length for steps not started yet (None: the routine's own).
    hold_s: float | None = None
    #: The whole length of the current step's hold as announced, so a resumed one is known.
    step_hold_s: float | None = None
    #: The 5-second warning buzz before a hold ends.
    warning: bool = True
    #: The voice carries on by itself after each hold.
    hands_free: bool = False
    #: Steps the current reply goes on to by itself, after the current one, with deadlines.
    chain: tuple[Chained, ...] = ()

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
            "plan": list(self.plan),
            "hold_s": self.hold_s,
            "step_hold_s": self.step_hold_s,
            "warning": self.warning,
            "hands_free": self.hands_free,
            "chain": [chained.to_list() for chained in self.chain],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunState:
        """The stored form read back; ValueError, not a TypeError, for a record it cannot be."""
        if data.get("format") not in _READABLE_FORMATS:
            raise ValueError(f"unknown run state format {data.get('format')!r}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k != "format"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"run state has unknown fields {unknown}")
        if not isinstance(values.get("routine_id"), str):
            raise ValueError("run state has no routine_id")
        values["status"] = Status(values.get("status", Status.IDLE.value))
        plan = values.get("plan", [])
        if not isinstance(plan, list) or not all(isinstance(key, str) for key in plan):
            raise ValueError("run state's plan is not a list of step keys")
        values["plan"] = tuple(plan)
        chain = values.get("chain", [])
        if not isinstance(chain, list):
            raise ValueError("run state's chain is not a list")
        values["chain"] = tuple(Chained.from_list(item) for item in chain)
        for flag in ("warning", "hands_free"):
            if not isinstance(values.get(flag, False), bool):
                raise ValueError(f"run state's {flag} is not true or false")
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Chained:
    """A step a reply goes on to by itself: when its words begin, its hold, and its end."""

    started_at: float
    hold_start: float | None
    hold_end: float | None
    step_end: float

    def to_list(self) -> list[float | None]:
        return [self.started_at, self.hold_start, self.hold_end, self.step_end]

    @classmethod
    def from_list(cls, item: Any) -> Chained:
        if not isinstance(item, list) or len(item) != 4:
            raise ValueError("a chained step is not [started_at, hold_start, hold_end, step_end]")
        started, hold_start, hold_end, step_end = item
        for value in (started, step_end):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("a chained step has no start or end")
        for value in (hold_start, hold_end):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError("a chained step's hold is not a time")
        return cls(started, hold_start, hold_end, step_end)


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
    #: The run's own steps (its plan); the routine file's for a run not started.
    routine: Routine | None = field(default=None, compare=False, repr=False)
    #: When a hands-free reply reaches its next step: the view changes then, by the clock.
    advances_at: float | None = None

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
    #: Personalised routines and their step lengths by (plan, hold length): every view of
    #: every poll reads them, and a plan changes only when its person asks.
    _personal: dict[tuple[tuple[str, ...], float | None], _Personal] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def new_state(self) -> RunState:
        return RunState(routine_id=self.routine.id)

    def routine_of(self, state: RunState) -> Routine:
        """The run's own steps: its plan with its hold length (the file's for no plan)."""
        return self._personalised(state).routine

    def _personalised(self, state: RunState) -> _Personal:
        key = (state.plan, state.hold_s)
        found = self._personal.get(key)
        if found is None:
            if len(self._personal) >= _PERSONAL_CACHE:
                self._personal.clear()
            routine = (
                self.routine.personalised(state.plan, state.hold_s)
                if state.plan or state.hold_s is not None
                else self.routine
            )
            lengths = tuple(self._step_length(step) for step in routine.steps)
            found = self._personal[key] = _Personal(routine, lengths)
        return found

    # -- runs this engine cannot read ---------------------------------------------------

    def unreadable(self, state: RunState) -> str | None:
        """Why a stored run cannot be read against this routine, or None when it can."""
        if state.routine_id != self.routine.id:
            return f"belongs to routine {state.routine_id!r}, not {self.routine.id!r}"
        if state.status is Status.IDLE:
            return None
        unknown = [key for key in state.plan if not self.routine.knows(key)]
        if unknown:
            at = state.plan[state.step_index] if state.step_index < len(state.plan) else None
            if at in unknown:
                return (
                    f"is at step {state.step_index} ({at!r}), which {self.routine.id!r} lacks now"
                )
            return f"plans step {unknown[0]!r}, which {self.routine.id!r} lacks now"
        count = len(state.plan) if state.plan else len(self.routine)
        if not 0 <= state.step_index + len(state.chain) < count:
            return f"is at step {state.step_index} but {self.routine.id!r} has {count} steps now"
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

    def current(self, state: RunState, now: float) -> RunState:
        """The run at `now` with the chained step under way made its current step.

        A hands-free reply says several steps in a row; the stored run keeps them as a
        chain, and which of them is being said is a matter of the clock alone.
        """
        if state.status is not Status.ACTIVE or not state.chain:
            return state
        if now < state.chain[0].started_at:
            return state
        reached = 0
        while reached + 1 < len(state.chain) and now >= state.chain[reached + 1].started_at:
            reached += 1
        step = state.chain[reached]
        index = state.step_index + 1 + reached
        hold = self.routine_of(state).step(index).hold
        return replace(
            state,
            step_index=index,
            step_started_at=step.started_at,
            hold_start=step.hold_start,
            hold_end=step.hold_end,
            step_end=step.step_end,
            step_hold_s=None if hold is None else hold.seconds,
            chain=state.chain[reached + 1 :],
        )

    def phase(self, state: RunState, now: float) -> Phase:
        """The phase at `now`; a run past the end of its last step is completed."""
        if self.unreadable(state) is not None:
            return Phase.IDLE
        if state.status is not Status.ACTIVE:
            return Phase(state.status.value)
        state = self.current(state, now)
        assert state.step_end is not None
        if now >= state.step_end:
            last = self.routine_of(state).last_index
            return Phase.COMPLETED if state.step_index >= last else Phase.AWAITING
        if state.hold_start is not None and now >= state.hold_start:
            return Phase.HOLDING
        return Phase.ANNOUNCING

    def view(self, state: RunState, now: float) -> RunView:
        """A pure reading of the run at `now`: phase, step, hold window and pending cues."""
        state = self.current(self.readable(state), now)
        phase = self.phase(state, now)
        routine = self.routine_of(state)
        step = None if phase is Phase.IDLE else routine.step(state.step_index)
        return RunView(
            now=now,
            state=state,
            phase=phase,
            step=step,
            step_count=len(routine),
            hold=self._hold_window(state, phase, now),
            cues=tuple(self._pending_cues(state, phase, now)),
            routine_remaining_s=self._routine_remaining(state, phase, now),
            settles_at=self._settles_at(state, phase),
            routine=routine,
            advances_at=state.chain[0].started_at if state.chain and phase.under_way else None,
        )

    def _settles_at(self, state: RunState, phase: Phase) -> float | None:
        """The end of the last step while a reply is still to reach it: no event will say."""
        last = self.routine_of(state).last_index
        if phase not in (Phase.ANNOUNCING, Phase.HOLDING, Phase.AWAITING):
            return None
        if state.chain and state.step_index + len(state.chain) >= last:
            return state.chain[-1].step_end
        if phase is not Phase.AWAITING and state.step_index >= last:
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
            plan = self._resume_plan(state)
            if plan is _Resume.ANNOUNCE_NEXT:
                return None  # this step's hold is done; the next step has its own
            if plan is _Resume.ANNOUNCE:
                # Resume announces the step again, so its whole hold is still to come.
                hold = self.routine_of(state).step(state.step_index).hold
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
        routine = self.routine_of(state)
        steps = [
            (state.step_index, state.hold_start, state.hold_end, state.step_end),
            *(
                (state.step_index + 1 + i, c.hold_start, c.hold_end, c.step_end)
                for i, c in enumerate(state.chain)
            ),
        ]
        cues: list[Cue] = []
        for index, hold_start, hold_end, step_end in steps:
            step = routine.step(index)
            if hold_start is not None and hold_end is not None:
                side = step.side.value if step.side else None
                cues.extend(hold_cues(index, hold_start, hold_end, side, warning=state.warning))
            if index >= routine.last_index and step_end is not None:
                cues.append(Cue(step_end, CueKind.ROUTINE_COMPLETE, index))
        return [cue for cue in cues if cue.at >= now]

    def _routine_remaining(self, state: RunState, phase: Phase, now: float) -> float:
        """Seconds of speech and holds still to come, to answer 'how long is left'.

        A paused or stopped run counts what resume will do: a hold carried on counts what it
        had left, a step announced again counts in full, a finished step not at all.
        """
        if phase is Phase.COMPLETED:
            return 0.0
        lengths = self._personalised(state).lengths
        if phase is Phase.IDLE:
            return sum(lengths)
        said = state.step_index + len(state.chain)
        later = sum(lengths[said + 1 :])
        if phase.under_way:
            assert state.step_end is not None
            end = state.chain[-1].step_end if state.chain else state.step_end
            return later + max(0.0, end - now)
        plan = self._resume_plan(state)
        if plan in (_Resume.KEEP_AWAITING, _Resume.ANNOUNCE_NEXT):
            return later
        if plan is _Resume.CONTINUE_HOLD:
            window = self._hold_window(state, phase, now)
            assert window is not None
            return later + window.remaining
        return later + lengths[state.step_index]

    def _step_length(self, step: Step) -> float:
        return self.timing.estimate(step.say) + (step.hold.seconds if step.hold else 0.0)

    # -- changing -----------------------------------------------------------------------

    def settle(self, state: RunState, now: float) -> RunState:
        """Bring a stored run up to date: completion once time has run past the last step
        (so history can keep it), and an unreadable run set aside as idle (a new version, so
        the store replaces it once rather than every request tripping over it)."""
        readable = self.readable(state)
        if readable is not state:
            return replace(readable, version=state.version + 1)
        if state.status is Status.ACTIVE and self.phase(state, now) is Phase.COMPLETED:
            done = self.current(state, now)
            return replace(
                done,
                version=state.version + 1,
                status=Status.COMPLETED,
                completed_at=done.step_end,
                paused_at=None,
                chain=(),
            )
        return state

    def apply(
        self,
        state: RunState,
        event: Event,
        now: float,
        lead_in: LeadIn = None,
        settings: Settings | None = None,
    ) -> Transition:
        """Apply `event` at `now`; `lead_in` says how long the voice talks before a hold starts.

        Without a lead-in the engine estimates it from the step's own words (or none for
        a resumed hold). `settings` (the person's) plan a run that starts now; a run under
        way keeps its own. Raises IllegalEvent for pairs the transition table leaves out.
        """
        settled = self.settle(state, now)
        working = self.current(settled, now)
        before = self.phase(working, now)
        action = TRANSITIONS.get((before, event))
        if action is None:
            raise IllegalEvent(before, event)
        act = _Act(now, _LeadInOf(self, lead_in), settings or Settings())
        change = self._BY_ACTION[action](self, working, act)
        new = change.state
        # Reading a chain along is not a change; anything else the action did is.
        changed = new != working
        if changed:
            new = replace(new, version=settled.version + 1)
        elif settled is not state:
            new, changed = settled, True
        else:
            new = settled
        return Transition(
            event=event,
            action=action,
            before=before,
            state=new,
            changed=changed,
            announcement=change.announcement,
            completed=new.status is Status.COMPLETED,
        )

    def replan(
        self, state: RunState, settings: Settings, interrupted_at: float | None = None
    ) -> RunState:
        """The run with the person's new settings from the next step no reply has said yet.

        Steps a reply already says (the current one and its chain) stay as they are; the
        rest are planned again, and the warning buzz follows at once. Asked by voice, the
        person's words cut the reply off (`interrupted_at`): only the step under way then
        stays, and the answer says the rest anew from the new plan.
        """
        stored = self.readable(state)
        if stored.status in (Status.IDLE, Status.COMPLETED):
            return stored
        state = stored
        if interrupted_at is not None:
            state = replace(self.current(stored, interrupted_at), chain=())
        fixed = state.step_index + len(state.chain)
        plan = state.plan or self.routine.plan()
        new = replace(
            state,
            plan=self.routine.replan(plan, fixed, settings.holds_per_side, settings.first_side),
            hold_s=settings.hold_seconds,
            warning=settings.warning_buzz,
            hands_free=_hands_free(settings, state.hands_free),
        )
        return stored if new == stored else replace(new, version=stored.version + 1)

    def _announce(
        self,
        state: RunState,
        index: int,
        act: _Act,
        *,
        at_first_step: bool = False,
    ) -> _Change:
        routine = self.routine_of(state)
        announcement = Announcement(
            index, at_first_step=at_first_step, routine=routine, hands_free=state.hands_free
        )
        said = act.said(announcement)
        step = routine.step(index)
        lead_end = act.now + said[0].lead_in_s
        if step.hold is None:
            hold_start = hold_end = None
            step_end = lead_end
        else:
            hold_start, hold_end = lead_end, lead_end + step.hold.seconds
            step_end = hold_end
        announced = replace(
            state,
            status=Status.ACTIVE,
            step_index=index,
            step_started_at=act.now,
            hold_start=hold_start,
            hold_end=hold_end,
            step_end=step_end,
            step_hold_s=None if step.hold is None else step.hold.seconds,
            paused_at=None,
            completed_at=None,
            chain=self._chain(routine, index, step_end, said[1:], act.now),
        )
        return _Change(announced, announcement)

    def _chain(
        self, routine: Routine, index: int, end: float, said: Sequence[Said], now: float
    ) -> tuple[Chained, ...]:
        """The deadlines of the steps a reply goes on to after step `index` ends at `end`."""
        if index + len(said) > routine.last_index:
            raise ValueError(f"a reply cannot go on past the routine's last step ({len(said)})")
        chain = []
        for offset, step_said in enumerate(said, start=1):
            begins, lead_end = now + step_said.begins_s, now + step_said.lead_in_s
            if begins < end - _SLACK_S or lead_end < begins - _SLACK_S:
                raise ValueError("a chained step must begin after the one before it ends")
            hold = routine.step(index + offset).hold
            if hold is None:
                chain.append(Chained(begins, None, None, lead_end))
            else:
                chain.append(
                    Chained(begins, lead_end, lead_end + hold.seconds, lead_end + hold.seconds)
                )
            end = chain[-1].step_end
        return tuple(chain)

    def _begin(self, state: RunState, act: _Act) -> _Change:
        settings = act.settings
        fresh = replace(
            self.new_state(),
            version=state.version,
            run_id=self.new_run_id(),
            started_at=act.now,
            plan=self.routine.plan(settings.holds_per_side, settings.first_side),
            hold_s=settings.hold_seconds,
            warning=settings.warning_buzz,
            hands_free=_hands_free(settings, False),
        )
        return self._announce(fresh, 0, act)

    def _advance(self, state: RunState, act: _Act) -> _Change:
        if state.step_index >= self.routine_of(state).last_index:
            done = replace(
                state, status=Status.COMPLETED, completed_at=act.now, paused_at=None, chain=()
            )
            return _Change(done)
        return self._announce(state, state.step_index + 1, act)

    def _go_back(self, state: RunState, act: _Act) -> _Change:
        # On the first step there is nothing earlier: it is said again, and the voice says so.
        first = state.step_index == 0
        return self._announce(state, max(0, state.step_index - 1), act, at_first_step=first)

    def _restart_step(self, state: RunState, act: _Act) -> _Change:
        return self._announce(state, state.step_index, act)

    def _pause(self, state: RunState, act: _Act) -> _Change:
        return _Change(replace(state, status=Status.PAUSED, paused_at=act.now, chain=()))

    def _stop(self, state: RunState, act: _Act) -> _Change:
        return _Change(replace(state, status=Status.STOPPED, paused_at=act.now, chain=()))

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
        if state.hands_free and state.step_index < self.routine_of(state).last_index:
            return _Resume.ANNOUNCE_NEXT
        return _Resume.KEEP_AWAITING

    def _resume(self, state: RunState, act: _Act) -> _Change:
        """Continue a paused hold with the time it had left; anything else starts the step anew."""
        assert state.paused_at is not None
        plan = self._resume_plan(state)
        if plan is _Resume.ANNOUNCE:
            return self._announce(state, state.step_index, act)
        running = replace(state, status=Status.ACTIVE)
        routine = self.routine_of(state)
        if plan is _Resume.CONTINUE_HOLD:
            assert state.hold_start is not None
            assert state.hold_end is not None
            remaining = state.hold_end - max(state.paused_at, state.hold_start)
            announcement = Announcement(
                state.step_index,
                resumed_hold_s=remaining,
                routine=routine,
                hands_free=state.hands_free,
            )
            said = act.said(announcement)
            hold_start = act.now + said[0].lead_in_s
            resumed = replace(
                running,
                step_started_at=act.now,
                hold_start=hold_start,
                hold_end=hold_start + remaining,
                step_end=hold_start + remaining,
                paused_at=None,
                chain=self._chain(
                    routine, state.step_index, hold_start + remaining, said[1:], act.now
                ),
            )
            return _Change(resumed, announcement)
        if plan is _Resume.ANNOUNCE_NEXT:
            # Paused between two steps the voice would have said in a row: go on to the next.
            return self._announce(running, state.step_index + 1, act)
        # Paused while awaiting the next step: keep awaiting, deadlines moved past.
        shift = act.now - state.paused_at

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
        if state.hold_start is None or state.hold_end is None:
            return False
        full = state.step_hold_s
        if full is None:  # a run stored before holds were recorded with it
            hold = self.routine_of(state).step(state.step_index).hold
            if hold is None:
                return False
            full = hold.seconds
        return state.hold_end - state.hold_start < full - 1e-6

    def _carry_on(self, state: RunState, act: _Act) -> _Change:
        """After an interruption: a hold keeps its end, and the voice says the rest of it
        (and, hands-free, the steps after it); hands-free, a step cut off mid-words is said
        again, and between two steps the next one comes. Waiting for next, nothing moves."""
        phase = self.phase(state, act.now)
        routine = self.routine_of(state)
        if phase is Phase.HOLDING:
            assert state.hold_end is not None
            assert state.step_end is not None
            announcement = Announcement(
                state.step_index,
                routine=routine,
                hands_free=state.hands_free,
                carried_hold_s=state.hold_end - act.now,
            )
            said = act.said(announcement)
            chain = self._chain(routine, state.step_index, state.step_end, said[1:], act.now)
            return _Change(replace(state, chain=chain), announcement)
        if not state.hands_free:
            return _Change(state)
        if phase is Phase.ANNOUNCING:
            return self._announce(state, state.step_index, act)
        if state.step_index < routine.last_index:
            return self._announce(state, state.step_index + 1, act)
        return _Change(state)

    def _nothing(self, state: RunState, act: _Act) -> _Change:
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
        Action.CARRY_ON: _carry_on,
        Action.NOTHING: _nothing,
    }


#: Personalised routines one engine keeps (one per distinct plan and hold length in use).
_PERSONAL_CACHE = 256
#: Rounding a reply's timings may carry without being taken for steps out of order.
_SLACK_S = 1e-6


def _hands_free(settings: Settings, otherwise: bool) -> bool:
    return otherwise if settings.flow is None else settings.flow is Flow.HANDS_FREE


@dataclass(frozen=True, slots=True)
class _Personal:
    """A plan made into steps, and how long each takes, worked out once."""

    routine: Routine
    lengths: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class _Change:
    """What one action made of a run: its new state, and the step it announces, if any."""

    state: RunState
    announcement: Announcement | None = None


@dataclass(frozen=True, slots=True)
class _Act:
    """What one event is applied with: the moment, how the voice times it, the settings."""

    now: float
    said: _LeadInOf
    settings: Settings


@dataclass(frozen=True, slots=True)
class _LeadInOf:
    """Resolves a LeadIn for one announcement, checking it gives sane speech lengths."""

    engine: RoutineEngine
    given: LeadIn

    def __call__(self, announcement: Announcement) -> tuple[Said, ...]:
        if callable(self.given):
            given = self.given(announcement)
        elif self.given is not None:
            given = self.given
        elif announcement.resumed_hold_s is not None:
            given = 0.0
        else:
            routine = announcement.routine or self.engine.routine
            given = self.engine.timing.estimate(routine.step(announcement.step_index).say)
        said = (Said(0.0, float(given)),) if isinstance(given, int | float) else tuple(given)
        if not said:
            raise ValueError("a reply must say the step it announces")
        for step in said:
            for seconds in (step.begins_s, step.lead_in_s):
                if not (isinstance(seconds, int | float) and 0 <= seconds < _MAX_REPLY_S):
                    raise ValueError(f"lead-in of {seconds!r} s is not a sane speech length")
        return said


#: The longest a reply (both its parts, hands-free) can take to reach a step.
_MAX_REPLY_S = 3600
