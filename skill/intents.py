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
    SET_HOLD_LENGTH = "SetHoldLengthIntent"
    SET_HOLDS_PER_SIDE = "SetHoldsPerSideIntent"
    SET_FIRST_SIDE = "SetFirstSideIntent"
    SET_WARNING_BUZZ = "SetWarningBuzzIntent"
    HANDS_FREE = "HandsFreeIntent"
    WAIT_FOR_NEXT = "WaitForNextIntent"
    SETTINGS = "SettingsIntent"
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

#: SetHoldLengthIntent's slots: the hold in seconds, or in minutes ("make my holds one minute").
HOLD_SECONDS_SLOT = "seconds"
HOLD_MINUTES_SLOT = "minutes"
#: SetHoldsPerSideIntent's slot: how many holds on each side.
HOLDS_PER_SIDE_SLOT = "count"
#: SetFirstSideIntent's slot (SideType: values with ids "left" and "right").
FIRST_SIDE_SLOT = "side"
#: SetWarningBuzzIntent's slot (SwitchType: values with ids "on" and "off").
WARNING_BUZZ_SLOT = "state"
