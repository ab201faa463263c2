"""Alexa handlers, one class per request type or intent, grouped by what they do."""

from __future__ import annotations

from ask_sdk_core.dispatch_components import AbstractRequestHandler

from ..intents import Intent
from .base import Services
from .progress import ProgressHandler
from .routine import (
    NextHandler,
    PauseHandler,
    PreviousHandler,
    RepeatHandler,
    ResumeHandler,
    StartOverHandler,
    StartRoutineHandler,
    TimeLeftHandler,
)
from .session import (
    FallbackHandler,
    HelpHandler,
    SafetyHandler,
    SessionEndedHandler,
    SkillDisabledHandler,
    StopHandler,
    UnknownRequestHandler,
)
from .settings import (
    HandsFreeHandler,
    SetFirstSideHandler,
    SetHoldLengthHandler,
    SetHoldsPerSideHandler,
    SettingsHandler,
    SetWarningBuzzHandler,
    WaitForNextHandler,
)
from .tuning import BuzzEarlyHandler, BuzzLateHandler, TuneNextHandler, TuneWatchHandler
from .watch import PairWatchHandler, UnpairWatchHandler
from .welcome import FlowAnswerHandler, LaunchHandler, NoHandler, YesHandler

__all__ = ["Services", "request_handlers"]

#: Which handler answers which intent; each handler's can_handle must agree, and
#: tests/interaction_models checks that by sending every model intent through the skill.
_INTENT_HANDLERS = {
    Intent.START_ROUTINE: StartRoutineHandler,
    Intent.NEXT: NextHandler,
    Intent.PREVIOUS: PreviousHandler,
    Intent.REPEAT: RepeatHandler,
    Intent.PAUSE: PauseHandler,
    Intent.RESUME: ResumeHandler,
    Intent.START_OVER: StartOverHandler,
    Intent.TIME_LEFT: TimeLeftHandler,
    Intent.HELP: HelpHandler,
    Intent.SAFETY: SafetyHandler,
    Intent.STOP: StopHandler,
    Intent.CANCEL: StopHandler,
    Intent.NAVIGATE_HOME: StopHandler,
    Intent.FALLBACK: FallbackHandler,
    Intent.PAIR_WATCH: PairWatchHandler,
    Intent.UNPAIR_WATCH: UnpairWatchHandler,
    Intent.BUZZ_EARLY: BuzzEarlyHandler,
    Intent.BUZZ_LATE: BuzzLateHandler,
    Intent.TUNE_WATCH: TuneWatchHandler,
    Intent.PROGRESS: ProgressHandler,
    Intent.SET_HOLD_LENGTH: SetHoldLengthHandler,
    Intent.SET_HOLDS_PER_SIDE: SetHoldsPerSideHandler,
    Intent.SET_FIRST_SIDE: SetFirstSideHandler,
    Intent.SET_WARNING_BUZZ: SetWarningBuzzHandler,
    Intent.HANDS_FREE: HandsFreeHandler,
    Intent.WAIT_FOR_NEXT: WaitForNextHandler,
    Intent.SETTINGS: SettingsHandler,
    Intent.YES: YesHandler,
    Intent.NO: NoHandler,
}


def request_handlers(services: Services) -> list[AbstractRequestHandler]:
    """Handlers in dispatch order: specific ones first, the catch-alls last."""
    # TuneNextHandler takes "next" only between two parts of the calibration script.
    # FlowAnswerHandler takes yes, no and next only as the answer to its question.
    specific = [
        LaunchHandler,
        SessionEndedHandler,
        SkillDisabledHandler,
        TuneNextHandler,
        FlowAnswerHandler,
    ]
    seen: list[type[AbstractRequestHandler]] = []
    for handler in [*specific, *_INTENT_HANDLERS.values()]:
        if handler not in seen and handler is not FallbackHandler:
            seen.append(handler)
    return [h(services) for h in [*seen, FallbackHandler, UnknownRequestHandler]]
