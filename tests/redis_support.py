"""A real redis-server for the tests: CI's (SCIATICA_TEST_REDIS_URL) or one started here.

With neither, the Redis tests are skipped with the reason, except in CI (env CI set to
anything but empty, 0 or false), where a missing Redis fails them: a green run there must
have exercised the Redis store. A SCIATICA_TEST_REDIS_URL that does not answer fails in CI
too, rather than falling back to a server of our own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

TEST_URL_ENV = "SCIATICA_TEST_REDIS_URL"
#: A bound so a server that never comes up fails the run instead of hanging it.
STARTUP_LIMIT_S = 10.0


def in_ci() -> bool:
    """Whether this run is CI's, where every service a test needs must be there."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def unavailable(reason: str) -> NoReturn:
    """Skip outside CI; in CI, fail, so the Redis tests can never silently not run."""
    if in_ci():
        pytest.fail(f"Redis is required in CI: {reason}", pytrace=False)
    pytest.skip(f"no Redis to test against: {reason}")


def answers(url: str) -> str | None:
    """None if a Redis at `url` answers PING, else why not."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return str(exc)
    finally:
        client.close()
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """The URL of a Redis the tests may flush: CI's, or a private one stopped at the end."""
    given = os.environ.get(TEST_URL_ENV)
    if given:
        problem = answers(given)
        if problem:
            unavailable(f"{TEST_URL_ENV}={given} does not answer: {problem}")
        yield given
        return
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable(f"redis-server is not installed and {TEST_URL_ENV} is not set")
    port = free_port()
    log = (workdir / "redis.log").open("wb")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while (problem := answers(url)) is not None:
            if server.poll() is not None or time.monotonic() > deadline:
                unavailable(f"redis-server did not start on port {port}: {problem}")
            time.sleep(0.02)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=STARTUP_LIMIT_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
