"""The watch contract, written once: every body the watch API reads or answers, as typed models.

The API checks what a watch sends with these models and builds its answers from them, and
openapi.py publishes their JSON schemas as the OpenAPI document's `components/schemas`, so
the document, the checks and the answers cannot drift apart. Docstrings and field
descriptions become the document's descriptions.

One answer is not built through a model on every request: the cue poll (`CueState`), the
hot path that thousands of long-polling watches hit. cue_payload.py builds it as plain dicts
and tests/wearable/test_contract.py holds every shape it makes to `CueState`, field for field.

Request models are strict where JSON is loose in Python (`true` is not the number 1, NaN is
not a time); response models leave extra fields open in the document, so a watch written
today keeps working when an answer gains a field.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.json_schema import JsonSchemaMode, SkipJsonSchema, models_json_schema
from pydantic_core import PydanticCustomError

from shared.pairing.protocol import (
    DEVICE_CODE_GRANT,
    SECRET_ALPHABET,
    SECRET_LENGTH,
    USER_CODE_DIGITS,
    TokenErrorCode,
)
from shared.routine.cues import CueKind
from shared.routine.engine import Phase
from shared.routine.progress import LAST_DAYS
from shared.routine.settings import HOLD_SECONDS_RANGE, HOLDS_PER_SIDE_RANGE, Flow
from shared.timing.tuning import MAX_SOUNDS

from .actions import WatchAction
from .cue_payload import MAX_WAIT_S
from .haptics import (
    FITBIT_VIBRATION_PATTERNS,
    GARMIN_MAX_DUTY_CYCLE,
    MAX_SEGMENT_MS,
    MAX_SEGMENTS,
    WATCHOS_HAPTIC_TYPES,
    WEAR_OS_MAX_AMPLITUDE,
)

#: The largest millisecond time the API reads: 15 digits, in a query or a JSON body alike.
MAX_MS = 999_999_999_999_999
#: Where the OpenAPI document keeps the schemas; every reference between models points there.
REF_TEMPLATE = "#/components/schemas/{model}"

_DIGITS = re.compile(r"[0-9]{1,15}")

# -- shared field shapes ------------------------------------------------------------------------

Ms = Annotated[int, Field(ge=0)]
#: A device code or access token as the server makes them: 256 random bits, base64url.
Secret = Annotated[
    str,
    Field(
        min_length=SECRET_LENGTH,
        max_length=SECRET_LENGTH,
        pattern=f"^[{SECRET_ALPHABET}]{{{SECRET_LENGTH}}}$",
    ),
]
WatchSide = Literal["left", "right"]
# The names watchOS and Fitbit play; built from the sets haptics.py checks against.
WatchosHaptic = Literal[tuple(sorted(WATCHOS_HAPTIC_TYPES))]  # type: ignore[valid-type]
FitbitPattern = Literal[tuple(sorted(FITBIT_VIBRATION_PATTERNS))]  # type: ignore[valid-type]
#: How the routine moves on after a hold, by the names the settings keep.
FlowName = Literal[tuple(flow.value for flow in Flow)]  # type: ignore[valid-type]


def _whole_number(value: object) -> object:
    """A query value is text: take digits only (no sign, space, point or newline) as an int."""
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            raise PydanticCustomError("whole_number", "must be a whole number")
        return int(value)
    return value


def _whole_json_number(value: object) -> object:
    """JSON has one kind of number: 45.0 is the whole number 45 (JSON Schema agrees)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _without_default(schema: dict[str, Any]) -> None:
    """An absent query parameter has no value at all, which `null` in the document would claim."""
    schema.pop("default", None)


# -- problems (RFC 9457) and the token endpoint's OAuth errors ------------------------------------


class Problem(BaseModel):
    """RFC 9457 problem details: every error of the watch API but the token endpoint's 400s.

    A problem may carry more members than these (an unknown action's `allowed`, for one).
    """

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        json_schema_extra={"format": "uri-reference"},
        description="Names the kind of problem: a tag URI of ours, or about:blank when the "
        "status says it all.",
    )
    title: str = Field(description="The same for every problem of this type.")
    status: int = Field(ge=400, le=599, description="The HTTP status, repeated.")
    detail: str = Field(description="What went wrong this time, in words a person can act on.")


class SettingsProblem(Problem):
    """A settings change refused (422): `field` names the setting, `detail` says what is allowed.

    Nothing of the change is kept when any part of it is refused.
    """

    field: str | None = Field(
        description="The setting refused (the first one, if several are); null when the body "
        "as a whole is not an object of settings."
    )


