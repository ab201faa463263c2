"""Reading SSML as a speaker plays it: text, breaks, paragraph and sentence edges, spelling.

Alexa's rules, as its SSML reference gives them: a <break> is its `time` if given (`2s`,
`.5s`, `500ms`), else its strength; one break plays at most ten seconds, so longer silences
are chained breaks; a paragraph pauses like an x-strong break, a sentence like a strong one;
a <sub alias> is heard as its alias.

SSML is XML, and Alexa refuses a document that is not well-formed, so it is read with the
standard library's XML pull parser: a document that would be refused gets an SSMLError
saying what is wrong and where, rather than a time for words that will never be spoken.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.parsers.expat import errors as expat_errors

_TIME = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)\s*$", re.IGNORECASE)
#: The document is read inside this element, so text and several tags may stand at its top
#: (a fragment such as a lead-in) and Alexa's own `amazon:` tags need no declaration.
_ROOT = '<ssml-fragment xmlns:amazon="https://developer.amazon.com/ssml">'
_ROOT_END = "</ssml-fragment>"
_UNDEFINED_ENTITY = expat_errors.codes[expat_errors.XML_ERROR_UNDEFINED_ENTITY]

# Alexa's own break strengths (its SSML reference gives the medium default as a comma).
_BREAK_STRENGTH = {
    "none": 0.0,
    "x-weak": 0.0,
    "weak": 0.35,
    "medium": 0.5,
    "strong": 0.75,
    "x-strong": 1.0,
}
#: Alexa's reference: a paragraph pauses like an x-strong break, a sentence like a strong one.
STRUCTURE_PAUSE = {"p": _BREAK_STRENGTH["x-strong"], "s": _BREAK_STRENGTH["strong"]}
_SPELLED = frozenset({"digits", "characters", "spell-out"})
_WORDLIKE = re.compile(r"[A-Za-z0-9]")
#: Alexa plays at most ten seconds for one <break>.
MAX_BREAK_SECONDS = 10.0
#: The short break between the pieces of what is said before a hold (skill/speech.py): each
#: piece is then a stretch of speech a voice profile measured once, exactly.
PIECE_BREAK_S = 0.3
PIECE_BREAK = f'<break time="{round(PIECE_BREAK_S * 1000)}ms"/>'


class SSMLError(ValueError):
    """SSML that is not well-formed XML: Alexa would refuse it, so no time can be given."""

    def __init__(self, problem: str, line: int, column: int) -> None:
        super().__init__(f"SSML is not well-formed: {problem} at line {line}, column {column}")
        self.problem = problem
        self.line = line
        self.column = column


def tokens(ssml: str) -> list[tuple[str, object]]:
    """Split SSML into text, break, edge and spell markers; unknown tags are ignored.

    A <sub alias="..."> is heard as its alias, so its own content is left out. The document
    may be a whole <speak> or a fragment of one (text and tags side by side); entities are
    XML's (`&amp;`, `&lt;`, `&#8217;`...), as Alexa reads them. Raises SSMLError, saying
    where, if the text is not well-formed XML.
    """
    out: list[tuple[str, object]] = []
    spell_stack: list[bool] = []
    sub_stack: list[bool] = []

    def text(chunk: str | None) -> None:
        if chunk and not any(sub_stack):
            out.append(("text", chunk))

    events = _events(ssml)
    text(events[0][1].text)  # the fragment's own text: what comes before the first tag
    for event, element in events[1:-1]:
        name = _local(element.tag).lower()
        if event == "start":
            attributes = {_local(k).lower(): v for k, v in element.attrib.items()}
            if name == "break":
                out.append(("break", break_seconds(attributes)))
            elif name in STRUCTURE_PAUSE:
                out.append(("edge", STRUCTURE_PAUSE[name]))
            elif name == "sub":
                if "alias" in attributes:
                    text(attributes["alias"])
                sub_stack.append("alias" in attributes)
            elif name == "say-as":
                spell = attributes.get("interpret-as", "") in _SPELLED
                spell_stack.append(spell)
                if spell:
                    out.append(("spell+", None))
            text(element.text)
        else:
            if name in STRUCTURE_PAUSE:
                out.append(("edge", STRUCTURE_PAUSE[name]))
            elif name == "sub":
                sub_stack.pop()
            elif name == "say-as" and spell_stack.pop():
                out.append(("spell-", None))
            text(element.tail)
    return out


def _events(ssml: str) -> list[tuple[str, ET.Element]]:
    """Every start and end event of the fragment, its own included (first and last).

    The whole text is fed before any event is used, so each element's text and tail are
    complete by then.
    """
    parser = ET.XMLPullParser(events=("start", "end"))
    events: list[tuple[str, ET.Element]] = []
    parser.feed(_ROOT)
    parser.feed(ssml)
    try:
        _drain(parser, events)
    except ET.ParseError as exc:
        raise _not_well_formed(exc, ssml, _open_tags(events)) from None
    parser.feed(_ROOT_END)
    try:
        _drain(parser, events)
        parser.close()
    except ET.ParseError as exc:  # the fragment ended with a tag still open
        raise _not_well_formed(exc, ssml, _open_tags(events), at_end=True) from None
    return events


def _drain(parser: ET.XMLPullParser, events: list[tuple[str, ET.Element]]) -> None:
    """Move the parser's events to `events`; those before an error are kept, to say where."""
    for event in parser.read_events():
        events.append(event)  # type: ignore[arg-type]


