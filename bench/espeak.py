"""An independent voice: espeak-ng (Debian) reads our SSML aloud into a WAV file.

The timing we check must never be checked against our own estimate, so the bench and the
tests hear what a real text-to-speech engine makes of each reply. espeak-ng's SSML differs
from Alexa's in one way that matters here: breaks in a row are merged, not added, so a
silence that SSML writes as several 10 s breaks (Alexa's limit for one) is handed to it as
one break of the same total length.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sciatica_coach.recording import sounds_in
from shared.timing.ssml import MAX_BREAK_SECONDS

ESPEAK = "espeak-ng"
_BREAKS = re.compile(r'(?:<break time="(\d+)ms"/>\s*)+')
_ONE_BREAK = re.compile(r'<break time="(\d+)ms"/>')


@dataclass(frozen=True, slots=True)
class Voice:
    """One espeak-ng voice at one speaking rate (words per minute)."""

    name: str
    rate: int

    def __str__(self) -> str:
        return f"{self.name} @ {self.rate} wpm"


#: The bench's three voices: a US and a British voice at a slow and a middling rate, and a
#: variant voice read fast.
VOICES = (Voice("en-us", 160), Voice("en-gb", 140), Voice("en-us+f3", 190))


def available() -> bool:
    return shutil.which(ESPEAK) is not None


def for_espeak(ssml: str) -> str:
    """The same document with every run of breaks written as one break of their sum."""

    def merged(run: re.Match[str]) -> str:
        total = sum(int(ms) for ms in _ONE_BREAK.findall(run.group(0)))
        return f'<break time="{total}ms"/>'

    return _BREAKS.sub(merged, ssml)


def speak(ssml: str, voice: Voice, wav: str | Path) -> Path:
    """Render `ssml` as `voice` says it, into `wav`."""
    subprocess.run(
        [ESPEAK, "-m", "-v", voice.name, "-s", str(voice.rate), "-w", str(wav), for_espeak(ssml)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Path(wav)


def heard(ssml: str, voice: Voice) -> list[tuple[float, float]]:
    """Where there is sound when `voice` says `ssml`, in seconds from its start."""
    with tempfile.TemporaryDirectory() as tmp:
        return sounds_in(speak(ssml, voice, Path(tmp) / "said.wav"))


def hold_in(ssml: str, voice: Voice) -> tuple[float, float]:
    """(the end of the words before the hold, the start of the words after it), on audio.

    The hold is the longest silence in the reply; nothing else in a reply is silent for
    more than a few hundred milliseconds, let alone several seconds.
    """
    sounds = heard(ssml, voice)
    gaps = [(b[0] - a[1], a[1], b[0]) for a, b in itertools.pairwise(sounds)]
    longest, before, after = max(gaps)
    if longest < MAX_BREAK_SECONDS / 4:
        raise ValueError(f"no hold in this reply: its longest silence is {longest:.2f} s")
    return before, after
