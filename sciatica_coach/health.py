"""Health for a load balancer: is this instance fit to be sent users, and if not, why not.

/healthz answers 200 only if the store answers and the change notifier hears every change:
an instance on Redis whose subscription is down would hold its watches' long polls without
hearing the voice's changes made on other instances, so it answers 503 (with the reason as
JSON) and the load balancer drains it until it hears again. A stopping instance answers 503
too, so no new user is sent to it while it finishes its requests.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from .services import services_of

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

#: How long a check lets a notifier that is just starting finish subscribing.
NOTIFIER_READY_S = 1.0


def _unhealthy(reason: str, message: str) -> ResponseReturnValue:
    log.warning("unhealthy: %s", message)
    return jsonify(status="unavailable", reason=reason, message=message), 503


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    coach = services_of(current_app).coach
    notifier = coach.notifier
    try:
        coach.store.get_user("healthz")  # touches the database, so a broken store shows here
    except Exception as exc:  # any failure at all means: send nobody here
        return _unhealthy("store", f"the store does not answer ({type(exc).__name__}: {exc})")
    if notifier.closed:
        return _unhealthy("stopping", "this instance is shutting down")
    if not notifier.ready(NOTIFIER_READY_S):
        return _unhealthy(
            "notifier",
            "not subscribed to changes: changes made on other instances would not reach "
            "the watches waiting here",
        )
    body = {"status": "ok", "routine": coach.routine.id}
    gauges = notifier.stats()
    if gauges:
        body["notifier"] = gauges
    return jsonify(body)
