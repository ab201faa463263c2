"""A local fake of Alexa's Device Settings API on loopback, answering well or badly on request.

GET /v2/devices/<deviceId>/settings/System.timeZone answers `zone` as a JSON string, the way
Amazon's does, when `answer` is "zone"; every other `answer` is one way the real one (or a
host pretending to be it) can go wrong. Every request is recorded, so a test can see that
a host was never called, or with which path and token it was.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from skill.alexa_settings import MAX_ANSWER_BYTES, Origin, parse_origin
from tests.support.loopback import FakeHttpServer, QuietHandler

#: How long a "slow" answer waits before it answers: far past any timeout a test sets.
SLOW_S = 30.0
ZONE_PATH = "/v2/devices/{device}/settings/System.timeZone"

#: Every way to answer, by name.
ANSWERS = (
    "zone",
    "status-403",
    "status-404",
    "status-500",
    "status-503",
    "slow",
    "garbage",
    "deep-json",
    "not-a-string",
    "unknown-zone",
    "redirect",
    "declared-too-big",
    "endless",
    "empty",
)


@dataclass(frozen=True, slots=True)
class Seen:
    """One request the fake received."""

    path: str
    authorization: str | None


class SettingsApi(FakeHttpServer):
    """The fake; use as a context manager, set `answer` and `zone`, read `seen`."""

    def __init__(self, zone: str = "Europe/Berlin") -> None:
        self.zone = zone
        self.answer = "zone"
        self.seen: list[Seen] = []
        super().__init__(_handler_for(self))

    @property
    def endpoint(self) -> str:
        """The apiEndpoint an envelope names to reach this fake."""
        return self.url()

    @property
    def origin(self) -> Origin:
        return parse_origin(self.endpoint)


def _handler_for(api: SettingsApi) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            api.seen.append(Seen(self.path, self.headers.get("Authorization")))
            # The client may hang up mid-answer, as one that gave up should.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.respond(api.answer)

        def respond(self, answer: str) -> None:
            if answer.startswith("status-"):
                self.send(int(answer.removeprefix("status-")), b'{"type":"ERROR"}')
            elif answer == "slow":
                api.stop.wait(SLOW_S)
                self.send(200, json.dumps(api.zone).encode())
            elif answer == "garbage":
                self.send(200, b"\xff\xfe<html>not json")
            elif answer == "deep-json":
                self.send(200, b"[" * (MAX_ANSWER_BYTES - 1))
            elif answer == "not-a-string":
                self.send(200, b'{"timeZone": "Europe/Berlin"}')
            elif answer == "unknown-zone":
                self.send(200, b'"Mars/Olympus_Mons"')
            elif answer == "redirect":
                self.send_response(302)
                self.send_header("Location", self.path + "?again")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif answer == "declared-too-big":
                self.send(200, b'"' + b"A" * MAX_ANSWER_BYTES + b'"')
            elif answer == "endless":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()  # no length: the body runs until the connection closes
                self.wfile.write(b'"')
                while not api.stop.is_set():
                    self.wfile.write(b"A" * 4096)
            elif answer == "empty":
                self.send(200, b"")
            else:
                self.send(200, json.dumps(api.zone).encode())

        def send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
