"""The deployment's speech timing, from its settings: shared by the server and `voice estimate`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from shared.timing import ProfileError, SpeechTiming, SpeechTimingModel, VoiceProfile

from .config import ConfigError


def deployment_timing(config: Mapping[str, Any]) -> SpeechTiming:
    """The deployment's voice profile if one is configured, else the default word model.

    A profile whose recording could not tell the speaker's start delay takes the configured
    SCIATICA_VOICE_START_DELAY_S. A profile that cannot be read stops start-up, naming it.
    """
    delay = config["VOICE_START_DELAY_S"]
    path = config.get("VOICE_PROFILE")
    if not path:
        return SpeechTimingModel(words_per_minute=config["SPEECH_WPM"], start_delay_s=delay)
    try:
        profile = VoiceProfile.load(path)
    except ProfileError as exc:
        raise ConfigError("SCIATICA_VOICE_PROFILE", str(path), str(exc)) from None
    if profile.start_delay_s is None:
        profile = dataclasses.replace(profile, start_delay_s=delay)
    return profile
