"""A run as the watch reads it: the state, the hold window and every cue it can already place.

Times are epoch milliseconds on the server's clock; the watch corrects for its own clock's
offset (estimated from the `clock` block) before scheduling a buzz. Each cue carries its haptic
pattern in every platform's shape, so a watch needs no lookup table and one answer is enough
to fire all later buzzes locally.
"""

from __future__ import annotations

import hashlib
from typing import Any

from shared.cues import Cue
from shared.engine import Phase, RunView

from .haptics import all_platforms, pattern_for

#: Bumped when the payload's shape changes, so a watch's old ETag never matches a new shape.
PAYLOAD_FORMAT = 1
#: The longest `wait` a long poll may ask for, in seconds.
MAX_WAIT_S = 30

# How long a watch that cannot long-poll should wait before polling again, by phase: sooner
# while a run moves (the voice may say next at any moment), rarely when nothing is on.
_POLL_AFTER_MS = {
    Phase.ANNOUNCING: 5_000,
    Phase.HOLDING: 5_000,
    Phase.AWAITING: 5_000,
    Phase.PAUSED: 10_000,
    Phase.STOPPED: 30_000,
    Phase.IDLE: 30_000,
    Phase.COMPLETED: 30_000,
}


def to_ms(seconds: float) -> int:
    return round(seconds * 1000)


def etag_for(user_id: str, view: RunView) -> str:
    """A strong ETag from the run's version, bound to the user and run so none is reused."""
    scope = hashlib.sha256(f"{user_id}\0{view.state.run_id or ''}".encode()).hexdigest()[:16]
    return f"{PAYLOAD_FORMAT}.{view.version}.{scope}"


def cue_to_dict(cue: Cue) -> dict[str, Any]:
    return {
        "at_ms": to_ms(cue.at),
        "kind": cue.kind.value,
        "step_index": cue.step_index,
        "side": cue.side,
        "pattern": all_platforms(pattern_for(cue.kind)),
    }


def run_payload(view: RunView, routine_title: str) -> dict[str, Any]:
    """The body of a cue poll, less the `clock` block that is stamped just before sending."""
    step = None
    if view.step is not None:
        step = {
            "index": view.step_index,
            "count": view.step_count,
            "id": view.step.id,
            "title": view.step.title,
            "side": view.step.side.value if view.step.side else None,
            "hold_seconds": view.step.hold.seconds if view.step.hold else None,
        }
    hold = None
    if view.hold is not None:
        hold = {
            "start_ms": to_ms(view.hold.start),
            "end_ms": to_ms(view.hold.end),
            "remaining_ms": to_ms(view.hold.remaining),
            "seconds": view.hold.seconds,
        }
    return {
        "version": view.version,
        "state": view.phase.value,
        "routine": {"id": view.state.routine_id, "title": routine_title},
        "step": step,
        "step_count": view.step_count,
        "hold": hold,
        "routine_remaining_ms": to_ms(view.routine_remaining_s),
        "poll": {"after_ms": _POLL_AFTER_MS[view.phase], "max_wait_s": MAX_WAIT_S},
        "cues": [cue_to_dict(cue) for cue in view.cues],
    }


def clock_block(client_send_ms: int | None, received: float, sent: float) -> dict[str, Any]:
    """NTP's four timestamps less the last, which only the watch can take on arrival."""
    return {
        "client_send_ms": client_send_ms,
        "server_receive_ms": to_ms(received),
        "server_send_ms": to_ms(sent),
    }
