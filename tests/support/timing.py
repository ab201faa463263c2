"""A made-up voice with known habits, to check that a fit learns exactly those habits.

It says each text in a length set by its own counts (not the prices the fit uses, so the
fit cannot merely echo them), pauses inside a text at every comma, and plays a written
break of L seconds as `GAP_S + L * (1 + GAP_PER_S)` of silence, but a piece break as
PIECE_GAP_S. Its "recording" is the stretches of sound it would make.

It can also read a calibration in turns, as a speaker does for a watch's tuning
(shared/timing/tuning.py): a section per response, each followed by the skill's closing words and
the person saying "Alexa, next".
"""

from __future__ import annotations

from shared.clock import ManualClock
from shared.timing.script import CalibrationScript, Section
from shared.timing.text import spoken_words
from shared.timing.tuning import Tuning

GAP_S = 0.06
GAP_PER_S = 0.0
PIECE_GAP_S = 0.27
START_DELAY_S = 0.8
INNER_PAUSE_S = 0.35

#: A short script a tuning reads in three sections when a section may take TUNING_SECTION_S
#: by the default timing: (0, 2), (2, 2), (4, 3).
TUNING_SCRIPT = CalibrationScript(
    parts=(
        "Let's measure how this speaker talks.",
        "Before we begin, move gently.",
        ("Step 1 of 2: Quick stretch, left side.", "Hold it.", "Starting now."),
        "Time's up. Switch sides.",
        "Picking up your hold with 12 seconds to go.",
        "Hold for 30 seconds.",
        "That's the last line. Thank you.",
    ),
    gaps=(1.5, 4.0, 2.5, 6.0, 1.5, 2.5),
)
TUNING_SECTION_S = 15.0
TUNING_SECTIONS = ((0, 2), (2, 2), (4, 3))


def seconds_of(text: str) -> float:
    """How long the made-up voice takes to say one text."""
    words = spoken_words(text)
    return 0.3 + sum(0.08 + 0.055 * len(w) for w in words) + INNER_PAUSE_S * text.count(",")


def silence_of(written_s: float) -> float:
    """How long the made-up voice is silent for a written break of `written_s`."""
    return GAP_S + written_s * (1 + GAP_PER_S)


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


def section_of(
    script: CalibrationScript, section: Section, start: float
) -> tuple[list[tuple[float, float]], float]:
    """What the made-up voice makes of one section of the script from `start`; and its end."""
    first, count = section
    sounds: list[tuple[float, float]] = []
    t = start
    for i in range(first, first + count):
        part = script.parts[i]
        texts = [part] if isinstance(part, str) else list(part)
        for j, text in enumerate(texts):
            heard, t = said_as_sounds(text, t)
            sounds += heard
            if j < len(texts) - 1:
                t += PIECE_GAP_S
        if i < first + count - 1:
            t += silence_of(script.separators[i])
    return sounds, t


def recording_of(
    script: CalibrationScript, start: float = START_DELAY_S
) -> list[tuple[float, float]]:
    """What the made-up voice makes of the whole script, starting `start` s in."""
    return section_of(script, (0, len(script.parts)), start)[0]


def then_next(end: float) -> tuple[list[tuple[float, float]], float]:
    """What is heard after a section that ends at `end`: the skill's closing words ("That's
    part 1 of 3...") after its 2.5 s break, then the person's "Alexa, next"; and their end."""
    closing = (end + 2.5 + GAP_S, end + 5.0)
    answer = (end + 6.5, end + 7.3)
    return [closing, answer], answer[1]


def read_in_turns(
    tuning: Tuning, user_id: str, clock: ManualClock, delay_s: float
) -> list[tuple[float, float]]:
    """The voice reads the whole script a section per response, as a speaker does.

    Each section starts `delay_s` after its response left (the server's clock), its closing
    words and the person's "next" follow, and the next response leaves half a second after
    that. Returns every stretch of sound heard, on the server's clock; the clock is left
    after the last closing words.
    """
    sounds: list[tuple[float, float]] = []
    from_start = True
    while True:
        turn = tuning.speak(user_id, clock.now(), from_start=from_start)
        from_start = False
        state = tuning.state(user_id, clock.now())
        assert state is not None
        heard, end = section_of(tuning.script, state.plan[turn.number - 1], clock.now() + delay_s)
        after, end = then_next(end)
        sounds += heard + after
        clock.set(end + 0.5)
        if turn.last:
            return sounds
