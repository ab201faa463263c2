"""The watch's side of tuning: what it is told while it listens, and what it sends back.

The face listens with the microphone while the speaker reads the calibration script
(shared/timing/tuning.py); it keeps nothing of the audio but where sound started and stopped, on
the server's clock, and sends those stretches once the last part has been read.
"""

from __future__ import annotations

from typing import Any

from shared.timing.script import SEPARATOR_MIN_S
from shared.timing.tuning import LISTEN_FOR_S, MAX_SOUNDS, TuningState

from .cue_payload import to_ms
from .problems import Problem, ProblemType

#: The largest millisecond time a stretch of sound may carry (15 digits, as elsewhere).
MAX_MS = 999_999_999_999_999
#: Largest body the tuning endpoint reads: MAX_SOUNDS pairs of 15-digit times.
TUNING_MAX_BODY = 64 * 1024


def tuning_body(state: TuningState, now: float) -> dict[str, Any]:
    """What a listening watch needs: which parts were read when, and how to tell them apart."""
    sections = [
        {
            "parts": count,
            "spoken_at_ms": to_ms(state.spoken[k]) if k < len(state.spoken) else None,
        }
        for k, (_, count) in enumerate(state.plan)
    ]
    return {
        "server_time_ms": to_ms(now),
        "listening_since_ms": to_ms(state.listening_since),
        "listen_until_ms": to_ms(state.listening_since + LISTEN_FOR_S),
        "sections": sections,
        "done_speaking": state.all_spoken,
        "separator_min_ms": to_ms(SEPARATOR_MIN_S),
        "max_sounds": MAX_SOUNDS,
    }


def sounds_from_body(body: Any) -> list[tuple[float, float]]:
    """The (start, end) seconds sent as {"sounds": [[start_ms, end_ms], ...]}, or a 400."""
    if (
        not isinstance(body, dict)
        or set(body) != {"sounds"}
        or not isinstance(body["sounds"], list)
    ):
        raise _malformed('The body must be exactly {"sounds": [[start_ms, end_ms], ...]}.')
    pairs = body["sounds"]
    if len(pairs) > MAX_SOUNDS:
        raise _malformed(f"At most {MAX_SOUNDS} stretches of sound, not {len(pairs)}.")
    sounds = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, list) or len(pair) != 2 or not all(map(_is_ms, pair)):
            raise _malformed(f"sounds[{i}] must be [start_ms, end_ms], epoch milliseconds.")
        start, end = pair
        sounds.append((start / 1000, end / 1000))
    return sounds


def _is_ms(value: object) -> bool:
    # bool is an int to Python but not a number to JSON; NaN and infinity are not JSON.
    return type(value) in (int, float) and 0 <= value <= MAX_MS  # type: ignore[operator]


def _malformed(detail: str) -> Problem:
    return Problem(400, detail, ProblemType.MALFORMED_REQUEST)
