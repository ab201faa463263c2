"""One structured log line per request: what was asked, how it went, how long, and for whom.

Who is never logged in clear. The voice and watch blueprints must not import this package,
so they tell it through Flask's `g`: a handler that knows the raw user id sets
`g.log_user = <raw user id>` (the Alexa side once the request is verified, the watch side
once its token is checked), and this module logs only its `user_ref()`, the same hash every
other line about that user carries (logs.RequestFilter adds it to each line logged while
the request is handled). A handler may also set `g.log_outcome = "<word>"` to say more than
the status code does.

The query string is left out: it can carry codes and tokens, and the path says enough.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from shared.user_ref import user_ref

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
# A caller's request id is kept only if it is short and plain, so it cannot forge log lines.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def outcome_for(status: int) -> str:
    """A coarse word for a status, so dashboards count failures without a table of codes."""
    if status == 304:
        return "not_modified"
    if status < 400:
        return "ok"
    if status < 500:
        return "client_error"
    return "server_error"


def init_request_log(app: Flask) -> None:
    """Log every request `app` answers; `serve` calls this, tests and the demo need not."""
    # First in line: a blueprint's before_app_request may answer early (404s under /api/v1),
    # and then hooks registered after it never run.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)


def _start() -> None:
    g.request_started = time.perf_counter()
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = offered if _SAFE_REQUEST_ID.match(offered) else uuid.uuid4().hex


def _finish(response: Response) -> Response:
    started = g.get("request_started")
    latency_ms = (time.perf_counter() - started) * 1000 if started is not None else None
    raw_user = g.get("log_user")
    fields = {
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "latency_ms": round(latency_ms, 2) if latency_ms is not None else None,
        "outcome": g.get("log_outcome") or outcome_for(response.status_code),
        "request_id": g.get("request_id"),
        "user": user_ref(str(raw_user)) if raw_user else None,
    }
    if fields["request_id"]:
        response.headers[REQUEST_ID_HEADER] = fields["request_id"]
    log.info("%s %s %d", request.method, request.path, response.status_code, extra=fields)
    return response
