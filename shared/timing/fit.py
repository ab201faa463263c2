"""From a recording of the calibration script (as stretches of sound) to a voice profile.

Whoever listened (the command line reading a WAV file, the watch face's microphone) hands
over where sound was heard, as (start, end) seconds on one clock. The fit groups them into
the script's parts by the long separator silences, refuses a recording that does not line
up with the script, and keeps: every part's length as measured, the break realization
(heard silence against written break, a straight line), the word prices fitted over all
parts, and, when the recording's clock starts with the response, the start delay.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from .profile import ProfileError, VoiceProfile, WordPrices, run_key
from .script import SEPARATOR_MIN_S, CalibrationScript, Section, said
from .text import Features, features, normalized
from .words import SpeechTimingModel

#: A part heard this many times shorter or longer than the default model says it takes
#: is not that part: the recording does not follow the script.
PLAUSIBLE_RATIO = 3.0
#: Fewer stretches than this (as seconds of sound) is silence, whatever a level meter says.
MIN_SPEECH_S = 0.5
#: A silence between parts heard further than this from the voice's own break line means
#: the parts are not lined up (a break heard is written +- a few tens of milliseconds).
MAX_SILENCE_MISS_S = 0.75
#: Ridge weight pulling word prices toward the defaults, so a short script cannot make
#: one price run wild while another goes negative.
RIDGE = 0.05


class RecordingMismatch(ValueError):
    """A recording that cannot be the calibration script being read, and why."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One part as heard: first sound to last, on the recording's clock."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def group(sounds: Sequence[tuple[float, float]], gap_s: float = SEPARATOR_MIN_S) -> list[Segment]:
    """Join stretches of sound closer than `gap_s` into segments, in time order."""
    segments: list[Segment] = []
    for start, end in sorted(sounds):
        if end < start:
            raise RecordingMismatch("a stretch of sound ends before it starts")
        if segments and start - segments[-1].end < gap_s:
            segments[-1] = Segment(segments[-1].start, max(end, segments[-1].end))
        else:
            segments.append(Segment(start, end))
    return segments


@dataclass(frozen=True, slots=True)
class Take:
    """What was heard while one section of the script was said, on one clock.

    `response_at` is when that section's response left the server (a recording started
    with it says 0.0; None: unknown, and no start delay is measured). With `then_more`,
    sound after the section's last part is someone answering ("next") and is left out.
    """

    section: Section
    sounds: Sequence[tuple[float, float]]
    response_at: float | None = None
    then_more: bool = False


def fit_profile(
    script: CalibrationScript,
    sounds: Sequence[tuple[float, float]],
    *,
    name: str = "",
    response_at: float | None = None,
) -> VoiceProfile:
    """The profile of the voice heard reading `script` whole, in one recording.

    `response_at`, on the sounds' clock, is when the script's response left the server
    (a recording started with it says 0.0); the start delay is then measured too.
    """
    whole = Take((0, len(script.parts)), sounds, response_at)
    return fit_takes(script, [whole], name=name)


