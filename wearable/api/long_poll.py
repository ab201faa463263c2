"""Holding a cue poll open until the run changes, so the voice's changes reach the wrist at once.

The Coach publishes every save on its notifier; a waiting poll wakes on it and reads the run
again. Each round opens a watch on the user before it reads the run, so a change that lands
between the read and the wait still ends the wait at once (shared/notify/).

Three cases need care. A run on its last step completes by the clock alone (the next read
settles it), so the wait is cut short at that moment. A notifier may wake a poll while the
store shows no change: after a Redis reconnect it wakes every waiter, since messages sent
while it was away are lost. If it is listening again, the poll simply waits on it again;
only while it cannot hear other instances does the poll re-read the store every
FALLBACK_POLL_S instead, and it goes back to the notifier as soon as it hears again. A
notifier that keeps waking without a change (more than SPURIOUS_WAKES times in one poll) is
not spun on: the rest of that poll re-reads on the timer. And a closed notifier means the
server is stopping: the poll answers at once with the run as it is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from shared.routine.coach import Coach
from shared.routine.engine import RunView

log = logging.getLogger(__name__)

#: How often a poll re-reads the store while the notifier cannot be relied on.
FALLBACK_POLL_S = 0.5
#: Wake-ups without a change that one poll takes before it stops trusting the notifier.
SPURIOUS_WAKES = 3
# A hair past a deadline, so the read after waking sees the run settled.
_SETTLE_MARGIN_S = 0.01


class Seen(Protocol):
    """What the watch holds: a run's version and the step under way (a view, or a stamp)."""

    @property
    def version(self) -> int: ...

    @property
    def step_index(self) -> int: ...


def _changes_in(coach: Coach, view: RunView) -> float | None:
    """Seconds until the run changes by the clock alone (the engine says when): it completes,
    or a hands-free reply reaches its next step."""
    moments = [at for at in (view.settles_at, view.advances_at) if at is not None]
    if not moments:
        return None
    return max(0.0, min(moments) - coach.clock.now()) + _SETTLE_MARGIN_S


def _changed(view: RunView, seen: Seen) -> bool:
    """A new version, or the same one gone on to its next step by the clock (hands-free)."""
    return view.version != seen.version or view.step_index != seen.step_index


def wait_for_change(
    coach: Coach,
    user_id: str,
    seen: Seen,
    wait_s: float,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    pause: Callable[[float], object] | None = None,
) -> RunView:
    """The run once it differs from `seen` (a new version, or a hands-free reply's next
    step), or as it is when `wait_s` runs out."""
    pause = pause or threading.Event().wait
    notifier = coach.notifier
    deadline = monotonic() + wait_s
    woke = deaf = False
    spurious = 0
    while True:
        with notifier.watching(user_id, seen.version):
            view = coach.view(user_id)  # read after the watch opened: no change slips by
            if _changed(view, seen) or notifier.closed:
                return view  # a change, or the server is stopping: answer now either way
            if woke:
                spurious += 1
                deaf = not notifier.listening
                log.debug("notifier woke a poll without a change (listening: %s)", not deaf)
            elif deaf and notifier.listening:
                deaf = False  # it hears every instance again: back to waiting on it
            remaining = deadline - monotonic()
            if remaining <= 0:
                return view
            timeout = remaining
            changes = _changes_in(coach, view)
            if changes is not None:
                timeout = min(timeout, changes)
            if deaf or spurious > SPURIOUS_WAKES:
                pause(min(timeout, FALLBACK_POLL_S))
                woke = False
            else:
                woke = notifier.wait(user_id, seen.version, timeout)
