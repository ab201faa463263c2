"""Loopback for the tests: a free port, and a threaded HTTP server for the fakes clients call.

Each fake derives `FakeHttpServer` and hands it the handler class that answers for it; the
base owns the port, the serving thread, the `stop` event a slow route waits on, and a clean
shutdown, so every fake starts and stops the same way.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


def free_port() -> int:
    """A loopback port nobody listens on right now (bind to 0 and ask which one it got)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the server's access log out of the test output."""

    def log_message(self, format: str, *args: object) -> None:
        pass


class FakeHttpServer:
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
