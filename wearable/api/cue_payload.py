"""A run as the watch reads it: the state, the hold window and every cue it can already place.

Times are whole epoch milliseconds on the server's clock, each rounded once from a reading of
it; the watch corrects for its own clock's offset (estimated from the `clock` block) before
scheduling a buzz. The run is read at one moment, `server_time_ms`, and what is left of a
running hold is computed from the rounded figures themselves (end minus that moment), so a
watch can check the arithmetic to the millisecond and the payload agrees with its headers.
Each cue carries its haptic pattern in every platform's shape, so a watch needs no lookup
table and one answer is enough to fire all later buzzes locally.
"""

from __future__ import annotations

import hashlib
from functools import cache, lru_cache
from typing import Any

import orjson

from shared.routine.cues import Cue, CueKind
from shared.routine.engine import Phase, RunView

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


#: What etag_for makes, quotes included, as the OpenAPI document describes the header.
ETAG_PATTERN = r'^"[0-9]+\.[0-9]+\.[0-9a-f]{16}"$'


def etag_for(user_id: str, view: RunView) -> str:
    """The ETag of the run as `view` reads it."""
    return etag_of(user_id, view.version, view.state.run_id, view.step_index)


def etag_of(user_id: str, version: int, run_id: str | None, step_index: int) -> str:
    """A strong ETag from the run's version, bound to the user, the run and the step under
    way (a hands-free reply moves on by the clock), so none is reused. A run's stamp holds
    the same four (shared/routine/stamp.py), so a poll can name it without reading the run."""
    return f"{PAYLOAD_FORMAT}.{version}.{_scope(user_id, run_id, step_index)}"


@lru_cache(maxsize=65_536)
def _scope(user_id: str, run_id: str | None, step_index: int) -> str:
    """The ETag's binding to the user, run and step: the same for every poll of that step."""
    bound = f"{user_id}\0{run_id or ''}\0{step_index}"
    return hashlib.sha256(bound.encode()).hexdigest()[:16]


def cue_to_dict(cue: Cue) -> dict[str, Any]:
    return {
        "at_ms": to_ms(cue.at),
        "kind": cue.kind.value,
        "step_index": cue.step_index,
        "side": cue.side,
        "pattern": _rendered(cue.kind),
    }


@cache
def _rendered(kind: CueKind) -> dict[str, Any]:
    """A kind's buzz on every platform: the same for every cue of it, so rendered once.

    Every 200 carries a few of them; the payload is only ever serialized, never changed.
    """
    return all_platforms(pattern_for(kind))


def remaining_ms(view: RunView, start_ms: int, end_ms: int, at_ms: int) -> int:
    """What is left of the hold, from whole milliseconds, so it equals end_ms - at_ms exactly.

    Rounding `end - now` on its own could land a millisecond off `end_ms - server_time_ms`;
    for a running hold both come from the same rounded figures. A paused or stopped hold is
    what resume will give, which no clock reading changes.
    """
    assert view.hold is not None
    if view.phase in (Phase.PAUSED, Phase.STOPPED):
        return to_ms(view.hold.remaining)
    return min(end_ms - start_ms, max(0, end_ms - at_ms))


def run_payload(view: RunView, routine_title: str) -> dict[str, Any]:
    """The body of a cue poll, less the `clock` block that is stamped just before sending."""
    at_ms = to_ms(view.now)
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
        start_ms, end_ms = to_ms(view.hold.start), to_ms(view.hold.end)
        hold = {
            "start_ms": start_ms,
            "end_ms": end_ms,
            "remaining_ms": remaining_ms(view, start_ms, end_ms, at_ms),
            "seconds": view.hold.seconds,
        }
    return {
        "server_time_ms": at_ms,
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


def to_json(body: dict[str, Any]) -> bytes:
    """The payload as JSON, keys sorted and a newline after, as Flask's jsonify writes it,
    but with orjson: the cue poll's 200 spends most of its time here otherwise. Text that
    is not ASCII goes out as UTF-8 rather than as escapes; a JSON reader sees the same."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


def clock_block(client_send_ms: int | None, received: float, sent: float) -> dict[str, Any]:
    """NTP's four timestamps less the last, which only the watch can take on arrival."""
    return {
        "client_send_ms": client_send_ms,
        "server_receive_ms": to_ms(received),
        "server_send_ms": to_ms(sent),
    }
