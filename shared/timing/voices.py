"""Whose voice is speaking: the timing for one user, from their own profile or the deployment's.

One Echo behind a Bluetooth speaker lags and paces differently from the next, so a user may
calibrate their own speaker (or nudge it: "the buzz was early"), and their settings win over
the deployment's profile. The voice and the watch both read cues off the run the timing
decided, so a user's timing moves both together.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..recent import Recent
from ..stores.base import Store, UserVoice
from ..user_ref import user_ref
from . import ProfileError, SpeechTiming, VoiceProfile, shifted
from .fit import Take, fit_takes
from .script import CalibrationScript

log = logging.getLogger(__name__)

#: One nudge moves a user's cues this much; a person feels ~100 ms between touch and sound.
NUDGE_STEP_S = 0.1
#: Nudges add up to at most this either way: beyond it the speaker needs calibrating.
MAX_NUDGE_S = 1.0
#: Parsed profiles kept, by the hash of their JSON and the nudge: one parse per request
#: would be waste.
_CACHE = 256


@dataclass(frozen=True, slots=True)
class Nudged:
    """What a nudge did: the user's offset now, and whether the bound stopped it short."""

    offset_s: float
    at_limit: bool


class Voices:
    """Timing per user over a store, falling back on the deployment's timing."""

    def __init__(self, store: Store, default: SpeechTiming) -> None:
        self.store = store
        self.default = default
        self._parsed: Recent[str, VoiceProfile] = Recent(_CACHE)

    def timing_for(self, user_id: str) -> SpeechTiming:
        """The user's own profile if they have one, else the deployment's, plus their nudges."""
        voice = self.store.load_voice(user_id)
        if voice.profile is not None:
            profile = self._profile(user_id, voice.profile, voice.offset_s)
            if profile is not None:
                return profile
        return shifted(self.default, voice.offset_s) if voice.offset_s else self.default

    def nudge(self, user_id: str, seconds: float, now: float) -> Nudged:
        """Move the user's cues `seconds` later (earlier if negative), within the bound."""
        if not math.isfinite(seconds):
            raise ValueError(f"a nudge must be a finite number of seconds, not {seconds!r}")
        voice = self.store.load_voice(user_id)
        wanted = voice.offset_s + seconds
        offset = round(min(MAX_NUDGE_S, max(-MAX_NUDGE_S, wanted)), 3)
        self.store.save_voice(user_id, replace(voice, offset_s=offset), now)
        return Nudged(offset, at_limit=offset != round(wanted, 3))

    def calibrate(
        self, user_id: str, script: CalibrationScript, takes: Sequence[Take], now: float
    ) -> VoiceProfile:
        """Fit the user's profile from what their speaker played; their nudges start over.

        Raises RecordingMismatch (shared/timing/fit.py) when the sounds are not the script.
        A calibration under way ends with it, fitted or not.
        """
        profile = fit_takes(script, takes, name="own speaker")
        self.store.save_voice(user_id, UserVoice(profile.dumps(), 0.0), now)
        return profile

    def reset(self, user_id: str, now: float) -> None:
        """Back to the deployment's timing: the user's profile and nudges are dropped."""
        self.store.save_voice(user_id, UserVoice(), now)

    def tuning(self, user_id: str) -> str | None:
        """The user's calibration under way, as tuning.py keeps it."""
        return self.store.load_voice(user_id).tuning

    def keep_tuning(self, user_id: str, tuning: str | None, now: float) -> None:
        """Keep (None: drop) the calibration under way, leaving profile and nudges alone."""
        voice = self.store.load_voice(user_id)
        self.store.save_voice(user_id, replace(voice, tuning=tuning), now)

    def _profile(self, user_id: str, text: str, offset_s: float) -> VoiceProfile | None:
        """The stored profile with the user's nudge applied, parsed once per (profile, nudge)."""
        key = f"{hashlib.sha256(text.encode()).hexdigest()}{offset_s:+.3f}"
        cached = self._parsed.get(key)
        if cached is not None:
            return cached
        try:
            profile = shifted(VoiceProfile.loads(text), offset_s)
        except ProfileError as exc:
            # Only this service writes profiles, so this is a bug or an old format: the
            # deployment's timing still times the routine, which is better than no routine.
            log.error(
                "the stored voice profile of user %s cannot be read (%s); using the default",
                user_ref(user_id),
                exc,
            )
            return None
        self._parsed.put(key, profile)
        return profile
