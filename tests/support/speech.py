"""Reading a reply's SSML as a test needs it: how long the hold's silence is written.

And how long Alexa pauses at each break strength, which both the SSML reader's tests and
the timing model's tests hold the code to.
"""

from __future__ import annotations

from shared.timing.ssml import Silence, pieces

#: Alexa's pause for each `<break strength>`, in seconds (Amazon's SSML reference).
ALEXA_BREAK_STRENGTHS = [
    ("none", 0.0),
    ("x-weak", 0.0),
    ("weak", 0.35),
    ("medium", 0.5),
    ("strong", 0.75),
    ("x-strong", 1.0),
]


def hold_silence_s(ssml: str) -> float:
    """The longest silence the reply asks for: the hold's (the pieces before it pause briefly)."""
    return max((p.seconds for p in pieces(ssml) if isinstance(p, Silence)), default=0.0)
