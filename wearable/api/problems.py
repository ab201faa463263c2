"""RFC 9457 problem details: every error of the watch API is one JSON shape a watch can show.

A problem has a `type` (a URI naming the kind of problem; `about:blank` when the HTTP status
says it all), a `title` (the same for every occurrence of that type), the `status`, and a
`detail` about this occurrence. Our own types are tag URIs (RFC 4151): they name, and are
never meant to be fetched.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from http import HTTPStatus
from typing import Any

from flask import Response, json
from werkzeug.exceptions import HTTPException

from . import contract

PROBLEM_JSON = "application/problem+json"
_TAG = "tag:sciatica-coach,2026:problem:"


class ProblemType(StrEnum):
    """The kinds of problem the watch API reports beyond a bare HTTP status."""

    BLANK = "about:blank"
    MALFORMED_REQUEST = _TAG + "malformed-request"
    UNKNOWN_ACTION = _TAG + "unknown-action"
    ILLEGAL_ACTION = _TAG + "illegal-action"
    UNAUTHORIZED = _TAG + "unauthorized"
    BUSY = _TAG + "busy"
    NO_TUNING = _TAG + "no-tuning"
    TUNING_UNFINISHED = _TAG + "tuning-unfinished"
    RECORDING_MISMATCH = _TAG + "recording-mismatch"
    INVALID_SETTING = _TAG + "invalid-setting"


_TITLES = {
    ProblemType.MALFORMED_REQUEST: "The request is malformed",
    ProblemType.UNKNOWN_ACTION: "Unknown action",
    ProblemType.ILLEGAL_ACTION: "That action makes no sense right now",
    ProblemType.UNAUTHORIZED: "A valid watch token is required",
    ProblemType.BUSY: "Try again shortly",
    ProblemType.NO_TUNING: "No tuning is under way",
    ProblemType.TUNING_UNFINISHED: "The speaker has not read the whole script yet",
    ProblemType.RECORDING_MISMATCH: "What the watch heard is not the script",
    ProblemType.INVALID_SETTING: "The settings change was refused",
}


class Problem(Exception):
    """Raised by a view to answer with a problem document instead of its normal answer."""

    def __init__(
        self,
        status: int,
        detail: str,
        type_: ProblemType = ProblemType.BLANK,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type_
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    @property
    def title(self) -> str:
        return _TITLES.get(self.type) or HTTPStatus(self.status).phrase

    def to_dict(self) -> dict[str, Any]:
        """The body, through the contract's Problem model so it is what the document says."""
        body = {
            **self.extra,
            "type": self.type.value,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        return contract.Problem.model_validate(body).model_dump(mode="json")

    def response(self) -> Response:
        body = json.dumps(self.to_dict())
        response = Response(body, status=self.status, mimetype=PROBLEM_JSON)
        response.headers.update(self.headers)
        response.headers["Cache-Control"] = "no-store"
        return response


def from_http_exception(exc: HTTPException) -> Problem:
    """The problem for a werkzeug error (404, 405, 413, ...), keeping headers such as Allow."""
    status = exc.code or 500
    headers = {
        key: value
        for key, value in exc.get_headers()
        if key.lower() not in {"content-type", "content-length"}
    }
    detail = exc.description or HTTPStatus(status).description
    return Problem(status, detail, headers=headers)
