"""The calibration script: texts a voice reads once, laid out so the recording can be cut apart.

Each part is said on its own, and between two parts lies a written break long enough that no
pause inside a part (a comma, a full stop, a breath) can be taken for it. The breaks take
several lengths, so the fit can also learn how this voice plays a break of a given length:
a hold's silence is a break too, and its length decides when "Time's up" is heard.

A part may also be a run of pieces joined by the short piece break, exactly as the skill
says them before a hold: the run is then timed as a whole, as heard. Where a run's pieces
are also said alone, the difference is what a piece break costs this voice in the middle of
real speech, for runs never heard whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from .ssml import MAX_BREAK_SECONDS, PIECE_BREAK, silence_ssml
from .text import normalized

#: The written breaks between parts, in turn: short and long ones, up to the longest single
#: break Alexa plays, so that a 30 s hold (three 10 s breaks) needs no extrapolation far out.
SEPARATORS_S = (1.5, 4.0, 2.5, 6.0, 1.5, MAX_BREAK_SECONDS)
#: The break before the last part: as long as a hold, so the fit measures a hold's silence
#: instead of stretching a line from ten seconds to thirty.
LONGEST_SEPARATOR_S = 30.0
#: A silence at least this long in a recording is a separator; inside a part a voice pauses
#: for less (espeak-ng and Alexa pause well under a second at a full stop).
SEPARATOR_MIN_S = 1.1
#: The most parts one script may have: Alexa speaks at most 8000 characters in one response.
MAX_SCRIPT_PARTS = 60
MAX_SCRIPT_CHARS = 7000


#: A stretch of the script said in one turn: (index of its first part, how many parts).
Section = tuple[int, int]


@dataclass(frozen=True)
class Opening:
    """A part the skill says first in a response: the script has it read first in one."""

    texts: str | tuple[str, ...]


@dataclass(frozen=True)
class HoldEnd:
    """What the skill says as a hold ends, after the part before it; it may come again.

    A voice trails off differently after different words ("now." and "hold." leave 60 ms
    apart in espeak-ng), so the silence before "Time's up" is measured after each text
    that precedes a hold's end.
    """

    texts: str | tuple[str, ...]


class ScriptError(ValueError):
    """A set of texts that cannot make a calibration script."""


@dataclass(frozen=True)
class CalibrationScript:
    """The parts in the order they are said, and the break written after each but the last.

    A part is a text, or (a run of pieces) a tuple of texts said with piece breaks between.
    `gaps` overrides the standard separators (a short script for a quick check, a test);
    each must still be long enough to tell apart from a pause inside a part. `openings`
    are the parts the skill says first in a response, so a speaker reads each of them first
    in one too: a voice may draw out words said after a minute of talk (espeak-ng does, by
    up to 150 ms on a 20 s lead-in), and a hold starts where the words before it end.
    `hold_ends` are the parts that end a hold ("Time's up"): each follows a text the skill
    says before a hold's silence, so the silence heard after that very text is measured.
    """

    parts: tuple[str | tuple[str, ...], ...]
    gaps: tuple[float, ...] | None = None
    openings: frozenset[int] = frozenset()
    hold_ends: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if any(not 0 <= i < len(self.parts) for i in self.openings | self.hold_ends):
            raise ScriptError("an opening or hold end must be one of the script's parts")
        if self.gaps is None:
            return
        if len(self.gaps) != len(self.parts) - 1:
            raise ScriptError(f"{len(self.parts)} parts need {len(self.parts) - 1} separators")
        shortest = round(SEPARATOR_MIN_S + 0.3, 3)  # 1.1 + 0.3 is 1.4000000000000001
        if any(not shortest <= gap <= LONGEST_SEPARATOR_S for gap in self.gaps):
            raise ScriptError(f"a separator must be {shortest:g} to {LONGEST_SEPARATOR_S:g} s")

    @classmethod
    def of(cls, texts: Iterable[str | Sequence[str] | Opening | HoldEnd]) -> CalibrationScript:
        """Each distinct part once, in first-seen order (a HoldEnd each time it comes, after
        what it follows); blank texts are left out."""
        parts: list[str | tuple[str, ...]] = []
        index_of: dict[tuple[str, ...], int] = {}
        openings: set[int] = set()
        hold_ends: set[int] = set()
        for item in texts:
            texts_of = item.texts if isinstance(item, Opening | HoldEnd) else item
            run = tuple(
                _one_stretch(t) for t in ([texts_of] if isinstance(texts_of, str) else texts_of)
            )
            run = tuple(t for t in run if t)
            if not run:
                continue
            key = tuple(normalized(t) for t in run)
            if isinstance(item, HoldEnd):
                hold_ends.add(len(parts))
            elif key in index_of:
                if isinstance(item, Opening):
                    openings.add(index_of[key])
                continue
            index_of.setdefault(key, len(parts))
            if isinstance(item, Opening):
                openings.add(len(parts))
            parts.append(run[0] if len(run) == 1 else run)
        if len(index_of) < 3:
            raise ScriptError("a calibration script needs at least three different parts")
        if len(parts) > MAX_SCRIPT_PARTS:
            raise ScriptError(f"a calibration script holds at most {MAX_SCRIPT_PARTS} parts")
        script = cls(tuple(parts), openings=frozenset(openings), hold_ends=frozenset(hold_ends))
        if len(script.ssml()) > MAX_SCRIPT_CHARS:
            raise ScriptError(f"the script is longer than {MAX_SCRIPT_CHARS} characters")
        return script

    @property
    def separators(self) -> tuple[float, ...]:
        """The break written after part i, for every part but the last."""
        if self.gaps is not None:
            return self.gaps
        cycle = [SEPARATORS_S[i % len(SEPARATORS_S)] for i in range(len(self.parts) - 1)]
        if cycle:
            cycle[-1] = LONGEST_SEPARATOR_S
        return tuple(cycle)

    def ssml(self, section: Section | None = None) -> str:
        """The script (or one section of it) as one SSML document, as a voice reads it."""
        return "<speak>" + self.body(section) + "</speak>"

    def body(self, section: Section | None = None) -> str:
        """The SSML inside <speak>: parts with their separators, none after the last."""
        first, count = (0, len(self.parts)) if section is None else section
        body = []
        for i in range(first, first + count):
            body.append(said(self.parts[i]))
            if i < first + count - 1:
                body.append(silence_ssml(self.separators[i]))
        return "".join(body)

    def sections(self, seconds: Callable[[str], float], limit_s: float) -> tuple[Section, ...]:
        """The script cut into pieces each said within `limit_s`, by the `seconds` estimate.

        One response plays at most a few minutes of speech, so a speaker reads a long script
        in turns. Each opening starts a section; other cuts fall only where a separator
        stands, never at a hold-long one (the fit needs that silence heard), and a part
        longer than the limit is a section alone.
        """
        lengths = [seconds(f"<speak>{said(part)}</speak>") for part in self.parts]
        cuts: list[Section] = []
        first = 0
        while first < len(self.parts):
            count, total = 1, lengths[first]
            while first + count < len(self.parts) and first + count not in self.openings:
                more = self.separators[first + count - 1] + lengths[first + count]
                if total + more > limit_s and self._cuttable(first + count - 1):
                    break
                count, total = count + 1, total + more
            cuts.append((first, count))
            first += count
        return tuple(cuts)

    def _cuttable(self, after: int) -> bool:
        return self.separators[after] <= MAX_BREAK_SECONDS


def said(part: str | tuple[str, ...]) -> str:
    """A part as SSML: a text escaped, a run's pieces joined by piece breaks."""
    return PIECE_BREAK.join(escape(t) for t in ([part] if isinstance(part, str) else part))


def _one_stretch(text: str) -> str:
    """Plain text, spaced once: it is escaped into the SSML, so no tag in it can split it."""
    return " ".join(text.split())
