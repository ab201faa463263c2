"""A threaded HTTP server on a free loopback port, for the fakes the tests point clients at.

Each fake derives `LoopbackServer` and hands it the handler class that answers for it; the
base owns the port, the serving thread, the `stop` event a slow route waits on, and a clean
shutdown, so every fake starts and stops the same way.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the server's access log out of the test output."""

    def log_message(self, format: str, *args: object) -> None:
        pass


class LoopbackServer:
    """Serves `handler` on 127.0.0.1 in a daemon thread while used as a context manager."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str = "") -> str:
        """This server's address, with `path` after it."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
