"""A person's own speaker, measured by their own watch: a calibration read in turns.

The watch starts listening first, so no word is missed; then the voice reads the
calibration script, a section per response (Alexa plays a few minutes of speech at most in
one), the person saying "next" between sections; then the watch sends where it heard
sound, on the server's clock. The fit lines each section up with what was heard after its
response left, so the speaker's start delay is measured too. Nothing heard is kept but
those timings, and they only until the fit.

Both sides share this: the voice asks for the next section, the watch says when it listens
and what it heard. The state lives with the user's voice settings (UserVoice, in the store).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from . import VoiceProfile
from .fit import RecordingMismatch, Take
from .script import CalibrationScript, Section
from .voices import Voices

#: A watch that has listened this long without hearing the script through has given up.
LISTEN_FOR_S = 15 * 60.0
#: The most speech one section takes by the user's current timing: Alexa plays at most
#: 240 s of audio in one response, and a timing not yet calibrated may be 15% short.
SECTION_LIMIT_S = 200.0
#: The most stretches of sound one calibration may report: the script's parts, split at
#: every pause, with room for a noisy room.
MAX_SOUNDS = 1500


class TuningError(ValueError):
    """A step of the calibration that cannot be taken now, and why (for the person)."""


class NotListening(TuningError):
    """No watch is listening for this user (none started, or it gave up)."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One section for the voice to read: which of how many, and its SSML body."""

    number: int
    count: int
    body: str

    @property
    def last(self) -> bool:
        return self.number == self.count


@dataclass(frozen=True, slots=True)
class TuningState:
    """A calibration under way: since when the watch listens, the plan, what was said when.

    `plan` is empty until the voice starts reading; `spoken[k]` is when section k's
    response left. `script` is the script's hash, so a changed script starts over.
    """

    listening_since: float
    script: str
    plan: tuple[Section, ...] = ()
    spoken: tuple[float, ...] = ()

    @property
    def all_spoken(self) -> bool:
        return bool(self.plan) and len(self.spoken) == len(self.plan)

    def dumps(self) -> str:
        return json.dumps(
            {
                "listening_since": self.listening_since,
                "script": self.script,
                "plan": [list(s) for s in self.plan],
                "spoken": list(self.spoken),
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str) -> TuningState | None:
        """The state kept, or None when it cannot be read (then it is as if none was)."""
        try:
            raw = json.loads(text)
            state = cls(
                listening_since=float(raw["listening_since"]),
                script=str(raw["script"]),
                plan=tuple((int(a), int(b)) for a, b in raw["plan"]),
                spoken=tuple(float(t) for t in raw["spoken"]),
            )
        except (ValueError, TypeError, KeyError):
            return None
        return state if len(state.spoken) <= len(state.plan) else None


def script_key(script: CalibrationScript) -> str:
    return hashlib.sha256(script.ssml().encode()).hexdigest()[:16]


class Tuning:
    """The calibration's steps, over the user's voice settings."""

    def __init__(
        self,
        voices: Voices,
        script: CalibrationScript,
        section_limit_s: float = SECTION_LIMIT_S,
    ) -> None:
        self.voices = voices
        self.script = script
        self.section_limit_s = section_limit_s
        self._key = script_key(script)

    def listen(self, user_id: str, now: float) -> TuningState:
        """The watch listens from now: any calibration before it starts over."""
        state = TuningState(listening_since=now, script=self._key)
        self.voices.keep_tuning(user_id, state.dumps(), now)
        return state

    def state(self, user_id: str, now: float) -> TuningState | None:
        """The calibration under way, or None (none, given up on, or for another script)."""
        text = self.voices.tuning(user_id)
        state = TuningState.loads(text) if text else None
        if state is None or state.script != self._key:
            return None
        if now - state.listening_since > LISTEN_FOR_S:
            return None
        return state

    def restart(self, user_id: str, now: float) -> None:
        """Read the script from its first part again (the watch listens on).

        Raises NotListening when no watch listens.
        """
        state = self.state(user_id, now)
        if state is None:
            raise NotListening("no watch is listening")
        self.voices.keep_tuning(user_id, replace(state, plan=(), spoken=()).dumps(), now)

    def speak(self, user_id: str, now: float, *, from_start: bool) -> Turn:
        """The next section to read, noted as said now; `from_start` reads the first again.

        Raises NotListening when no watch listens, TuningError when all has been read.
        """
        state = self.state(user_id, now)
        if state is None:
            raise NotListening("no watch is listening")
        if from_start or not state.plan:
            timing = self.voices.timing_for(user_id)
            plan = self.script.sections(timing.estimate, self.section_limit_s)
            state = replace(state, plan=plan, spoken=())
        if state.all_spoken:
            raise TuningError("the whole script has been read")
        index = len(state.spoken)
        state = replace(state, spoken=(*state.spoken, now))
        self.voices.keep_tuning(user_id, state.dumps(), now)
        return Turn(index + 1, len(state.plan), self.script.body(state.plan[index]))

    def finish(
        self, user_id: str, sounds: Sequence[tuple[float, float]], now: float
    ) -> VoiceProfile:
        """Fit the user's profile from the stretches of sound their watch heard.

        `sounds` are (start, end) seconds on the server's clock. The calibration ends here
        whatever the outcome: RecordingMismatch (shared/timing/fit.py) says why a recording
        does not fit; a TuningError that it was not time to finish (nothing is lost then).
        """
        state = self.state(user_id, now)
        if state is None:
            raise NotListening("no calibration is under way")
        if not state.all_spoken:
            said = len(state.spoken)
            raise TuningError(
                f"the voice has read {said} of {len(state.plan) or 'its'} parts so far"
            )
        if len(sounds) > MAX_SOUNDS:
            raise TuningError(f"at most {MAX_SOUNDS} stretches of sound, not {len(sounds)}")
        try:
            for start, end in sounds:
                if not (math.isfinite(start) and math.isfinite(end)) or end < start:
                    raise RecordingMismatch("a stretch of sound ends before it starts")
            takes = []
            for k, (section, spoken_at) in enumerate(zip(state.plan, state.spoken, strict=True)):
                until = state.spoken[k + 1] if k + 1 < len(state.spoken) else math.inf
                heard = [(s, e) for s, e in sounds if spoken_at <= e and s < until]
                takes.append(Take(section, heard, response_at=spoken_at, then_more=True))
            return self.voices.calibrate(user_id, self.script, takes, now)
        finally:
            self.voices.keep_tuning(user_id, None, now)

    def cancel(self, user_id: str, now: float) -> None:
        """Stop listening: the calibration under way, if any, is dropped."""
        self.voices.keep_tuning(user_id, None, now)