def fit_takes(script: CalibrationScript, takes: Sequence[Take], *, name: str = "") -> VoiceProfile:
    """The profile of the voice heard reading `script` section by section, one take each.

    The takes must cover the script's parts in order. Each is lined up with its section on
    its own (its parts counted, their lengths and the silences between them checked against
    the script), so a speaker that reads a long script in several turns fits like one read.
    """
    covered = [i for take in takes for i in range(take.section[0], sum(take.section))]
    if covered != list(range(len(script.parts))):
        raise ValueError("the takes must cover the script's parts once each, in order")
    segments: list[Segment] = []
    gaps: list[tuple[float, float]] = []
    before_ends: list[tuple[int, int]] = []  # (part before a hold end, its gap's index)
    delays: list[float] = []
    opened: list[tuple[int, float]] = []  # (opening part, its take's delay)
    for number, take in enumerate(takes, start=1):
        where = f" in part {number} of {len(takes)}" if len(takes) > 1 else ""
        heard = _line_up(script, take, where)
        first = take.section[0]
        for i, (seg, nxt) in enumerate(pairwise(heard)):
            if first + i + 1 in script.hold_ends:
                before_ends.append((first + i, len(gaps)))
            gaps.append((script.separators[first + i], nxt.start - seg.end))
        if take.response_at is not None:
            delays.append(max(0.0, heard[0].start - take.response_at))
            if first in script.openings:
                opened.append((first, delays[-1]))
        segments.extend(heard)
    gap_s, gap_per_s = _line(gaps)
    _check_silences(gaps, gap_s, gap_per_s)
    heard = list(zip(script.parts, segments, strict=True))
    parts = _mean_by_key((_key(p), seg.seconds) for p, seg in heard)
    prices = fit_prices([(features(p), seg.seconds) for p, seg in heard if isinstance(p, str)])
    # What a hold's end costs after each text said before it, beyond the break line.
    ends = _mean_by_key(
        (
            normalized(_last_piece(script.parts[i])),
            gaps[g][1] - gap_s - gaps[g][0] * (1 + gap_per_s),
        )
        for i, g in before_ends
    )
    piece_gap = _piece_gap(heard, parts)
    start_delay = statistics.median(delays) if delays else None
    onsets = {}
    if start_delay is not None:
        for index, delay in opened:
            part = script.parts[index]
            onsets[_key(part)] = delay - start_delay
    try:
        profile = VoiceProfile(
            name=name,
            parts=parts,
            prices=prices,
            gap_s=gap_s,
            gap_per_s=gap_per_s,
            piece_gap_s=piece_gap,
            start_delay_s=start_delay,
            onsets=onsets,
            ends=ends,
        )
    except ProfileError as exc:
        raise RecordingMismatch(f"the recording gives figures no voice has ({exc})") from None
    return _with_report(profile, script, segments, gaps)


def _key(part: str | tuple[str, ...]) -> str:
    return normalized(part) if isinstance(part, str) else run_key(part)


def _last_piece(part: str | tuple[str, ...]) -> str:
    return part if isinstance(part, str) else part[-1]


def _mean_by_key(pairs: Iterable[tuple[str, float]]) -> dict[str, float]:
    """The mean per key, in first-seen order: a part said twice was measured twice."""
    seen: dict[str, list[float]] = {}
    for key, value in pairs:
        seen.setdefault(key, []).append(value)
    return {key: statistics.fmean(values) for key, values in seen.items()}


def _line_up(script: CalibrationScript, take: Take, where: str) -> list[Segment]:
    """The take's segments, one per part of its section, or why they cannot be."""
    first, count = take.section
    if sum(end - start for start, end in take.sounds) < MIN_SPEECH_S:
        raise RecordingMismatch(f"no speech{where}: the recording is silent, or too quiet")
    segments = group(take.sounds)
    if take.response_at is not None:
        # Sound before the response left is someone else (a cough, the last answer).
        segments = [s for s in segments if s.end > take.response_at]
    if len(segments) > count and take.then_more:
        segments = segments[:count]
    if len(segments) != count:
        raise RecordingMismatch(
            f"heard {len(segments)} separate stretches of speech{where}, but the script has "
            f"{count} parts there: record the whole script, with nothing else talking"
        )
    default = SpeechTimingModel()
    for i, segment in zip(range(first, first + count), segments, strict=True):
        part = script.parts[i]
        expected = default.estimate(f"<speak>{said(part)}</speak>")
        ratio = segment.seconds / expected if expected else float("inf")
        if not 1 / PLAUSIBLE_RATIO <= ratio <= PLAUSIBLE_RATIO:
            opening = part if isinstance(part, str) else part[0]
            raise RecordingMismatch(
                f"part {i + 1} ({opening[:30]!r}) lasted {segment.seconds:.2f} s where it takes "
                f"about {expected:.1f} s: this is not a recording of the calibration script"
            )
    return segments


def _check_silences(gaps: Sequence[tuple[float, float]], gap_s: float, gap_per_s: float) -> None:
    """Refuse a recording whose silences do not follow the script's written breaks.

    The breaks take several lengths, so stretches matched to the wrong parts (a word lost,
    a cough counted) leave silences far off any one line through written and heard.
    """
    for written, heard in gaps:
        expected = gap_s + written * (1 + gap_per_s)
        if abs(heard - expected) > MAX_SILENCE_MISS_S:
            raise RecordingMismatch(
                f"a {written:g} s pause in the script was heard as {heard:.2f} s: the "
                "stretches of speech do not line up with the script's parts"
            )


