"""The watch API under /api/v1: pairing, cue polls, actions, progress, settings, unpairing.

Everything goes through the app's services (`services()`: the same Coach the voice uses, the
PairingService, the tuning); this package never imports the app or the skill. Errors are
RFC 9457 problem documents, except on the token endpoint, which answers as RFC 8628 and
RFC 6749 say an OAuth token endpoint does.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from shared.pairing.protocol import DEVICE_CODE_GRANT, TokenError, TokenErrorCode
from shared.pairing.service import PairingBusy
from shared.routine.coach import Coach
from shared.routine.engine import IllegalEvent, RunView
from shared.routine.settings import SettingsError
from shared.stores.base import VersionConflict
from shared.timing.fit import RecordingMismatch
from shared.timing.tuning import NotListening, TuningError

from ..face.blueprint import face
from . import contract
from .actions import DEFAULT_WATCH_LEAD_IN_S, WatchAction, watch_lead_in
from .auth import invalid_token, require_user, require_watch
from .cue_payload import clock_block, etag_for, etag_of, run_payload, to_json
from .history import history_body
from .long_poll import Seen, wait_for_change
from .openapi import build_spec
from .problems import Problem, ProblemType, from_http_exception
from .services import services
from .settings import changes_from_body, refused, settings_body
from .tuning import TUNING_MAX_BODY, sounds_from_body, tuning_body

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
#: Largest body the watch API reads; its requests are a few dozen bytes.
WATCH_MAX_BODY = 4 * 1024
#: How the watch shows the code, in the words that make Alexa open the skill and pair.
PAIR_PROMPT = "Say: Alexa, ask sciatica coach to pair code {spoken}"

_CACHE_HEADERS = {"Cache-Control": "private, no-cache", "Vary": "Authorization"}
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: The views that read a body; every other one drains it unread, within the same limit.
_READS_BODY = {
    "watch_api.token",
    "watch_api.act",
    "watch_api.tuning_heard",
    "watch_api.change_settings",
}
#: Views that read more than WATCH_MAX_BODY, and how much.
_LARGER_BODY = {"watch_api.tuning_heard": TUNING_MAX_BODY}

api = Blueprint("watch_api", __name__, url_prefix=PREFIX)


def init_wearable(app: Flask) -> None:
    """Mount the watch API and the web watch face; the app factory calls this once."""
    app.config.setdefault("WATCH_LEAD_IN_S", DEFAULT_WATCH_LEAD_IN_S)
    app.register_blueprint(api)
    app.register_blueprint(face)


# -- errors -----------------------------------------------------------------------------------


@api.before_app_request
def _routing_problems() -> ResponseReturnValue | None:
    """404 and 405 under /api/v1 happen before any blueprint is chosen; answer them here."""
    exc = request.routing_exception
    on_api = request.path == PREFIX or request.path.startswith(PREFIX + "/")
    if on_api and isinstance(exc, HTTPException) and (exc.code or 0) >= 400:
        return from_http_exception(exc).response()
    return None


@api.before_request
def _limit_body() -> None:
    """Refuse a body over WATCH_MAX_BODY on every route, and drain one a view would not read.

    A declared length over the limit is a 413 at once; a chunked body is cut off at the limit
    as it is read. Draining the small ones keeps a kept-alive connection in step.
    """
    if not _may_have_body():
        return  # nothing to limit or drain
    limit = _LARGER_BODY.get(request.endpoint or "", WATCH_MAX_BODY)
    request.max_content_length = limit
    if (request.content_length or 0) > limit:
        raise RequestEntityTooLarge(f"This endpoint reads at most {limit} bytes.")
    if request.endpoint not in _READS_BODY:
        request.get_data(cache=False)


def _may_have_body() -> bool:
    """RFC 9112 6.3: with neither a length nor chunked coding, a request has no body."""
    return (
        bool(request.content_length)
        or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    )


@api.errorhandler(Problem)
def _problem(exc: Problem) -> ResponseReturnValue:
    return exc.response()


@api.errorhandler(HTTPException)
def _http_problem(exc: HTTPException) -> ResponseReturnValue:
    return from_http_exception(exc).response()


@api.errorhandler(VersionConflict)
def _busy(exc: VersionConflict) -> ResponseReturnValue:
    log.warning("watch request lost repeated run conflicts: %s", exc)
    detail = "The run kept changing under this request; try again."
    return Problem(503, detail, ProblemType.BUSY, headers={"Retry-After": "1"}).response()


@api.errorhandler(Exception)
def _unexpected(exc: Exception) -> ResponseReturnValue:
    log.exception("watch API failed")
    return Problem(500, "Something went wrong on the server.").response()


# -- pairing ----------------------------------------------------------------------------------


@api.post("/pairings")
def start_pairing() -> ResponseReturnValue:
    """RFC 8628 3.1-3.2: the watch asks to pair and gets the code to show."""
    try:
        # Each address has its own share of starts; behind a proxy, ProxyFix sets remote_addr.
        started = services().pairing.start(request.remote_addr or "unknown")
    except PairingBusy as exc:
        raise Problem(
            429,
            "Too many pairings were started just now, from here or in all; try again shortly.",
            ProblemType.BUSY,
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    body = contract.PairingStart(
        device_code=started.device_code,
        user_code=started.user_code,
        user_code_spoken=started.spoken_code,
        prompt=PAIR_PROMPT.format(spoken=started.spoken_code),
        expires_in=started.expires_in,
        interval=started.interval,
    )
    return _json(body), 200, _NO_STORE


@api.post("/token")
def token() -> ResponseReturnValue:
    """RFC 8628 3.4-3.5: trade a bound device code for an access token."""
    try:
        device_code = _device_code_from_form()
        issued = services().pairing.exchange(device_code)
    except TokenError as exc:
        error = contract.OAuthError(error=exc.error, error_description=exc.description)
        return _json(error), 400, _NO_STORE
    body = contract.Token(access_token=issued.access_token, token_type=issued.token_type)
    return _json(body), 200, _NO_STORE


def _device_code_from_form() -> str:
    """The device code of a well-formed TokenRequest, or the RFC 6749 5.2 error that fits."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise TokenError(
            TokenErrorCode.INVALID_REQUEST, "send application/x-www-form-urlencoded parameters"
        )
    form = _utf8_form()
    for name in contract.TokenRequest.model_fields:
        values = form.get(name, [])
        if len(values) != 1 or not values[0]:
            raise TokenError(TokenErrorCode.INVALID_REQUEST, f"give {name} exactly once")
    try:
        sent = contract.TokenRequest.model_validate({name: form[name][0] for name in form})
    except ValidationError as exc:
        if any(error["loc"] == ("grant_type",) for error in exc.errors()):
            raise TokenError(
                TokenErrorCode.UNSUPPORTED_GRANT_TYPE, f"grant_type must be {DEVICE_CODE_GRANT}"
            ) from None
        # Not the shape the server issues device codes in: one it never issued.
        raise TokenError(
            TokenErrorCode.INVALID_GRANT, "unknown or already used device code"
        ) from None
    return sent.device_code


