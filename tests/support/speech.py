"""Reading a reply's SSML as a test needs it: how long the hold's silence is written."""

from __future__ import annotations

from shared.timing.ssml import Silence, pieces


def hold_silence_s(ssml: str) -> float:
    """The longest silence the reply asks for: the hold's (the pieces before it pause briefly)."""
    return max((p.seconds for p in pieces(ssml) if isinstance(p, Silence)), default=0.0)