def _piece_gap(
    heard: Sequence[tuple[str | tuple[str, ...], Segment]], alone: Mapping[str, float]
) -> float | None:
    """What one piece break costs, from each run heard against its pieces heard alone.

    `alone` is the profile's parts: a run's key holds RUN_JOIN, so no text lookup finds it.
    """
    costs = [
        (segment.seconds - sum(alone[normalized(t)] for t in part)) / (len(part) - 1)
        for part, segment in heard
        if isinstance(part, tuple) and all(normalized(t) in alone for t in part)
    ]
    return statistics.median(costs) if costs else None


def fit_prices(rows: Sequence[tuple[Features, float]]) -> WordPrices:
    """Least squares, pulled gently toward the defaults, with no price below zero.

    Small enough to solve by hand: five unknowns, normal equations, Gaussian elimination;
    a price that comes out negative is fixed at zero and the rest fitted again.
    """
    names = list(WordPrices().to_json())
    prior = list(WordPrices().to_json().values())
    free = list(range(len(names)))
    while True:
        solution = _ridge([(f.as_row(), y) for f, y in rows], prior, free)
        negative = [j for j in free if solution[j] < 0]
        if not negative:
            return WordPrices(**dict(zip(names, solution, strict=True)))
        free = [j for j in free if j not in negative]


def _ridge(
    rows: Sequence[tuple[Sequence[float], float]], prior: Sequence[float], free: Sequence[int]
) -> list[float]:
    n = len(free)
    scale = max(1, len(rows))
    a = [[0.0] * n for _ in range(n)]
    b = [0.0] * n
    for x, y in rows:
        for i, fi in enumerate(free):
            b[i] += x[fi] * y
            for j, fj in enumerate(free):
                a[i][j] += x[fi] * x[fj]
    for i, fi in enumerate(free):
        a[i][i] += RIDGE * scale
        b[i] += RIDGE * scale * prior[fi]
    solved = _solve(a, b)
    out = [0.0] * len(prior)
    for i, fi in enumerate(free):
        out[fi] = solved[i]
    return out


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting; the ridge keeps `a` well conditioned."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(col + 1, n):
            factor = m[r][col] / m[col][col]
            for c in range(col, n + 1):
                m[r][c] -= factor * m[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][c] * x[c] for c in range(r + 1, n))) / m[r][r]
    return x


def _line(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(gap_s, gap_per_s) with heard = gap_s + written * (1 + gap_per_s): a break is played
    as long as it is written, plus what the words around it trail and lead by.

    That excess differs text by text (tens of milliseconds; see `ends`), which a fitted
    slope would take for a rate and stretch across a 30 s hold, so the slope stays 1 and
    the excess is the median over every silence heard.
    """
    if not points:
        return 0.0, 0.0
    return statistics.median(y - x for x, y in points), 0.0


def _with_report(
    profile: VoiceProfile,
    script: CalibrationScript,
    segments: Sequence[Segment],
    gaps: Sequence[tuple[float, float]],
) -> VoiceProfile:
    """The profile with its fit report: how far its rules would miss what was heard.

    Parts are timed exactly by construction, so the report checks the rest: each part
    timed as if it had not been heard (leave one out), and each separator's silence.
    """
    misses = []
    for i, part in enumerate(script.parts):
        if not isinstance(part, str):
            continue
        others = {k: v for k, v in profile.parts.items() if normalized(part) not in k}
        blind = VoiceProfile(profile.name, others, profile.prices)
        misses.append(abs(blind.speech_seconds(part) - segments[i].seconds))
    gap_misses = [abs(profile.silence_heard(x) - y) for x, y in gaps]
    report = {
        "parts": len(script.parts),
        "speech_s": round(sum(s.seconds for s in segments), 3),
        "unheard_text_miss_s": {
            "median": round(statistics.median(misses), 3),
            "max": round(max(misses), 3),
        },
        "silence_miss_s": {
            "median": round(statistics.median(gap_misses), 3) if gap_misses else 0.0,
            "max": round(max(gap_misses), 3) if gap_misses else 0.0,
        },
    }
    return dataclasses.replace(profile, fit=report)
