"""The watch's side of tuning: what it is told while it listens, and what it sends back.

The face listens with the microphone while the speaker reads the calibration script
(shared/timing/tuning.py); it keeps nothing of the audio but where sound started and stopped,
on the server's clock, and sends those stretches once the last part has been read. Both shapes
are the contract's (`Tuning`, `HeardRequest` in contract.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from shared.timing.script import SEPARATOR_MIN_S
from shared.timing.tuning import LISTEN_FOR_S, MAX_SOUNDS, TuningState

from . import contract
from .contract import MAX_MS
from .cue_payload import to_ms
from .problems import Problem, ProblemType

__all__ = ["MAX_MS", "TUNING_MAX_BODY", "sounds_from_body", "tuning_body"]

#: Largest body the tuning endpoint reads: MAX_SOUNDS pairs of 15-digit times.
TUNING_MAX_BODY = 64 * 1024


def tuning_body(state: TuningState, now: float) -> contract.Tuning:
    """What a listening watch needs: which parts were read when, and how to tell them apart."""
    sections = [
        contract.TuningSection(
            parts=count,
            spoken_at_ms=to_ms(state.spoken[k]) if k < len(state.spoken) else None,
        )
        for k, (_, count) in enumerate(state.plan)
    ]
    return contract.Tuning(
        server_time_ms=to_ms(now),
        listening_since_ms=to_ms(state.listening_since),
        listen_until_ms=to_ms(state.listening_since + LISTEN_FOR_S),
        sections=sections,
        done_speaking=state.all_spoken,
        separator_min_ms=to_ms(SEPARATOR_MIN_S),
        max_sounds=MAX_SOUNDS,
    )


def sounds_from_body(body: Any) -> list[tuple[float, float]]:
    """The (start, end) seconds sent as {"sounds": [[start_ms, end_ms], ...]}, or a 400."""
    try:
        heard = contract.HeardRequest.model_validate(body)
    except ValidationError as exc:
        raise _malformed(_what_is_wrong(exc.errors())) from None
    return [(start / 1000, end / 1000) for start, end in heard.sounds]


def _what_is_wrong(errors: list[Any]) -> str:
    """One thing to tell the watch, in the order it would fix them: the body's shape, then how
    many stretches, then the first stretch that is not a pair of times."""
    whole = [e for e in errors if len(e["loc"]) < 2]
    if any(e["loc"] != ("sounds",) or e["type"] != "too_long" for e in whole):
        return 'The body must be exactly {"sounds": [[start_ms, end_ms], ...]}.'
    if whole:
        sent = whole[0]["ctx"]["actual_length"]
        return f"At most {MAX_SOUNDS} stretches of sound, not {sent}."
    first = min(e["loc"][1] for e in errors)
    return f"sounds[{first}] must be [start_ms, end_ms], epoch milliseconds."


def _malformed(detail: str) -> Problem:
    return Problem(400, detail, ProblemType.MALFORMED_REQUEST)
