"""Names of every request type and intent the skill answers; the models must match these."""

from __future__ import annotations

from enum import StrEnum


class Intent(StrEnum):
    """Intents the interaction models declare and the handlers serve."""

    START_ROUTINE = "StartRoutineIntent"
    TIME_LEFT = "TimeLeftIntent"
    SAFETY = "SafetyIntent"
    PAIR_WATCH = "PairWatchIntent"
    UNPAIR_WATCH = "UnpairWatchIntent"
    BUZZ_EARLY = "BuzzEarlyIntent"
    BUZZ_LATE = "BuzzLateIntent"
    TUNE_WATCH = "TuneWatchIntent"
    PROGRESS = "ProgressIntent"
    NEXT = "AMAZON.NextIntent"
    PREVIOUS = "AMAZON.PreviousIntent"
    REPEAT = "AMAZON.RepeatIntent"
    PAUSE = "AMAZON.PauseIntent"
    RESUME = "AMAZON.ResumeIntent"
    START_OVER = "AMAZON.StartOverIntent"
    HELP = "AMAZON.HelpIntent"
    STOP = "AMAZON.StopIntent"
    CANCEL = "AMAZON.CancelIntent"
    FALLBACK = "AMAZON.FallbackIntent"
    NAVIGATE_HOME = "AMAZON.NavigateHomeIntent"
    YES = "AMAZON.YesIntent"
    NO = "AMAZON.NoIntent"


class RequestType(StrEnum):
    """Request types other than intents that reach the endpoint."""

    LAUNCH = "LaunchRequest"
    INTENT = "IntentRequest"
    SESSION_ENDED = "SessionEndedRequest"
    SKILL_DISABLED = "AlexaSkillEvent.SkillDisabled"


#: The slot PairWatchIntent fills with the spoken six-digit code.
PAIR_CODE_SLOT = "code"
