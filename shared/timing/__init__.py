"""How long a voice takes to say SSML, so a hold starts when the words before it end."""

from .base import SpeechTiming, shifted
from .profile import ProfileError, VoiceProfile, WordPrices
from .ssml import MAX_BREAK_SECONDS, break_seconds, silence_ssml
from .words import MAX_OFFSET_S, SpeechTimingModel

__all__ = [
    "MAX_BREAK_SECONDS",
    "MAX_OFFSET_S",
    "ProfileError",
    "SpeechTiming",
    "SpeechTimingModel",
    "VoiceProfile",
    "WordPrices",
    "break_seconds",
    "shifted",
    "silence_ssml",
]
