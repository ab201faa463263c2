"""A loopback HTTP server that misbehaves on request, for testing chain downloads."""

from __future__ import annotations

import contextlib
from http.server import BaseHTTPRequestHandler

from skill.verification import MAX_CHAIN_BYTES
from tests.support.loopback import FakeHttpServer, QuietHandler

#: Seconds between the bytes a trickling route sends: well under any per-read timeout.
TRICKLE_S = 0.05


class ChainServer(FakeHttpServer):
    """Serves `payload` at /chain.pem, and one route per way a download can go wrong."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.paths: list[str] = []
        super().__init__(_handler_for(self))


def _handler_for(server: ChainServer) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            server.paths.append(self.path)
            route = {
                "/chain.pem": self.chain,
                "/declared-too-big.pem": self.declared_too_big,
                "/endless.pem": self.endless,
                "/redirect.pem": self.redirect,
                "/missing.pem": self.missing,
                "/trickle-body.pem": self.trickle_body,
                "/trickle-headers.pem": self.trickle_headers,
            }.get(self.path, self.missing)
            # The client may hang up mid-answer, as a download that gave up should.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                route()

        def chain(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(server.payload)))
            self.end_headers()
            self.wfile.write(server.payload)

        def declared_too_big(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(MAX_CHAIN_BYTES + 1))
            self.end_headers()
            self.wfile.write(b"-" * (MAX_CHAIN_BYTES + 1))

        def endless(self) -> None:
            self.send_response(200)
            self.end_headers()  # no length: the body runs until the connection closes
            while not server.stop.is_set():
                self.wfile.write(b"-" * 4096)

        def redirect(self) -> None:
            self.send_response(302)
            self.send_header("Location", "/chain.pem")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def missing(self) -> None:
            self.send_error(404)

        def trickle_body(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self._trickle(b"-" * 4096)

        def trickle_headers(self) -> None:
            self.wfile.write(b"HTTP/1.0 200 OK\r\n")
            self._trickle(b"X-Slow: " + b"a" * 4096 + b"\r\n\r\n")

        def _trickle(self, data: bytes) -> None:
            for index in range(len(data)):
                if server.stop.wait(TRICKLE_S):
                    return
                self.wfile.write(data[index : index + 1])
                self.wfile.flush()

    return Handler