class OAuthError(BaseModel):
    """RFC 6749 5.2 / RFC 8628 3.5 error answer of the token endpoint."""

    error: TokenErrorCode
    error_description: str = Field(description="What to do about it, for a developer.")


# -- pairing ------------------------------------------------------------------------------------


class PairingStart(BaseModel):
    """RFC 8628 3.2: the codes a watch gets to pair, and the words it shows the person."""

    device_code: Secret = Field(description="The watch's secret, traded at POST /api/v1/token.")
    user_code: str = Field(
        pattern=f"^[1-9][0-9]{{{USER_CODE_DIGITS - 1}}}$",
        description="Six digits from 100000 (Alexa's number slot drops leading zeros).",
    )
    user_code_spoken: str = Field(
        pattern=f"^[0-9]( [0-9]){{{USER_CODE_DIGITS - 1}}}$",
        description="The code spaced out digit by digit, as it is read aloud.",
    )
    prompt: str = Field(description="What the watch shows: the words that make Alexa pair.")
    expires_in: int = Field(ge=1, description="Seconds until the codes expire.")
    interval: int = Field(ge=1, description="Least seconds between two token requests.")


class TokenRequest(BaseModel):
    """RFC 8628 3.4: trade the device code for a token, as application/x-www-form-urlencoded.

    Other parameters (an OAuth client_id, say) are ignored.
    """

    grant_type: Literal[DEVICE_CODE_GRANT] = Field(  # type: ignore[valid-type]
        description="The device code grant of RFC 8628."
    )
    device_code: Secret = Field(description="The device_code from POST /api/v1/pairings.")


class Token(BaseModel):
    """RFC 8628 3.5 / RFC 6749 5.1: the watch's access token, shown once and never stored."""

    access_token: Secret = Field(description="Send as 'Authorization: Bearer <token>'.")
    token_type: Literal["Bearer"]


# -- actions from the wrist -----------------------------------------------------------------------


class ActionRequest(BaseModel):
    """What the wrist asks of the run: the same event the voice would send."""

    model_config = ConfigDict(extra="forbid")

    action: WatchAction


# -- haptic patterns ------------------------------------------------------------------------------


class PatternSegment(BaseModel):
    """One buzz (`on_ms` at `intensity`) and the pause after it."""

    model_config = ConfigDict(extra="forbid")

    on_ms: int = Field(ge=1, le=MAX_SEGMENT_MS)
    off_ms: int = Field(ge=0, le=MAX_SEGMENT_MS, description="0 on the last segment.")
    intensity: float = Field(gt=0, le=1)


class NeutralPattern(BaseModel):
    """A cue's feel in the platform-neutral shape every rendering below derives from."""

    name: CueKind
    segments: list[PatternSegment] = Field(min_length=1, max_length=MAX_SEGMENTS)


class WearOsWaveform(BaseModel):
    """Arguments for Wear OS `VibrationEffect.createWaveform(timings, amplitudes, repeat)`."""

    timings: list[Ms]
    amplitudes: list[Annotated[int, Field(ge=0, le=WEAR_OS_MAX_AMPLITUDE)]]
    repeat: int = Field(description="-1: play once.")


class GarminProfile(BaseModel):
    """Arguments for one Connect IQ `Attention.VibeProfile`; a pause is duty cycle 0."""

    duty_cycle: int = Field(ge=0, le=GARMIN_MAX_DUTY_CYCLE)
    length_ms: Ms


class HapticPattern(BaseModel):
    """A cue's buzz in every platform's shape, so a watch needs no lookup table."""

    name: CueKind
    duration_ms: Ms = Field(description="From the first buzz starting to the last stopping.")
    pattern: NeutralPattern
    wear_os: WearOsWaveform
    web: list[Ms] = Field(description="The navigator.vibrate list: buzz, pause, buzz, ...")
    garmin: list[GarminProfile]
    watchos: WatchosHaptic = Field(description="The WKHapticType case to play.")
    fitbit: FitbitPattern = Field(description="The vibration.start() pattern to play.")


# -- the cue poll ---------------------------------------------------------------------------------


class CuePoll(BaseModel):
    """The query of GET /api/v1/cues; unknown parameters are ignored (a cache-buster, say)."""

    wait: Annotated[
        int,
        Field(
            ge=0,
            le=MAX_WAIT_S,
            description="Hold the request up to this many seconds until the version moves "
            "past the ETag named in If-None-Match.",
        ),
        BeforeValidator(_whole_number),
    ] = 0
    client_send_ms: (
        Annotated[int, Field(ge=0, le=MAX_MS), BeforeValidator(_whole_number)]
        | SkipJsonSchema[None]
    ) = Field(
        default=None,
        description="The watch's clock when it sent this (epoch ms), echoed in `clock` for an "
        "NTP-style offset estimate.",
        json_schema_extra=_without_default,
    )


