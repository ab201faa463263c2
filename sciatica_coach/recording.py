"""Where there is speech in a recording: stretches of sound, found by their loudness.

The calibration fit (shared/timing/fit.py) needs only where each stretch of speech starts
and ends. A voice is tens of decibels above a room's hiss, so a level meter does: the
loudness of every 5 ms frame, a noise floor from the quietest frames, and a threshold part
way up to the loud ones. Gaps shorter than a stop consonant's are closed and blips shorter
than a syllable dropped, so a click or a breath does not count as a word.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

FRAME_S = 0.005
#: Silence inside a word (a stop consonant) lasts up to about this; shorter gaps are closed.
CLOSE_GAP_S = 0.08
#: Sound shorter than this is a click or a breath, not speech.
MIN_SOUND_S = 0.06
#: The threshold sits this far from the noise floor toward the speech level, in decibels.
THRESHOLD_SHARE = 0.35
#: A recording whose loud parts stand less than this above its floor holds no speech.
MIN_SPEECH_DB = 15.0
#: Frames quieter than this are digital silence (a padded or trimmed stretch, the last bit
#: of a 16-bit sample), not the room: the noise floor is taken from the rest.
DIGITAL_SILENCE_DB = -90.0


class RecordingError(ValueError):
    """A file that cannot be read as a recording with speech in it, and why."""


def read_mono(path: str | Path) -> tuple[np.ndarray, int]:
    """The samples of any file libsndfile reads (WAV, FLAC, OGG), channels averaged."""
    if not Path(path).is_file():
        raise RecordingError(f"{path}: no such file")
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        reason = str(exc).rsplit(": ", 1)[-1].rstrip(".")
        raise RecordingError(f"{path}: not an audio file this can read ({reason})") from None
    if samples.shape[0] == 0:
        raise RecordingError(f"{path}: the recording is empty")
    return samples.mean(axis=1), int(rate)


def sounds(samples: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """(start, end) seconds of every stretch of sound; an error if there is no speech."""
    frame = max(1, round(rate * FRAME_S))
    count = len(samples) // frame
    if count < 10:
        raise RecordingError("the recording is too short to hold speech")
    frames = samples[: count * frame].astype(np.float64).reshape(count, frame)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    room = level[level > DIGITAL_SILENCE_DB]
    floor = float(np.percentile(room if room.size else level, 10))
    loud = float(np.percentile(level, 99))
    if loud - floor < MIN_SPEECH_DB:
        raise RecordingError("no speech in the recording: it is silent, or all noise")
    on = level > floor + THRESHOLD_SHARE * (loud - floor)
    runs = _runs(on)
    step = frame / rate
    closed: list[list[int]] = []
    for start, end in runs:
        if closed and (start - closed[-1][1]) * step < CLOSE_GAP_S:
            closed[-1][1] = end
        else:
            closed.append([start, end])
    return [
        (round(start * step, 4), round(end * step, 4))
        for start, end in closed
        if (end - start) * step >= MIN_SOUND_S
    ]


def _runs(on: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) frame indexes of each run of True."""
    edges = np.diff(np.concatenate(([0], on.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def sounds_in(path: str | Path) -> list[tuple[float, float]]:
    samples, rate = read_mono(path)
    return sounds(samples, rate)
