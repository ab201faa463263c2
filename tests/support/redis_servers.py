"""A real redis-server for the tests: CI's (SCIATICA_TEST_REDIS_URL) or one started here.

With neither, the Redis tests are skipped with the reason, except in CI (env CI set to
anything but empty, 0 or false), where a missing Redis fails them: a green run there must
have exercised the Redis store. A SCIATICA_TEST_REDIS_URL that does not answer fails in CI
too, rather than falling back to a server of our own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

import pytest

from tests.support.loopback import free_port

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
    servers = Servers(workdir)
    try:
        port = free_port()
        servers.launch(binary, port, workdir, (), "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        servers.stop()


# -- Redis Cluster and Sentinel, for the tests of those topologies ------------------------------


class Servers:
    """redis-server processes started for a session (one alone, or a topology), stopped together."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def start(self, name: str, *args: str) -> int:
        """A redis-server on a free loopback port, with `args`; its port once it answers."""
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed")
        port = free_port()
        directory = self.workdir / f"{name}-{port}"
        directory.mkdir()
        self.launch(binary, port, directory, args, f"redis-server {name}")
        return port

    def launch(
        self, binary: str, port: int, directory: Path, args: Sequence[str], what: str
    ) -> None:
        """Run `binary` with `args` on `port`, in and logging to `directory`, until it answers.

        One that never answers is `unavailable` as `what`; either way `stop` stops it.
        """
        log = (directory / "redis.log").open("wb")
        self._logs.append(log)
        base = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = subprocess.Popen(
            [binary, *args, *base], cwd=directory, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while (problem := answers(url)) is not None:
            if process.poll() is not None or time.monotonic() > deadline:
                unavailable(f"{what} did not start on port {port}: {problem}")
            time.sleep(0.02)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=STARTUP_LIMIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self._logs:
            log.close()


def until(condition: Callable[[], bool], what: str, limit: float = STARTUP_LIMIT_S) -> None:
    """Wait for `condition`, or say what never happened (in CI: fail; elsewhere: skip)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            unavailable(what)
        time.sleep(0.05)


@contextmanager
def redis_cluster(workdir: Path, nodes: int = 3) -> Iterator[str]:
    """A `redis+cluster://` URL of a Redis Cluster of `nodes` primaries, slots split evenly."""
    import redis

    servers = Servers(workdir)
    try:
        # The bus port is given too: the default (port + 10000) may not exist for a high port.
        buses = [free_port() for _ in range(nodes)]
        ports = [
            servers.start("cluster", "--cluster-enabled", "yes", "--cluster-port", str(bus))
            for bus in buses
        ]
        clients = [redis.Redis(port=port, decode_responses=True) for port in ports]
        try:
            per_node = 16384 // nodes
            for number, client in enumerate(clients):
                last = 16383 if number == nodes - 1 else (number + 1) * per_node - 1
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", number * per_node, last)
            for port, bus in zip(ports[1:], buses[1:], strict=True):
                clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port, bus)
            until(
                lambda: all(c.cluster("info")["cluster_state"] == "ok" for c in clients),
                f"the cluster on ports {ports} never reached cluster_state:ok",
            )
        finally:
            for client in clients:
                client.close()
        yield "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports)
    finally:
        servers.stop()


@dataclass(frozen=True, slots=True)
class SentinelSetup:
    """A master, its replica and one Sentinel watching them as MASTER_NAME."""

    url: str
    sentinel_port: int
    ports: tuple[int, int]


MASTER_NAME = "sciatica-test"


def _promotable(replicas: list[dict[str, object]]) -> bool:
    """Whether the Sentinel sees a replica it could promote: linked, in sync, not down."""
    return any(
        replica.get("master-link-status") == "ok" and not replica.get("is_sdown")
        for replica in replicas
    )


@contextmanager
def redis_sentinel(workdir: Path) -> Iterator[SentinelSetup]:
    """A `redis+sentinel://` URL of a master with one replica and one Sentinel."""
    import redis

    servers = Servers(workdir)
    try:
        master = servers.start("master", "--repl-diskless-sync-delay", "0")
        replica = servers.start("replica", "--replicaof", "127.0.0.1", str(master))
        follower = redis.Redis(port=replica, decode_responses=True)
        try:
            until(
                lambda: follower.info("replication").get("master_link_status") == "up",
                f"the replica on port {replica} never caught up with its master",
            )
        finally:
            follower.close()
        config = workdir / f"sentinel-{master}.conf"
        config.write_text(
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 1\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
            f"sentinel failover-timeout {MASTER_NAME} 5000\n",
            "utf-8",
        )
        sentinel = servers.start("sentinel", str(config), "--sentinel")
        watcher = redis.Redis(port=sentinel, decode_responses=True)
        try:
            until(
                lambda: _promotable(watcher.sentinel_slaves(MASTER_NAME)),
                f"the Sentinel on port {sentinel} never saw the replica in sync",
            )
        finally:
            watcher.close()
        yield SentinelSetup(
            f"redis+sentinel://127.0.0.1:{sentinel}/{MASTER_NAME}", sentinel, (master, replica)
        )
    finally:
        servers.stop()
