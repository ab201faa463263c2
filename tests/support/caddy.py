"""A real Caddy in front of `sciatica-coach serve`, as docs/DEPLOY.md sets one up, on loopback.

The Caddyfile is the deployment's, with only what a test must own changed: `tls internal`
(Caddy's local CA) instead of a public certificate, free high ports instead of 80/443, the
admin endpoint off (so nothing collides with a caddy service on :2019), the local CA never
installed into the machine's trust store, and every bit of Caddy's state (its storage,
autosaved config, HOME) in the test's own directory. Without caddy the tests skip, except in
CI, where they fail, as the Redis, Chromium and espeak-ng tests do.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.support.loopback import free_port
from tests.support.redis_servers import in_ci
from tests.support.serve import BOOT_TIMEOUT_S, HTTP_TIMEOUT_S, TrackedConnection

#: Where Caddy keeps its local CA's root, under its storage directory.
LOCAL_ROOT = Path("pki/authorities/local/root.crt")
#: How long Caddy lets an idle connection to the app wait for reuse: below gunicorn's 5 s
#: keep-alive (sciatica_coach/server.py), so the app never closes one Caddy is about to use.
UPSTREAM_KEEPALIVE = "4s"


def require_caddy() -> str:
    """The caddy binary; skip outside CI, fail in CI, so these tests never silently not run."""
    binary = shutil.which("caddy")
    if binary:
        return binary
    if in_ci():
        pytest.fail("caddy is required in CI (apt-get install caddy)", pytrace=False)
    pytest.skip("no caddy to proxy through (apt-get install caddy)")


def caddyfile(https_port: int, http_port: int, upstream_port: int, storage: Path) -> str:
    """docs/DEPLOY.md's Caddyfile, on loopback ports with Caddy's local CA and its own state."""
    return f"""\
{{
    admin off
    skip_install_trust
    auto_https disable_redirects
    http_port {http_port}
    https_port {https_port}
    storage file_system {storage}
    servers {{
        protocols h1 h2
    }}
}}

https://127.0.0.1:{https_port} {{
    bind 127.0.0.1
    tls internal
    request_body {{
        max_size 64KB
    }}
    reverse_proxy 127.0.0.1:{upstream_port} {{
        lb_try_duration 5s
        lb_try_interval 250ms
        buffer_requests
        transport http {{
            keepalive {UPSTREAM_KEEPALIVE}
        }}
    }}
}}
"""


@dataclass
class Caddy:
    """One `caddy run` and how to reach the app through it."""

    process: subprocess.Popen[bytes]
    port: int
    storage: Path
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def root_cert(self) -> Path:
        """The local CA's root: the one certificate a client here needs to trust."""
        return self.storage / LOCAL_ROOT

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.root_cert))

    def connect(
        self, source: str = "127.0.0.1", timeout: float = HTTP_TIMEOUT_S
    ) -> TrackedHttpsConnection:
        """A raw HTTPS connection to Caddy from loopback address `source`."""
        return TrackedHttpsConnection(
            "127.0.0.1",
            self.port,
            timeout=timeout,
            context=self.tls_context(),
            source_address=(source, 0),
        )

    def session(self, source: str = "127.0.0.1") -> requests.Session:
        """A requests session that trusts Caddy's local CA and connects from `source`."""
        session = requests.Session()
        # Else REQUESTS_CA_BUNDLE (or a proxy) from the environment would win over `verify`.
        session.trust_env = False
        session.verify = str(self.root_cert)
        session.mount("https://", SourceAddressAdapter(source))
        return session

    def wait_ready(self, timeout: float = BOOT_TIMEOUT_S) -> None:
        """Return once Caddy completes a TLS handshake with a certificate its root vouches for.

        Only the handshake: no request reaches the app, so Caddy holds no connection to it
        that a test did not make.
        """
        deadline = time.monotonic() + timeout
        problem = "never tried"
        while (left := deadline - time.monotonic()) > 0:
            if self.process.poll() is not None:
                raise AssertionError(f"caddy exited {self.process.returncode}:\n{self.log()}")
            if self.root_cert.exists():
                try:
                    with (
                        socket.create_connection(("127.0.0.1", self.port), timeout=left) as raw,
                        self.tls_context().wrap_socket(raw, server_hostname="127.0.0.1"),
                    ):
                        return
                except (OSError, ssl.SSLError) as exc:
                    problem = str(exc)
            time.sleep(0.05)
        raise AssertionError(f"caddy not ready after {timeout} s ({problem}):\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=HTTP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")


class TrackedHttpsConnection(TrackedConnection, http.client.HTTPSConnection):
    """TrackedConnection over TLS: every answer it gave is closed with it."""


class SourceAddressAdapter(HTTPAdapter):
    """Connects from one loopback address, so Caddy sees a client of that address."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


@contextmanager
def caddy_in_front(directory: Path, upstream_port: int) -> Iterator[Caddy]:
    """`caddy run` proxying a free HTTPS port to `upstream_port`, stopped at the end."""
    binary = require_caddy()
    directory.mkdir(parents=True, exist_ok=True)
    home = directory / "home"
    storage = directory / "storage"
    config = directory / "Caddyfile"
    https_port = free_port()
    config.write_text(caddyfile(https_port, free_port(), upstream_port, storage), "utf-8")
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("XDG_", "SCIATICA_", "CADDY"))
    }
    environ.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
    )
    log_path = directory / "caddy.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [binary, "run", "--config", str(config), "--adapter", "caddyfile"],
            cwd=directory,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    caddy = Caddy(process, https_port, storage, log_path)
    try:
        caddy.wait_ready()
        yield caddy
    finally:
        caddy.stop()
