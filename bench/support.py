"""Plumbing the bench scripts share: loopback HTTP (h11), servers in their own session, figures.

Not a bench itself: the scripts import it (`from bench.support import ...`) so that the
way they talk to a server, start one and describe the machine is the same in every one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h11

if TYPE_CHECKING:
    from flask import Flask

    from sciatica_coach.demo.demo_ca import DemoCA

#: How long a server started here has to answer /healthz before it counts as failed.
BOOT_LIMIT_S = 30.0


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(samples: list[float], q: float) -> float:
    """The sample at quantile `q` (nearest rank, no interpolation), as every bench prints it."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def machine() -> str:
    """The line that says what the figures were taken on."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()[0].split()
    total_gib = int(meminfo[1]) / 1024 / 1024
    return (
        f"{os.cpu_count()} CPUs, {total_gib:.1f} GiB RAM, "
        f"Python {platform.python_version()} on {platform.system()} {platform.release()}"
    )


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time `pid` has used so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pid(process: subprocess.Popen[bytes]) -> int:
    """The one worker of a gunicorn master started with one worker."""
    [pid] = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    return int(pid)


def int_arg(position: int, default: int) -> int:
    """The whole number at sys.argv[position], or `default` when it is not given."""
    return int(sys.argv[position]) if len(sys.argv) > position else default


# -- HTTP/1.1 on loopback, written and read by h11 ---------------------------------------------

#: How much one read off a connection asks for.
READ_BYTES = 65536


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the benches send it: made once, sent as often as they like."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


def http_request(
    method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes = b""
) -> Request:
    """A request to 127.0.0.1; a body (and every POST) goes with a Content-Length."""
    fields = [("Host", "127.0.0.1"), *(headers or {}).items()]
    if body or method == "POST":
        fields.append(("Content-Length", str(len(body))))
    return Request(method, path, tuple(fields), body)


class HttpConnection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1, one request at a time, spoken by h11."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._h11 = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        """Connect to 127.0.0.1:`port`."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def send(self, request: Request) -> None:
        """Write `request`; the answer to the one before must have been read."""
        if self._h11.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
            self._h11.start_next_cycle()
        events: list[h11.Event] = [
            h11.Request(method=request.method, target=request.path, headers=request.headers)
        ]
        if request.body:
            events.append(h11.Data(data=request.body))
        events.append(h11.EndOfMessage())
        try:
            self._writer.write(b"".join(self._h11.send(event) or b"" for event in events))
        except h11.LocalProtocolError as err:  # the server said it would close
            raise ConnectionError(f"the connection cannot take another request: {err}") from err

    async def drain(self) -> None:
        """Wait until what was sent has left the buffer."""
        await self._writer.drain()

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        """The next response: status, lower-cased headers, body."""
        status, headers, body = 0, {}, bytearray()
        try:
            while True:
                event = self._h11.next_event()
                if event is h11.NEED_DATA:
                    self._h11.receive_data(await self._reader.read(READ_BYTES))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    headers = {
                        name.decode(): value.decode("latin-1") for name, value in event.headers
                    }
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    return status, headers, bytes(body)
                elif isinstance(event, h11.ConnectionClosed):
                    raise ConnectionError("closed by the server")
                # An informational (1xx) response: the real one follows.
        except h11.RemoteProtocolError as err:
            raise ConnectionError(f"a broken response: {err}") from err

    def close(self) -> None:
        self._writer.close()


async def exchange(
    port: int, request: Request, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection."""
    connection = await asyncio.wait_for(HttpConnection.open(port), timeout)
    try:
        connection.send(request)
        await connection.drain()
        return await asyncio.wait_for(connection.response(), timeout)
    finally:
        connection.close()


# -- servers in their own session ---------------------------------------------------------------


def environ_without_settings(**extra: str) -> dict[str, str]:
    """This environment minus every SCIATICA_* setting (so the caller's own cannot leak in)."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith("SCIATICA_")}
    return {**kept, **extra}


def start_logged(
    command: Sequence[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` in its own session (so killpg reaches its workers), output to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


def answers_healthz(port: int) -> bool:
    """Whether a server on `port` answers GET /healthz with a 200 within a second."""
    try:
        status, _, _ = asyncio.run(exchange(port, http_request("GET", "/healthz"), 1))
    except (OSError, TimeoutError):
        return False
    return status == 200


def wait_until_serving(
    process: subprocess.Popen[bytes], port: int, log: Path, what: str = "the server"
) -> None:
    """Return once /healthz answers; if it exits or BOOT_LIMIT_S passes, kill it and say why."""
    deadline = time.monotonic() + BOOT_LIMIT_S
    while not answers_healthz(port):
        if process.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):  # its workers too, if it died alone
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RuntimeError(f"{what} did not start:\n" + log.read_text(errors="replace"))
        time.sleep(0.05)


def start_serving(
    command: Sequence[str], port: int, log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a `sciatica-coach serve`-style command and wait until it answers on `port`."""
    process = start_logged(command, log, env)
    wait_until_serving(process, port, log)
    return process


def start_bench_server(
    command: Sequence[str],
    tmp: Path,
    skill_id: str,
    ca: DemoCA | None = None,
    **environ: str,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `command` (a `serve`) as every bench runs it, so their figures share one set-up.

    A free port, a temporary SQLite file in `tmp`, `skill_id`, and, given `ca`, its root
    trusted and its chain cached; none of the caller's SCIATICA_* settings, only `environ`.
    """
    port = free_port()
    flags = ["--port", str(port), "--db", str(tmp / "bench.sqlite3"), "--skill-id", skill_id]
    if ca is not None:
        ca.install_chain(tmp / "certs")
        flags += ["--ca-file", str(ca.write_root(tmp / "root.pem"))]
        flags += ["--cert-cache", str(tmp / "certs")]
    env = environ_without_settings(**environ)
    return start_serving([*command, *flags], port, tmp / "server.log", env), port


def serve_wrapped(argv: Sequence[str], wrap: Callable[[Flask], Any]) -> int:
    """Run `serve` with `argv`'s flags on the product's own server, the app wrapped by `wrap`.

    A bench's floor route rides on the same gunicorn, request log and middleware as the
    routes it is compared with.
    """
    from sciatica_coach import cli, server

    args = cli.build_parser().parse_args(["serve", *argv])
    options = server.ServeOptions(
        host="127.0.0.1",
        port=args.port,
        db=args.db,
        skill_id=args.skill_id,
        ca_file=args.ca_file,
        cert_cache=args.cert_cache,
    )
    return server.serve(options, wrap=wrap)


def stop_server(process: subprocess.Popen[bytes], grace_s: float = 40.0) -> None:
    """SIGTERM the server's session, and SIGKILL it if it is not gone after `grace_s`."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
