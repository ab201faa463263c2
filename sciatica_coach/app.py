"""The app factory: one function builds a configured app, so importing never starts anything."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from shared.clock import Clock, SystemClock
from shared.notify.base import ChangeNotifier
from shared.notify.redis import RedisNotifier
from shared.pairing.service import PairingService
from shared.redis_connection import DEFAULT_PREFIX
from shared.routine.coach import Coach
from shared.routine.definition import load_routine
from shared.routine.engine import RoutineEngine
from shared.services import AppServices, put_services
from shared.stores.redis import RedisStore
from shared.stores.sqlite import SQLiteStore
from shared.timing.tuning import SECTION_LIMIT_S, Tuning
from shared.timing.voices import Voices
from skill.alexa_settings import DEFAULT_TIMEOUT_S, AlexaSettings
from skill.builder import build_skill
from skill.calibration import calibration_script
from skill.endpoint import init_skill
from skill.handlers import Services
from skill.narration import Narrator
from wearable.api.routes import init_wearable

from . import config as config_module
from .body_limit import ChunkedBodyLimit
from .health import bp as health_bp
from .services import coach_of, services_of
from .site import bp as site_bp
from .timing_config import deployment_timing

log = logging.getLogger(__name__)

__all__ = ["coach_of", "create_app", "services_of"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment, overridden by `config` (tests pass theirs)."""
    app = Flask(__name__)
    app.config.from_mapping(config_module.from_env())
    if config:
        app.config.update(config)

    clock: Clock = app.config.get("CLOCK") or SystemClock()
    timing = deployment_timing(app.config)
    routine = load_routine(app.config["ROUTINE_FILE"])
    engine = RoutineEngine(routine, timing)
    store, notifier = _storage(app.config)
    coach = Coach(store, engine, clock, notifier=notifier)
    voices = Voices(store, timing)
    # The watch listens while the voice reads the script; only this factory knows both.
    script = app.config.get("CALIBRATION_SCRIPT") or calibration_script(routine)
    limit = float(app.config.get("TUNING_SECTION_S", SECTION_LIMIT_S))
    tuning = Tuning(voices, script, section_limit_s=limit)
    services = AppServices(coach, PairingService(store, clock), voices, tuning)
    # One place per app: the watch API, health and the server find them through it.
    put_services(app.extensions, services)
    init_wearable(app)
    app.config.setdefault("VERIFY_CLOCK", clock.now)

    app.register_blueprint(health_bp)
    # The icons, privacy policy and terms the skill package links to.
    app.register_blueprint(site_bp)
    # The voice is handed them when its skill is built: its handlers never look them up.
    skill_services = Services(
        coach=coach,
        narrator=Narrator(coach, voices),
        pairing=services.pairing,
        voices=voices,
        tuning=tuning,
        alexa_settings=AlexaSettings(
            app.config.get("ALEXA_API_HOSTS", ()),
            timeout_s=float(app.config.get("ALEXA_API_TIMEOUT_S", DEFAULT_TIMEOUT_S)),
        ),
    )
    init_skill(app, build_skill(skill_services, app.config["SKILL_ID"] or None))
    _register_error_handlers(app)
    # Outermost, so every blueprint sees chunked bodies with a length it can limit.
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, app.config["MAX_CONTENT_LENGTH"])
    hops = app.config.get("TRUSTED_PROXIES", 0)
    if hops:
        # Per-address limits (pairing starts) must see the watch, not the load balancer.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    return app


def _storage(config: Mapping[str, Any]) -> tuple[Any, ChangeNotifier | None]:
    """A given STORE, else Redis if REDIS_URL is set (many instances share it), else SQLite."""
    if config.get("STORE") is not None:
        return config["STORE"], None
    if config.get("REDIS_URL"):
        log.info("store and change notifications on Redis (docs/SCALE_OUT.md)")
        url, prefix = config["REDIS_URL"], config.get("REDIS_PREFIX") or DEFAULT_PREFIX
        return RedisStore.from_url(url, prefix=prefix), RedisNotifier.from_url(url, prefix=prefix)
    return SQLiteStore(config["DATABASE"]), None


def _register_error_handlers(app: Flask) -> None:
    """Answer every HTTP error as JSON, and never let a client see a traceback."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        response = jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description)
        return response, exc.code or 500
