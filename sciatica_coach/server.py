"""`sciatica-coach serve`: the app under gunicorn with gevent workers (docs/SERVING.md says why).

A watch holds a long poll open for up to half a minute, so one process must hold thousands
of mostly idle requests: gevent gives each a greenlet instead of a thread. gunicorn's gevent
worker monkey-patches the standard library when the worker starts, and the app is built
only after that (never in the master, never preloaded), so the locks and events a long poll
waits on (shared/notify/wait_room.py) and the store's pool lock are the cooperative kind.
"""

from __future__ import annotations

import logging
import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from . import config, logs
from .request_log import init_request_log
from .services import services_of

log = logging.getLogger(__name__)

#: One process: the in-process notifier only wakes watches waiting in the process that saved.
DEFAULT_WORKERS = 1
#: Requests one worker holds at once; each waiting watch is one. Room for 10,000 waiting
#: watches (docs/BENCHMARKS.md, "Long-poll capacity") and the voice, wrists and health
#: checks beside them: a full pool accepts no new connection, not even /healthz.
WORKER_CONNECTIONS = 12_000
#: How long a stopping worker may take to answer what it holds before it is killed.
GRACEFUL_TIMEOUT_S = 30
#: Seconds an idle keep-alive connection stays open between a watch's polls.
KEEPALIVE_S = 5

WsgiApp = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """What the command line says; None leaves a setting to its SCIATICA_* variable."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = DEFAULT_WORKERS
    db: str | None = None
    skill_id: str | None = None
    ca_file: str | None = None
    cert_cache: str | None = None

    def app_config(self) -> dict[str, Any]:
        """The create_app settings the flags override; the rest come from the environment."""
        given = {
            "DATABASE": self.db,
            "SKILL_ID": self.skill_id,
            "ALEXA_CA_FILE": self.ca_file,
            "ALEXA_CERT_CACHE": self.cert_cache,
        }
        return {key: value for key, value in given.items() if value is not None}

    @property
    def bind(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def gunicorn_settings(options: ServeOptions) -> dict[str, Any]:
    """gunicorn's settings for `options`: gevent, our JSON logs, and the shutdown hooks."""
    return {
        "bind": [options.bind],
        "workers": options.workers,
        "worker_class": "gevent",
        "worker_connections": WORKER_CONNECTIONS,
        "graceful_timeout": GRACEFUL_TIMEOUT_S,
        "keepalive": KEEPALIVE_S,
        "preload_app": False,  # build the app in the worker, after gevent has patched
        "accesslog": None,  # request_log writes one richer line per request instead
        "logconfig_dict": logs.logging_config(),
        "control_socket_disable": True,  # no shared ~/.gunicorn socket between instances
        "proc_name": "sciatica-coach",
        "post_worker_init": _post_worker_init,
        "worker_int": _worker_int,
    }


class CoachServer(BaseApplication):
    """gunicorn run from code, so `serve`'s flags are the configuration and no file is read."""

    def __init__(
        self,
        settings: dict[str, Any],
        build: Callable[[], Flask],
        wrap: Callable[[Flask], WsgiApp] | None = None,
    ) -> None:
        self.settings = settings
        self.build = build
        self.wrap = wrap
        self.flask_app: Flask | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.settings.items():
            self.cfg.set(key, value)

    def load(self) -> WsgiApp:
        """Runs in each worker, after gevent has patched: builds the app and its request log."""
        app = self.build()
        init_request_log(app)
        self.flask_app = app
        notifier = services_of(app).coach.notifier
        wsgi = self.wrap(app) if self.wrap else app
        return CloseWhenStopping(wsgi, lambda: bool(notifier.closed))


class CloseWhenStopping:
    """Once the worker is stopping, every answer closes its connection (`Connection: close`).

    gunicorn decides whether to keep a connection alive when its request arrives, so a long
    poll that was waiting when SIGTERM came would be answered keep-alive; the watch would
    ask again at once on the same connection, and the stopping worker would answer that in
    full too: twice the work per waiting watch, while the stop waits for it (docs/SERVING.md,
    "Stopping"). Closing instead sends the watch's next poll to a fresh connection, which
    a load balancer gives to an instance that is not stopping.

    gunicorn's `start_response` is a method of its Response, whose `force_close()` is the
    one way to say so: an app's own Connection header is dropped as hop-by-hop. Under any
    other server this does nothing.
    """

    def __init__(self, app: WsgiApp, stopping: Callable[[], bool]) -> None:
        self.app = app
        self.stopping = stopping

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if self.stopping():
                force_close = getattr(
                    getattr(start_response, "__self__", None), "force_close", None
                )
                if callable(force_close):
                    force_close()
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def build_app(options: ServeOptions) -> Callable[[], Flask]:
    """A factory for the product app with `options`' overrides (imported late, in the worker)."""

    def build() -> Flask:
        from .app import create_app

        return create_app(options.app_config())

    return build


def serve(
    options: ServeOptions,
    build: Callable[[], Flask] | None = None,
    wrap: Callable[[Flask], WsgiApp] | None = None,
) -> int:
    """Run until stopped: SIGTERM drains gracefully, SIGINT/SIGQUIT stop at once."""
    logs.configure()
    if options.workers > 1 and not config.from_env()["REDIS_URL"]:
        log.warning(
            "%d workers with the in-process notifier: a watch waiting in one worker hears of "
            "a change made in another only when its poll times out; set SCIATICA_REDIS_URL "
            "or run one worker (docs/SERVING.md)",
            options.workers,
        )
    _raise_open_file_limit()
    settings = gunicorn_settings(options)
    CoachServer(settings, build or build_app(options), wrap).run()
    return 0


def _raise_open_file_limit() -> None:
    """Every waiting watch holds a socket; lift the soft limit on files to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, WORKER_CONNECTIONS * 2)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        log.info("raised the open file limit from %d to %d", soft, wanted)


# -- worker hooks -------------------------------------------------------------------------------


def _close_notifier(worker: Any) -> None:
    """Wake every waiting long poll so it answers now with the run as it stands."""
    app = getattr(worker.app, "flask_app", None)
    if app is None:
        return
    notifier = services_of(app).coach.notifier
    if not getattr(notifier, "closed", False):
        log.info("stopping: waking the long polls this worker holds")
        notifier.close()


def _post_worker_init(worker: Any) -> None:
    """Put our step in front of gunicorn's SIGTERM handler: wake the polls, then drain."""
    import gevent

    original = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: FrameType | None) -> None:
        # A signal handler must not block on a lock a greenlet holds; let the hub run it.
        gevent.spawn(_close_notifier, worker)
        if callable(original):
            original(signum, frame)

    signal.signal(signal.SIGTERM, on_term)


def _worker_int(worker: Any) -> None:
    """SIGINT/SIGQUIT stop a worker at once; still let the polls it held answer if they can."""
    _close_notifier(worker)
