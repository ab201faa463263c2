"""Haptic cues: the moments the wrist must buzz, as absolute times on the server clock."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: How long before a hold ends the wrist gives its warning buzz.
WARNING_LEAD_S = 5.0


class CueKind(StrEnum):
    """What a buzz means; each kind gets its own haptic pattern on the watch."""

    HOLD_START = "hold_start"
    HOLD_WARNING = "hold_warning"
    HOLD_END = "hold_end"
    ROUTINE_COMPLETE = "routine_complete"


@dataclass(frozen=True, slots=True)
class Cue:
    """One buzz: when (epoch seconds), what kind, and the step it belongs to."""

    at: float
    kind: CueKind
    step_index: int
    side: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "at": self.at,
            "kind": self.kind.value,
            "step_index": self.step_index,
            "side": self.side,
        }


def hold_cues(
    step_index: int, start: float, end: float, side: str | None, *, warning: bool = True
) -> list[Cue]:
    """Cues of one hold window; the warning is left out when the hold is too short for it,
    or when the person turned it off."""
    cues = [Cue(start, CueKind.HOLD_START, step_index, side)]
    warning_at = end - WARNING_LEAD_S
    if warning and warning_at > start:
        cues.append(Cue(warning_at, CueKind.HOLD_WARNING, step_index, side))
    cues.append(Cue(end, CueKind.HOLD_END, step_index, side))
    return cues
