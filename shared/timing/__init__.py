"""How long a voice takes to say SSML, so a hold starts when the words before it end."""

from .ssml import MAX_BREAK_SECONDS, break_seconds, silence_ssml
from .words import SpeechTimingModel

__all__ = ["MAX_BREAK_SECONDS", "SpeechTimingModel", "break_seconds", "silence_ssml"]