class Cue(BaseModel):
    """One buzz still to come: when, what it means, and how each platform plays it."""

    at_ms: Ms = Field(description="When to buzz (epoch ms, server clock).")
    kind: CueKind
    step_index: int = Field(ge=0)
    side: WatchSide | None
    pattern: HapticPattern


class Step(BaseModel):
    """The step the run is on."""

    index: int = Field(ge=0)
    count: int = Field(ge=1)
    id: str
    title: str
    side: WatchSide | None
    hold_seconds: float | None


class Hold(BaseModel):
    """The current step's hold window (epoch ms, server clock)."""

    start_ms: Ms
    end_ms: Ms
    remaining_ms: Ms = Field(
        description="While the step runs, exactly min(end_ms - start_ms, max(0, end_ms - "
        "server_time_ms)); paused or stopped, what resume gives."
    )
    seconds: float = Field(ge=0)


class Routine(BaseModel):
    """Which routine the run follows."""

    id: str
    title: str


class PollAdvice(BaseModel):
    """When a watch that cannot long-poll should ask again, and the longest `wait`."""

    after_ms: Ms
    max_wait_s: int = Field(ge=0, le=MAX_WAIT_S)


class Clock(BaseModel):
    """NTP-style timestamps: the watch adds its own arrival time."""

    client_send_ms: int | None = Field(ge=0, description="The query's client_send_ms, if any.")
    server_receive_ms: Ms = Field(description="When the request arrived.")
    server_send_ms: Ms = Field(description="When the answer left.")


class CueState(BaseModel):
    """The run now and every cue still to come: each 200 replaces the watch's schedule whole."""

    server_time_ms: Ms = Field(
        description="The moment the run was read: state and remaining figures are as of "
        "then; between server_receive_ms and server_send_ms."
    )
    version: int = Field(ge=0)
    state: Phase
    routine: Routine
    step: Step | None
    step_count: int = Field(ge=1)
    hold: Hold | None
    routine_remaining_ms: Ms
    poll: PollAdvice
    cues: list[Cue]
    clock: Clock


# -- tuning ---------------------------------------------------------------------------------------


class TuningSection(BaseModel):
    """One reply of the calibration script: how many parts it reads, and when it left."""

    parts: int = Field(ge=1)
    spoken_at_ms: int | None = Field(ge=0, description="Null until its reply has left.")


class Tuning(BaseModel):
    """A tuning under way: which parts of the calibration script the speaker has read, and
    when (server clock), while the face listens."""

    server_time_ms: Ms
    listening_since_ms: Ms
    listen_until_ms: Ms = Field(description="When the tuning lapses if not finished.")
    sections: list[TuningSection]
    done_speaking: bool
    separator_min_ms: Ms = Field(description="The least quiet that separates two parts.")
    max_sounds: Literal[MAX_SOUNDS]  # type: ignore[valid-type]


_Heard = Annotated[float, Field(ge=0, le=MAX_MS, allow_inf_nan=False)]


class HeardRequest(BaseModel):
    """Where the face heard sound while the speaker read the script."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sounds: list[Annotated[list[_Heard], Field(min_length=2, max_length=2)]] = Field(
        max_length=MAX_SOUNDS,
        description="Where sound started and ended (epoch ms, server clock).",
    )


class TunedVoice(BaseModel):
    """The user's own speaker, measured: their cues follow it from the next hold on."""

    start_delay_ms: Ms
    parts: int = Field(ge=1)
    speech_s: float = Field(ge=0)
    fit: dict[str, Any] = Field(description="The fit's report: how far its rules would miss.")


# -- progress -------------------------------------------------------------------------------------


class DayRuns(BaseModel):
    """How many runs the person finished on one of their own days."""

    date: dt.date = Field(description="The day, in the person's time zone.")
    runs: int = Field(ge=0)


class History(BaseModel):
    """How the person is getting on, as "Alexa, how am I doing" tells it, in their own days.

    A run counts on the day it finished in `time_zone`. The streak counts consecutive days
    with a run, ending today, or yesterday while today has none yet (the day is not over).
    """

    time_zone: str = Field(
        description="The IANA zone the days are counted in: the one kept from the person's "
        "Alexa device, else UTC."
    )
    today: dt.date
    week_start: dt.date = Field(description="The Monday this week began on.")
    runs_this_week: int = Field(ge=0, description="Runs finished from week_start to today.")
    streak_days: int = Field(ge=0, description="Consecutive days with a run; 0: no streak.")
    streak_since: dt.date | None = Field(description="The streak's first day; null: none.")
    done_today: bool = Field(description="Whether a run was finished today.")
    last_completed_ms: Ms | None = Field(
        description="When the last run finished (epoch ms, server clock); null: never."
    )
    last_days: list[DayRuns] = Field(
        min_length=LAST_DAYS,
        max_length=LAST_DAYS,
        description=f"The last {LAST_DAYS} days, oldest first: today is the last.",
    )


