"""The routine and one user's run of it.

- definition.py: the routine as data (steps, holds, sides), loaded from a file and validated
- engine.py: a run as a state machine over absolute deadlines; the (phase, event) table
- cues.py: the moments the wrist buzzes, derived from a run's deadlines
- coach.py: the one door both sides go through (load, apply, save with compare-and-set);
  import it from shared.routine.coach, since it builds on the stores and notifiers
"""

from .cues import Cue, CueKind
from .definition import Routine, RoutineError, Side, Step, load_routine, parse_routine
from .engine import Event, IllegalEvent, Phase, RoutineEngine, RunState, RunView, Status

__all__ = [
    "Cue",
    "CueKind",
    "Event",
    "IllegalEvent",
    "Phase",
    "Routine",
    "RoutineEngine",
    "RoutineError",
    "RunState",
    "RunView",
    "Side",
    "Status",
    "Step",
    "load_routine",
    "parse_routine",
]