def _utf8_form() -> dict[str, list[str]]:
    """The form's fields, decoded strictly as UTF-8 (RFC 6749 appendix B), or invalid_request.

    Werkzeug's form parser would turn bad bytes into U+FFFD and answer as if the watch had
    sent a wrong code; a client with an encoding bug deserves to be told what is wrong.
    """
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in {"utf-8", "utf8"}:
        raise TokenError(
            TokenErrorCode.INVALID_REQUEST, f"the form must be UTF-8, not {charset[:20]!r}"
        )
    try:
        text = request.get_data(cache=True).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise TokenError(
            TokenErrorCode.INVALID_REQUEST,
            "the form is not valid UTF-8 (raw or percent-encoded bytes)",
        ) from None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


@api.delete("/devices/me")
def unpair() -> ResponseReturnValue:
    """The watch forgets itself: its token stops working at once."""
    _, token_value = require_user(request, services().pairing)
    services().pairing.revoke_token(token_value)
    return Response(status=204, headers=_NO_STORE)


# -- cues -------------------------------------------------------------------------------------


@api.get("/cues")
def cues() -> ResponseReturnValue:
    """The run and every cue still to come; with If-None-Match and wait, a long poll.

    Most polls name the snapshot they hold and nothing has changed: the run's stamp, read
    with the token's check, names the current one, so those are answered (or start their
    wait) without reading the run or computing a cue.
    """
    coach = services().coach
    received = coach.clock.now()
    found, token_value = require_watch(request, services().pairing)
    user_id = found.user_id
    query = _cue_query()
    seen: Seen | None = None
    stamp = coach.stamp_of(found.stamps.run)
    if stamp is not None:
        etag = etag_of(user_id, stamp.version, stamp.run_id, stamp.step_index)
        if query.wait and _holds_current(etag):
            seen = stamp
        elif not query.wait and request.if_none_match.contains_weak(etag):
            clock = clock_block(query.client_send_ms, received, coach.clock.now())
            return _not_modified(etag, clock)
    if seen is None:
        view = coach.view(user_id, found.stamps.run)
        if not (query.wait and _holds_current(etag_for(user_id, view))):
            return _cue_response(
                coach, user_id, view, query.client_send_ms, received, conditional=True
            )
        seen = view
    view = wait_for_change(coach, user_id, seen, query.wait)
    if services().pairing.authenticate(token_value) != user_id:
        raise invalid_token()  # unpaired while it waited
    return _cue_response(coach, user_id, view, query.client_send_ms, received, conditional=True)


