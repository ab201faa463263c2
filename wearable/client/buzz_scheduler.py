"""Firing buzzes on the watch's own clock, so they land on time with no network at that moment.

The schedule is replaced whole by every poll answer (a pause or "next" by voice drops or moves
cues), and a cue already fired is never fired again when the same cue comes back.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

#: A cue this late (seconds) still fires, e.g. one that arrived in the same answer it is due.
LATE_TOLERANCE_S = 0.5
_REMEMBERED = 256

C = TypeVar("C", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Buzz(Generic[C]):
    """A fired cue: when it was due and when it fired, both on the watch's clock."""

    cue: C
    due: float
    fired: float


class BuzzScheduler(Generic[C]):
    """One thread that sleeps until the next due cue on `clock` and hands it to `on_buzz`."""

    def __init__(
        self,
        clock: Callable[[], float],
        on_buzz: Callable[[Buzz[C]], None],
        late_tolerance_s: float = LATE_TOLERANCE_S,
        time_scale: float = 1.0,
    ) -> None:
        self.clock = clock
        #: How many clock seconds pass per real second (a time-compressed demo runs faster).
        self.time_scale = time_scale
        self.on_buzz = on_buzz
        self.late_tolerance_s = late_tolerance_s
        self._cond = threading.Condition()
        self._pending: list[tuple[float, C]] = []
        self._fired: deque[C] = deque(maxlen=_REMEMBERED)
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="buzz-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def replace(self, due_cues: Iterable[tuple[float, C]]) -> None:
        """Make these (due time on the watch clock, cue) pairs the whole schedule."""
        with self._cond:
            self._pending = sorted(
                ((due, cue) for due, cue in due_cues if cue not in self._fired),
                key=lambda pair: pair[0],
            )
            self._cond.notify_all()

    def pending(self) -> list[tuple[float, C]]:
        with self._cond:
            return list(self._pending)

    def _loop(self) -> None:
        while True:
            with self._cond:
                due = self._next_due()
                if due is None:
                    return
                due_at, cue = due
                self._pending.pop(0)
                self._fired.append(cue)
            fired = self.clock()
            if fired - due_at > self.late_tolerance_s:
                log.info("skipped a cue %.3f s late", fired - due_at)
                continue
            try:
                self.on_buzz(Buzz(cue, due_at, fired))
            except Exception:
                log.exception("buzz handler failed")

    def _next_due(self) -> tuple[float, C] | None:
        """Wait (holding the lock) until the first cue is due; None once stopped."""
        while not self._stopped:
            if not self._pending:
                self._cond.wait()
                continue
            wait = self._pending[0][0] - self.clock()
            if wait <= 0:
                return self._pending[0]
            self._cond.wait(wait / self.time_scale)
        return None
