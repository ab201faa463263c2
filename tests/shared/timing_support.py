"""A made-up voice with known habits, to check that a fit learns exactly those habits.

It says each text in a length set by its own counts (not the prices the fit uses, so the
fit cannot merely echo them), pauses inside a text at every comma, and plays a written
break of L seconds as `GAP_S + L * (1 + GAP_PER_S)` of silence, but a piece break as
PIECE_GAP_S. Its "recording" is the stretches of sound it would make.
"""

from __future__ import annotations

from shared.timing.script import CalibrationScript
from shared.timing.text import spoken_words

GAP_S = 0.06
GAP_PER_S = 0.004
PIECE_GAP_S = 0.27
START_DELAY_S = 0.8
INNER_PAUSE_S = 0.35


def seconds_of(text: str) -> float:
    """How long the made-up voice takes to say one text."""
    words = spoken_words(text)
    return 0.3 + sum(0.08 + 0.055 * len(w) for w in words) + INNER_PAUSE_S * text.count(",")


def said_as_sounds(text: str, at: float) -> tuple[list[tuple[float, float]], float]:
    """The stretches of sound saying `text` from `at`, split at its commas; and its end."""
    chunks = [c for c in text.split(",") if c.strip()]
    total = seconds_of(text)
    sound = (total - INNER_PAUSE_S * (len(chunks) - 1)) / len(chunks)
    out, t = [], at
    for i, _ in enumerate(chunks):
        out.append((t, t + sound))
        t += sound + (INNER_PAUSE_S if i < len(chunks) - 1 else 0.0)
    return out, at + total


def recording_of(
    script: CalibrationScript, start: float = START_DELAY_S
) -> list[tuple[float, float]]:
    """What the made-up voice makes of the whole script, starting `start` s in."""
    sounds: list[tuple[float, float]] = []
    t = start
    for i, part in enumerate(script.parts):
        texts = [part] if isinstance(part, str) else list(part)
        for j, text in enumerate(texts):
            heard, t = said_as_sounds(text, t)
            sounds += heard
            if j < len(texts) - 1:
                t += PIECE_GAP_S
        if i < len(script.separators):
            t += GAP_S + script.separators[i] * (1 + GAP_PER_S)
    return sounds
