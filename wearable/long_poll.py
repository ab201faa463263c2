"""Holding a cue poll open until the run changes, so the voice's changes reach the wrist at once.

The Coach publishes every save on its notifier; a waiting poll wakes on it and reads the run
again. Two cases need care. A run on its last step completes by the clock alone (the next
read settles it), so the wait is cut short at that moment. And a notifier can wake a poll
while the store shows no change: its last published version may disagree with the store (a
user was forgotten, or another process saved and only it heard). Waiting on it again would
spin, so after such a wake the poll re-reads the store every FALLBACK_POLL_S instead. A
closed notifier means the server is stopping: the poll answers at once with the run as it is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from shared.coach import Coach
from shared.engine import Phase, RunView

log = logging.getLogger(__name__)

#: How often a poll re-reads the store once the notifier has proved unreliable for it.
FALLBACK_POLL_S = 0.5
# A hair past a deadline, so the read after waking sees the run settled.
_SETTLE_MARGIN_S = 0.01


def _settles_in(coach: Coach, view: RunView) -> float | None:
    """Seconds until a read would record this run as completed, if it runs on its last step."""
    state = view.state
    running = view.phase in (Phase.ANNOUNCING, Phase.HOLDING)
    if not running or state.step_end is None or view.step_index < view.step_count - 1:
        return None
    return max(0.0, state.step_end - coach.clock.now()) + _SETTLE_MARGIN_S


def wait_for_change(
    coach: Coach,
    user_id: str,
    seen: RunView,
    wait_s: float,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    pause: Callable[[float], object] | None = None,
) -> RunView:
    """The run once its version differs from `seen`'s, or as it is when `wait_s` runs out."""
    pause = pause or threading.Event().wait
    deadline = monotonic() + wait_s
    view = seen
    trust_notifier = True
    while True:
        remaining = deadline - monotonic()
        if remaining <= 0:
            return view
        timeout = remaining
        settles = _settles_in(coach, view)
        if settles is not None:
            timeout = min(timeout, settles)
        if trust_notifier:
            woke = coach.notifier.wait(user_id, seen.version, timeout)
        else:
            pause(min(timeout, FALLBACK_POLL_S))
            woke = False
        view = coach.view(user_id)
        if view.version != seen.version or coach.notifier.closed:
            return view  # a change, or the server is stopping: answer now either way
        if woke and trust_notifier:
            log.debug("notifier woke a poll without a change; re-reading the store instead")
            trust_notifier = False
