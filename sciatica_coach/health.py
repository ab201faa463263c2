"""Liveness: a load balancer asks /healthz before sending a user here."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    coach = current_app.extensions["sciatica_coach"]
    coach.store.get_user("healthz")  # touches the database, so a broken file shows up here
    return jsonify(status="ok", routine=coach.routine.id)