def _holds_current(etag: str) -> bool:
    """Whether the watch named this very ETag: only then is there a change to wait for."""
    tags = request.if_none_match
    return not tags.star_tag and tags.contains_weak(etag)


def _clock_headers(clock: dict[str, Any]) -> dict[str, str]:
    """The cache headers and the server's two clock stamps of a cue answer's `clock` block."""
    return {
        **_CACHE_HEADERS,
        "Server-Receive-Ms": str(clock["server_receive_ms"]),
        "Server-Send-Ms": str(clock["server_send_ms"]),
    }


def _not_modified(etag: str, clock: dict[str, Any]) -> Response:
    response = Response(status=304, headers=_clock_headers(clock))
    response.set_etag(etag)
    return response


def _cue_response(
    coach: Coach,
    user_id: str,
    view: RunView,
    client_send_ms: int | None,
    received: float,
    *,
    conditional: bool,
) -> Response:
    """The cue payload with its ETag; a 304 only for a `conditional` read (GET or HEAD).

    RFC 9110 13.1.2 allows 304 only for GET and HEAD: an action has changed the run, so its
    answer is always the new snapshot, whatever If-None-Match said.
    """
    etag = etag_for(user_id, view)
    clock = clock_block(client_send_ms, received, coach.clock.now())
    if conditional and request.if_none_match.contains_weak(etag):
        return _not_modified(etag, clock)
    body = {**run_payload(view, coach.routine.title), "clock": clock}
    response = current_app.response_class(to_json(body), mimetype="application/json")
    response.headers.update(_clock_headers(clock))
    response.set_etag(etag)
    return response


@cache
def _no_query() -> contract.CuePoll:
    """A poll with no query at all, as the contract reads it (checked once, then reused)."""
    return contract.CuePoll.model_validate({})


@cache
def _query_schema() -> dict[str, Any]:
    return contract.CuePoll.model_json_schema()


def _cue_query() -> contract.CuePoll:
    """The poll's query as the contract's CuePoll, or a 400 naming the first bad parameter."""
    if not request.args:
        return _no_query()
    try:
        return contract.CuePoll.model_validate(request.args.to_dict())
    except ValidationError as exc:
        name = str(exc.errors()[0]["loc"][0])
        bounds = _query_schema()["properties"][name]
        raw = request.args[name]
        raise Problem(
            400,
            f"{name} must be a whole number from {bounds['minimum']} to {bounds['maximum']}; "
            f"got {raw[:40]!r}",
            ProblemType.MALFORMED_REQUEST,
        ) from None


# -- actions ----------------------------------------------------------------------------------


@api.post("/actions")
def act() -> ResponseReturnValue:
    """Pause, resume, next, previous or repeat from the wrist: the same run the voice drives."""
    coach = services().coach
    received = coach.clock.now()
    user_id, _ = require_user(request, services().pairing)
    action = _action_from_body()
    lead_in = watch_lead_in(float(current_app.config["WATCH_LEAD_IN_S"]))
    try:
        outcome = coach.apply(user_id, action.event, lead_in)
    except IllegalEvent as exc:
        detail = f"Cannot {action.value} now: {exc}."
        raise Problem(409, detail, ProblemType.ILLEGAL_ACTION) from None
    log.info("watch action %s applied (changed=%s)", action.value, outcome.transition.changed)
    return _cue_response(coach, user_id, outcome.view, None, received, conditional=False)


def _action_from_body() -> WatchAction:
    """The action of a valid ActionRequest; a wrong shape and an unknown name are told apart."""
    if not request.is_json:
        raise Problem(415, 'Send the action as application/json, e.g. {"action": "next"}.')
    body = _json_body()
    try:
        return contract.ActionRequest.model_validate(body).action
    except ValidationError as exc:
        errors = exc.errors()
    if any(error["loc"] != ("action",) or error["type"] == "missing" for error in errors):
        raise Problem(
            400, 'The body must be exactly {"action": "<name>"}.', ProblemType.MALFORMED_REQUEST
        )
    name = body["action"]  # the body is {"action": name}; only the name is wrong
    allowed = [action.value for action in WatchAction]
    shown = repr(name[:40]) if isinstance(name, str) else f"of type {type(name).__name__}"
    raise Problem(
        400,
        f"Unknown action {shown}; use one of {', '.join(allowed)}.",
        ProblemType.UNKNOWN_ACTION,
        extra={"allowed": allowed},
    )