# -- the person's own settings --------------------------------------------------------------------

_HOLD_LOW, _HOLD_HIGH = HOLD_SECONDS_RANGE
_PER_SIDE_LOW, _PER_SIDE_HIGH = HOLDS_PER_SIDE_RANGE
HoldSeconds = Annotated[
    int, Field(ge=_HOLD_LOW, le=_HOLD_HIGH), BeforeValidator(_whole_json_number)
]
HoldsPerSide = Annotated[
    int, Field(ge=_PER_SIDE_LOW, le=_PER_SIDE_HIGH), BeforeValidator(_whole_json_number)
]

_HOLD_SECONDS = "Seconds every hold lasts; null: each hold as long as the routine says."
_HOLDS_PER_SIDE = "How many holds in a row on each side of an exercise."
_FIRST_SIDE = "Which side comes first; null: the routine's own order."
_WARNING_BUZZ = "Whether the wrist buzzes 5 seconds before a hold ends."
_FLOW = (
    "hands_free: the voice carries on by itself after each hold; on_next: each step waits for "
    "'next'. null: not chosen yet (the voice asks the first time it would wait)."
)


class PersonSettings(BaseModel):
    """The person's own settings as kept; a run takes them from its next step not yet said."""

    hold_seconds: HoldSeconds | None = Field(description=_HOLD_SECONDS)
    holds_per_side: HoldsPerSide = Field(description=_HOLDS_PER_SIDE)
    first_side: WatchSide | None = Field(description=_FIRST_SIDE)
    warning_buzz: bool = Field(description=_WARNING_BUZZ)
    flow: FlowName | None = Field(description=_FLOW)
    time_zone: str | None = Field(
        json_schema_extra={"readOnly": True},
        description="Where the person is (IANA), as their Alexa device said; their days are "
        "counted in it. Read only: the watch cannot change it. null: none known (UTC).",
    )


class SettingsChange(BaseModel):
    """A JSON merge patch (RFC 7396) of the settings: only the settings named change.

    A null puts that setting back to its default. `time_zone` is not accepted: it comes from
    the person's Alexa device.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    hold_seconds: HoldSeconds | None = Field(
        default=None,
        description=f"{_HOLD_SECONDS} Default null.",
        json_schema_extra=_without_default,
    )
    holds_per_side: HoldsPerSide | None = Field(
        default=None,
        description=f"{_HOLDS_PER_SIDE} Default {_PER_SIDE_LOW}.",
        json_schema_extra=_without_default,
    )
    first_side: WatchSide | None = Field(
        default=None, description=f"{_FIRST_SIDE} Default null.", json_schema_extra=_without_default
    )
    warning_buzz: bool | None = Field(
        default=None,
        description=f"{_WARNING_BUZZ} Default true.",
        json_schema_extra=_without_default,
    )
    flow: FlowName | None = Field(
        default=None, description=f"{_FLOW} Default null.", json_schema_extra=_without_default
    )


# -- the document's schemas -----------------------------------------------------------------------

#: What a watch sends, checked as it arrives (the cue poll's query is a parameter list instead).
REQUESTS: tuple[type[BaseModel], ...] = (
    TokenRequest,
    ActionRequest,
    HeardRequest,
    SettingsChange,
)
#: What the API answers.
RESPONSES: tuple[type[BaseModel], ...] = (
    Problem,
    OAuthError,
    PairingStart,
    Token,
    CueState,
    Tuning,
    TunedVoice,
    History,
    PersonSettings,
    SettingsProblem,
)


def json_schemas() -> dict[str, Any]:
    """Every model's JSON schema by name, referring to each other where the document keeps them.

    Requests are described as they are validated, answers as they are serialised.
    """
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        *((model, "validation") for model in REQUESTS),
        *((model, "serialization") for model in RESPONSES),
    ]
    _, document = models_json_schema(models, ref_template=REF_TEMPLATE)
    return document["$defs"]


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI query parameters from a query model: its fields' schemas, as validated."""
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": field.get("description", ""),
            "schema": field,
        }
        for name, field in schema["properties"].items()
    ]
