"""Reading SSML as a speaker plays it: text, breaks, paragraph and sentence edges, spelling.

Alexa's rules, as its SSML reference gives them: a <break> is its `time` if given (`2s`,
`.5s`, `500ms`), else its strength; one break plays at most ten seconds, so longer silences
are chained breaks; a paragraph pauses like an x-strong break, a sentence like a strong one;
a <sub alias> is heard as its alias.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

_TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z:-]+)([^>]*?)(/?)\s*>")
_ATTR = re.compile(r"([a-zA-Z:-]+)\s*=\s*(\"[^\"]*\"|'[^']*')")
_TIME = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)\s*$", re.IGNORECASE)

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
_WORDLIKE = re.compile(r"[A-Za-z0-9]")
#: Alexa plays at most ten seconds for one <break>.
MAX_BREAK_SECONDS = 10.0
#: The short break between the pieces of what is said before a hold (skill/speech.py): each
#: piece is then a stretch of speech a voice profile measured once, exactly.
PIECE_BREAK_S = 0.3
PIECE_BREAK = f'<break time="{round(PIECE_BREAK_S * 1000)}ms"/>'


def tokens(ssml: str) -> list[tuple[str, object]]:
    """Split SSML into text, break, edge and spell markers; unknown tags are ignored.

    A <sub alias="..."> is heard as its alias, so its own content is left out.
    """
    tokens: list[tuple[str, object]] = []
    pos = 0
    spell_stack: list[bool] = []
    sub_stack: list[bool] = []

    def text(chunk: str) -> None:
        if chunk and not any(sub_stack):
            tokens.append(("text", html.unescape(chunk)))

    for match in _TAG.finditer(ssml):
        text(ssml[pos : match.start()])
        pos = match.end()
        closing, name, attrs, self_closing = match.groups()
        name = name.lower()
        attributes = {k.lower(): html.unescape(v[1:-1]) for k, v in _ATTR.findall(attrs)}
        if name == "break":
            # <break .../> and <break ...></break> are one break; the closing tag is not another.
            if not closing:
                tokens.append(("break", break_seconds(attributes)))
        elif name in STRUCTURE_PAUSE:
            tokens.append(("edge", STRUCTURE_PAUSE[name]))
        elif name == "sub":
            if closing:
                if sub_stack:
                    sub_stack.pop()
            elif "alias" in attributes:
                text(attributes["alias"])
                if not self_closing:
                    sub_stack.append(True)
            elif not self_closing:
                sub_stack.append(False)
        elif name == "say-as" and not closing:
            spell = attributes.get("interpret-as", "") in {"digits", "characters", "spell-out"}
            if not self_closing:
                spell_stack.append(spell)
                if spell:
                    tokens.append(("spell+", None))
        elif name == "say-as" and closing and spell_stack and spell_stack.pop():
            tokens.append(("spell-", None))
    text(ssml[pos:])
    return tokens


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