def _json_body() -> Any:
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        # ValueError: not UTF-8, not JSON, or an integer past Python's 4,300 digits;
        # RecursionError: 4 KiB of "[" nests deeper than the parser recurses.
        raise Problem(400, "The body is not valid JSON.", ProblemType.MALFORMED_REQUEST) from None


# -- the person: progress and settings --------------------------------------------------------


@api.get("/history")
def history() -> ResponseReturnValue:
    """How the token's user is getting on, in their own days: what "how am I doing" says."""
    user_id, _ = require_user(request, services().pairing)
    return _json(history_body(services().coach.progress(user_id))), 200, _NO_STORE


@api.get("/settings")
def settings() -> ResponseReturnValue:
    """The token's user's own settings, as kept."""
    user_id, _ = require_user(request, services().pairing)
    return _json(settings_body(services().coach.settings(user_id))), 200, _NO_STORE


@api.patch("/settings")
def change_settings() -> ResponseReturnValue:
    """Change some settings (a JSON merge patch); a run under way takes them from its next step."""
    user_id, _ = require_user(request, services().pairing)
    if not request.is_json:
        raise Problem(
            415,
            "Send the settings to change as application/merge-patch+json (or application/json), "
            'e.g. {"hold_seconds": 45}.',
        )
    changes = changes_from_body(_json_body())
    coach = services().coach
    if not changes:
        return _json(settings_body(coach.settings(user_id))), 200, _NO_STORE
    try:
        kept = coach.change_settings(user_id, **changes)
    except SettingsError as exc:  # the core's own check, should the contract ever be looser
        raise refused(exc.name, f"{exc}.") from None
    log.info("settings changed from a watch: %s", ", ".join(sorted(changes)))
    return _json(settings_body(kept)), 200, _NO_STORE


# -- tuning: the face listens while the speaker reads the calibration script ---------------------


@api.post("/tuning")
def tuning_listen() -> ResponseReturnValue:
    """The face is listening from now; any tuning before this one starts over."""
    user_id, _ = require_user(request, services().pairing)
    now = services().coach.clock.now()
    state = services().tuning.listen(user_id, now)
    return _json(tuning_body(state, now)), 201, _NO_STORE


@api.get("/tuning")
def tuning_status() -> ResponseReturnValue:
    """Which parts of the script the voice has read, and when, while the face listens."""
    user_id, _ = require_user(request, services().pairing)
    now = services().coach.clock.now()
    state = services().tuning.state(user_id, now)
    if state is None:
        raise _no_tuning()
    return _json(tuning_body(state, now)), 200, _NO_STORE


@api.delete("/tuning")
def tuning_cancel() -> ResponseReturnValue:
    """The face stops listening; the tuning under way, if any, is dropped."""
    user_id, _ = require_user(request, services().pairing)
    services().tuning.cancel(user_id, services().coach.clock.now())
    return Response(status=204, headers=_NO_STORE)


@api.post("/tuning/heard")
def tuning_heard() -> ResponseReturnValue:
    """Where the face heard sound: the server fits this user's own voice profile from it."""
    user_id, _ = require_user(request, services().pairing)
    if not request.is_json:
        raise Problem(415, 'Send {"sounds": [[start_ms, end_ms], ...]} as application/json.')
    sounds = sounds_from_body(_json_body())
    now = services().coach.clock.now()
    try:
        profile = services().tuning.finish(user_id, sounds, now)
    except NotListening:
        raise _no_tuning() from None
    except RecordingMismatch as exc:
        raise Problem(422, f"{exc}.", ProblemType.RECORDING_MISMATCH) from None
    except TuningError as exc:
        raise Problem(409, f"Not yet: {exc}.", ProblemType.TUNING_UNFINISHED) from None
    log.info("a user's own voice profile was fitted from their watch")
    fit = profile.fit or {}
    body = contract.TunedVoice(
        start_delay_ms=round((profile.start_delay_s or 0.0) * 1000),
        parts=fit.get("parts"),
        speech_s=fit.get("speech_s"),
        fit=fit,
    )
    return _json(body), 200, _NO_STORE


def _no_tuning() -> Problem:
    return Problem(
        404,
        "No tuning is under way for this watch: start listening (POST /api/v1/tuning) first.",
        ProblemType.NO_TUNING,
    )


def _json(body: BaseModel) -> Response:
    """An answer made from one of the contract's models, as the OpenAPI document shows it."""
    return jsonify(body.model_dump(mode="json"))


# -- the spec ---------------------------------------------------------------------------------


@api.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3.1 description of this API, so clients and fuzzers read one truth."""
    return jsonify(build_spec())
