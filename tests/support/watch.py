"""Helpers the watch tests share: users, a quick routine, a spying notifier, a watch helper."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import TestResponse

from shared.notify.local import LocalNotifier
from shared.pairing.protocol import DEVICE_CODE_GRANT
from shared.pairing.service import PairingService
from tests.support.loopback import free_port as free_port  # the watch client tests use it
from tests.support.routines import one_stretch

WATCH_USER = "amzn1.ask.account.WATCH-USER"
OTHER_USER = "amzn1.ask.account.SOMEONE-ELSE"

#: Two 1.5 s holds (left, then right): a whole run with real time in a few seconds.
QUICK_ROUTINE = one_stretch("quick-test", "Quick test routine", 1.5)


@contextmanager
def serving(app: Any, name: str) -> Iterator[str]:
    """werkzeug's threaded server for `app` on 127.0.0.1 and a free port; the base URL."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


class SpyNotifier(LocalNotifier):
    """A LocalNotifier that tells a test when a long poll has started waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, user_id: str, seen_version: int, timeout: float) -> bool:
        self.waiting.set()
        return super().wait(user_id, seen_version, timeout)


class WatchActions:
    """A watch over the test client: pairs (binding the code through the core), polls, acts."""

    def __init__(self, client: FlaskClient, pairing: PairingService) -> None:
        self.client = client
        self.pairing = pairing
        self.token: str | None = None

    def pair(self, user_id: str = WATCH_USER) -> str:
        start = self.client.post("/api/v1/pairings").get_json()
        self.pairing.bind(user_id, start["user_code"])
        return self._redeem(start["device_code"])

    def pair_by_voice(self, speaker: Any) -> str:
        """Pair as a person would: read the code off the watch and say it to Alexa."""
        start = self.client.post("/api/v1/pairings").get_json()
        turn = speaker.says("PairWatchIntent", code=start["user_code_spoken"])
        assert "watch is paired" in turn.ssml, turn.ssml
        return self._redeem(start["device_code"])

    def _redeem(self, device_code: str) -> str:
        """Trade a bound pairing's device code for the watch's token, as the watch does."""
        answer = self.client.post(
            "/api/v1/token", data={"grant_type": DEVICE_CODE_GRANT, "device_code": device_code}
        )
        assert answer.status_code == 200, answer.get_json()
        self.token = answer.get_json()["access_token"]
        return self.token

    @property
    def auth(self) -> dict[str, str]:
        assert self.token is not None
        return {"Authorization": f"Bearer {self.token}"}

    def poll(self, etag: str | None = None, **params: Any) -> TestResponse:
        headers = dict(self.auth)
        if etag:
            headers["If-None-Match"] = etag
        return self.client.get("/api/v1/cues", headers=headers, query_string=params)

    def act(self, action: str) -> TestResponse:
        return self.client.post("/api/v1/actions", json={"action": action}, headers=self.auth)

    def unpair(self) -> TestResponse:
        return self.client.delete("/api/v1/devices/me", headers=self.auth)


class LoopbackServer:
    """A WSGI app on 127.0.0.1 that a test can start late and stop early, on a fixed port."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.app = app
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)


def garbage_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """What a captive portal or a misrouted proxy answers: 200, and HTML for everything."""
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"<html><body>Welcome to the hotel Wi-Fi</body></html>"]


class FailingFirst:
    """Wraps an app so the first `count` requests to `path` get a proxy's 502 error page."""

    def __init__(self, app: Any, path: str, count: int) -> None:
        self.app = app
        self.path = path
        self.left = count
        self.failed = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self._lock:
            fail = environ.get("PATH_INFO") == self.path and self.left > 0
            if fail:
                self.left -= 1
                self.failed += 1
        if fail:
            start_response("502 Bad Gateway", [("Content-Type", "text/html")])
            return [b"<html><body>502 Bad Gateway</body></html>"]
        return self.app(environ, start_response)
