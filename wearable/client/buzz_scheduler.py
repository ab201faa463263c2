"""Firing buzzes on the watch's own clock, so they land on time with no network at that moment.

The schedule is replaced whole by every poll answer (a pause or "next" by voice drops or moves
cues), and a cue already fired is never fired again when the same cue comes back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

#: A cue this late (seconds) still fires, e.g. one that arrived in the same answer it is due.
LATE_TOLERANCE_S = 0.5
_REMEMBERED = 256
#: The scheduler sleeps until this long (seconds, real time) before a cue, then spins with
#: yields to the moment: a timed wait can wake late by the OS timer's slack and, on a busy
#: machine, by a whole time slice, while a spinning thread is already on the CPU.
SPIN_S = 0.003

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
        spin_s: float = SPIN_S,
    ) -> None:
        self.clock = clock
        self.spin_s = spin_s
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
        spun_for: tuple[float, C] | None = None
        while not self._stopped:
            if not self._pending:
                self._cond.wait()
                continue
            head = self._pending[0]
            wait = (head[0] - self.clock()) / self.time_scale
            if wait <= 0:
                return head
            if wait > self.spin_s or spun_for is head:
                # Far off, or the clock barely moved while we spun (a test's): just sleep.
                self._cond.wait(max(wait - self.spin_s, 0.0) or wait)
                continue
            spun_for = head
            self._cond.release()  # let replace() in while this thread spins
            try:
                self._spin_until(head[0])
            finally:
                self._cond.acquire()
        return None

    def _spin_until(self, due_at: float) -> None:
        """Yield the CPU and the GIL until `clock` reaches `due_at`, for twice spin_s at most."""
        deadline = time.monotonic() + 2 * self.spin_s
        while self.clock() < due_at and time.monotonic() < deadline:
            time.sleep(0)
