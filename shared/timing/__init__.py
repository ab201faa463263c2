"""How long a voice takes to say SSML, so a hold starts when the words before it end.

- base.py: the SpeechTiming contract; words.py: the default word-count model
- ssml.py: SSML read as a speaker plays it; text.py: the words and features timed
- script.py, fit.py, profile.py: a calibration script, fitting a recording of it, the profile
- voices.py: each user's timing (their profile and nudges); tuning.py: tuning by their watch;
  import those from their modules, since they build on the stores
"""

from .base import SpeechTiming, shifted
from .profile import ProfileError, VoiceProfile, WordPrices
from .ssml import MAX_BREAK_SECONDS, SSMLError, break_seconds, silence_ssml
from .words import MAX_OFFSET_S, SpeechTimingModel

__all__ = [
    "MAX_BREAK_SECONDS",
    "MAX_OFFSET_S",
    "ProfileError",
    "SSMLError",
    "SpeechTiming",
    "SpeechTimingModel",
    "VoiceProfile",
    "WordPrices",
    "break_seconds",
    "shifted",
    "silence_ssml",
]