def _open_tags(events: list[tuple[str, ET.Element]]) -> list[str]:
    """The tags left open after `events`, outermost first, the fragment's own left out."""
    names: list[str] = []
    for event, element in events:
        if event == "start":
            names.append(_local(element.tag))
        else:
            names.pop()
    return names[1:]


def _not_well_formed(
    exc: ET.ParseError, ssml: str, still_open: list[str], *, at_end: bool = False
) -> SSMLError:
    """The parser's complaint, placed in `ssml` itself and said in the reader's terms."""
    line, column = exc.position
    if line == 1:
        column -= len(_ROOT)  # the wrapper is on the first line, before the fragment
    problem = str(exc).split(": line ", 1)[0]
    if exc.code == _UNDEFINED_ENTITY:
        problem += " (SSML knows &amp; &lt; &gt; &quot; &apos; and numeric ones like &#8217;)"
    if at_end and still_open:
        problem = f"<{still_open[-1]}> is not closed"
        lines = ssml.split("\n")
        line, column = len(lines), len(lines[-1])
    elif problem == "mismatched tag":
        problem = (
            f"a closing tag does not match <{still_open[-1]}>"
            if still_open
            else "a closing tag has no opening tag"
        )
    return SSMLError(problem, line, column + 1)


def _local(name: str) -> str:
    """A tag or attribute name without its namespace: `{uri}effect` is `effect`."""
    return name.rpartition("}")[2]


def break_seconds(attributes: dict[str, str]) -> float:
    """A break's length as Alexa plays it: time wins over strength, capped at ten seconds."""
    if "time" in attributes:
        match = _TIME.match(attributes["time"])
        if not match:
            return 0.0
        value = float(match.group(1)) / (1000.0 if match.group(2).lower() == "ms" else 1.0)
        return min(value, MAX_BREAK_SECONDS)
    return _BREAK_STRENGTH.get(attributes.get("strength", "medium"), 0.5)


def silence_ssml(seconds: float) -> str:
    """A silence of any length as chained breaks, since one break stops at ten seconds."""
    if seconds < 0:
        raise ValueError("silence cannot be negative")
    parts = []
    left_ms = round(seconds * 1000)
    cap_ms = int(MAX_BREAK_SECONDS * 1000)
    while left_ms > 0:
        chunk = min(left_ms, cap_ms)
        parts.append(f'<break time="{chunk}ms"/>')
        left_ms -= chunk
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Speech:
    """A stretch of words with no silence inside that SSML asks for."""

    text: str
    spell: bool = False


@dataclass(frozen=True, slots=True)
class Silence:
    """Silence that SSML asks for: breaks in a row add up, as Alexa plays them."""

    seconds: float


def pieces(ssml: str) -> list[Speech | Silence]:
    """The document as the speaker plays it: stretches of speech and the silences between.

    Text with no word in it (spaces, a lone full stop) joins the stretch it follows. Breaks
    next to each other add up; paragraph and sentence edges that meet pause once, as long
    as the longest of them. A stretch spelled out with say-as is its own piece.
    """
    out: list[Speech | Silence] = []
    spell = False
    words: list[str] = []
    silence = edge = 0.0

    def close_words() -> None:
        text = "".join(words).strip()
        words.clear()
        if not text:
            return
        if _WORDLIKE.search(text):
            out.append(Speech(text, spell))
        elif out and isinstance(out[-1], Speech):  # trailing punctuation of the last stretch
            out[-1] = Speech(out[-1].text + text, out[-1].spell)

    def close_silence() -> None:
        nonlocal silence, edge
        if silence + edge > 0:
            out.append(Silence(silence + edge))
        silence = edge = 0.0

    for kind, value in tokens(ssml):
        if kind == "text":
            text = str(value)
            if _WORDLIKE.search(text):
                close_silence()
            words.append(text)
        elif kind in ("spell+", "spell-"):
            close_words()
            spell = kind == "spell+"
        elif kind == "break":
            close_words()
            silence += float(value)  # type: ignore[arg-type]
        else:  # a paragraph or sentence edge; one at the very start pauses nothing
            close_words()
            if out:
                edge = max(edge, float(value))  # type: ignore[arg-type]
    close_words()
    close_silence()
    return out
