"""Helpers for tests that run the real `sciatica-coach serve` (tests cannot import conftest).

A `Launcher` starts servers as child processes, each in its own process group on a loopback
port, with stderr (the JSON log) in a file; whoever owns the launcher kills every group it
started. `pair_watch` pairs a watch through the core on the server's own SQLite file, as the
voice would bind the code, so a test has a bearer token without driving the pairing flow.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from sciatica_coach.demo.simulator import Transport
from shared.clock import SystemClock
from shared.pairing.service import PairingService
from shared.stores.base import PairingStore
from shared.stores.sqlite import SQLiteStore
from tests.support.loopback import free_port
from tests.support.paths import REPO
from tests.support.routines import one_stretch

SKILL_ID = "amzn1.ask.skill.00000000-0000-4000-8000-5e17e5e17e50"
#: Longest a server may take to answer /healthz after it is started.
BOOT_TIMEOUT_S = 30.0
#: Longest any single HTTP exchange in these tests may take.
HTTP_TIMEOUT_S = 10.0

#: A routine whose words are few (its hold starts a second or so after "start") and whose
#: holds are long (a crash and a restart fit well inside one).
LONG_HOLD_ROUTINE = one_stretch("serve-test", "Serve test routine", 90, "Stretch, {side} side")


@dataclass
class Server:
    """One `sciatica-coach serve` process group and where it listens and logs."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def wait_ready(self, timeout: float = BOOT_TIMEOUT_S) -> None:
        """Return once /healthz answers 200; fail with the server's log if it never does.

        Refused connections mean the server is not listening yet. Once it listens, its
        worker may still be importing the app, which on a busy machine takes seconds, so a
        probe waits for its answer as long as the boot may still take, not a fixed second.
        """
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url("/healthz"), timeout=left).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready after {timeout} s:\n{self.log()}")

    def signal(self, signum: int) -> None:
        """Signal the master only, as a process supervisor would."""
        self.process.send_signal(signum)

    def kill_group(self) -> None:
        """SIGKILL master and workers at once: a crash, or the last word of a teardown."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=HTTP_TIMEOUT_S)
        with contextlib.suppress(ProcessLookupError):  # a worker its master left behind
            os.killpg(self.process.pid, signal.SIGKILL)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """Every JSON line of the log; a line that is not JSON fails the test that reads it."""
        return [json.loads(line) for line in self.log().splitlines() if line.strip()]


class TrackedConnection(http.client.HTTPConnection):
    """A raw connection that closes every answer it gave when it is closed itself.

    http.client hands the socket to an answer that says `Connection: close`, and an answer
    nobody read to the end keeps it open after the connection is closed: left to the garbage
    collector, it is a ResourceWarning (an error under `filterwarnings = error`) in whichever
    test happens to be running then.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers: list[http.client.HTTPResponse] = []

    def getresponse(self) -> http.client.HTTPResponse:
        answer = super().getresponse()
        self.answers.append(answer)
        return answer

    def close(self) -> None:
        for answer in self.answers:
            answer.close()
        self.answers.clear()
        super().close()


@dataclass
class Launcher:
    """Starts servers for one test and kills them all when the test ends."""

    directory: Path
    started: list[Server] = field(default_factory=list)
    connections: list[TrackedConnection] = field(default_factory=list)

    def start(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        wait: bool = True,
    ) -> Server:
        port = port or free_port()
        log_path = self.directory / f"server-{len(self.started)}.log"
        environ = {
            name: value for name, value in os.environ.items() if not name.startswith("SCIATICA_")
        }
        environ.update(env or {})
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "sciatica_coach.cli", "serve", "--port", str(port), *args],
                cwd=REPO,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so a kill reaches the workers
            )
        server = Server(process, port, log_path)
        self.started.append(server)
        if wait:
            server.wait_ready()
        return server

    def connect(self, server: Server, timeout: float = HTTP_TIMEOUT_S) -> TrackedConnection:
        """A raw connection to `server`, closed with its answers when the test ends."""
        conn = TrackedConnection("127.0.0.1", server.port, timeout=timeout)
        self.connections.append(conn)
        return conn

    def kill_all(self) -> None:
        for conn in self.connections:
            conn.close()
        self.connections.clear()
        for server in self.started:
            server.kill_group()


def pair_watch(db_path: Path, user_id: str) -> str:
    """A watch token for `user_id`, made through the core on the server's SQLite file."""
    store = SQLiteStore(db_path)
    try:
        return pair_watch_in(store, user_id)
    finally:
        store.close()


def pair_watch_in(store: PairingStore, user_id: str) -> str:
    """A watch token for `user_id`, made through the core on the server's own store."""
    pairing = PairingService(store, SystemClock())
    started = pairing.start()
    pairing.bind(user_id, started.user_code)
    return pairing.exchange(started.device_code).access_token


def requests_transport(server: Server) -> Transport:
    """Posts signed envelopes to the running server's /alexa."""

    def post(body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        response = requests.post(
            server.url("/alexa"), data=body, headers=dict(headers), timeout=HTTP_TIMEOUT_S
        )
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    return post


def watch_get(server: Server, token: str, etag: str | None = None, **params: Any) -> Any:
    """GET /api/v1/cues as the watch does."""
    headers = {"Authorization": f"Bearer {token}"}
    if etag:
        headers["If-None-Match"] = etag
    return requests.get(
        server.url("/api/v1/cues"), headers=headers, params=params, timeout=HTTP_TIMEOUT_S
    )
