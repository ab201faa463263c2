"""Plumbing the bench scripts share: loopback HTTP by hand, servers in their own session, figures.

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
from collections.abc import Mapping, Sequence
from pathlib import Path

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


# -- HTTP/1.1 by hand, so the client costs next to nothing -------------------------------------


def raw_request(
    method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes = b""
) -> bytes:
    """The bytes of one keep-alive HTTP/1.1 request to 127.0.0.1."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One response off a keep-alive stream: status, lower-cased headers, body."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed by the server")
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return int(status_line.split()[1]), headers, body


async def exchange(
    port: int, data: bytes, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(read_response(reader), timeout)
    finally:
        writer.close()


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
        status, _, _ = asyncio.run(exchange(port, raw_request("GET", "/healthz"), 1))
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
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


def stop_server(process: subprocess.Popen[bytes], grace_s: float = 40.0) -> None:
    """SIGTERM the server's session, and SIGKILL it if it is not gone after `grace_s`."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
