"""Two instances on one Redis: the voice talks to A, the watch long-polls B, and nothing slips.

Both are the real `sciatica-coach serve`, each with its own (unused) SQLite file, so all they
share is Redis (under a key prefix of their own, from SCIATICA_REDIS_PREFIX). The watch is
the reference client in wearable/: it pairs through B while the voice binds its code on A,
then long-polls B while the voice drives the routine on A. Every voice change must reach
the watch's parked poll on B at once: well inside the long poll's fallback of re-reading the
store every 0.5 s, and B's /healthz must count the wake as one from another instance, so a
B that cannot hear A (and only re-reads) fails. Every buzz must land within 50 ms of the
server's cue time.

Then /healthz itself: an instance whose store or whose subscription is down answers 503
with the reason, so a load balancer drains it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient

from sciatica_coach.app import coach_of
from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator
from shared.routine.coach import Coach
from shared.stores.redis import RedisStore
from tests.support.buzz import assert_buzzed_on_cue
from tests.support.loopback import free_port
from tests.support.routines import one_stretch
from tests.support.serve import SKILL_ID, Launcher, Server, requests_transport
from wearable.api.long_poll import FALLBACK_POLL_S
from wearable.client.buzz_scheduler import Buzz
from wearable.client.watch_client import PairingPrompt, Snapshot, Watch, WatchCue

#: Like every test of the app package: no SCIATICA_* setting of the machine leaks in.
pytestmark = pytest.mark.usefixtures("clean_environment")

USER = "amzn1.ask.account.SCALE-OUT"
#: Two 1.5 s holds (left, then right), so the whole routine takes a few seconds.
QUICK_ROUTINE = one_stretch("scale-out-test", "Scale-out test routine", 1.5)
#: How soon a voice change on A must reach the watch parked on B (its poll is held 25 s);
#: half the period at which a poll that cannot trust its notifier re-reads the store.
WAKE_LIMIT_S = FALLBACK_POLL_S / 2
#: The instances' key prefix (and so their change channel), set through the environment.
PREFIX = "scale-out-e2e:"
#: How long the watch is given to park its next long poll before the voice speaks.
PARK_S = 0.5
#: A bound on anything awaited, so a broken setup fails instead of hanging.
LIMIT_S = 30.0


@pytest.fixture
def shared_redis(redis_url: str) -> Iterator[RedisStore]:
    """The Redis both instances use, emptied first; the test reads results through it."""
    store = RedisStore.from_url(redis_url, prefix=PREFIX)
    store.client.flushdb()
    yield store
    store.close()


@pytest.fixture
def two_instances(
    launcher: Launcher, tmp_path: Path, redis_url: str, shared_redis: RedisStore
) -> tuple[Server, Server, DemoCA]:
    """Instances A and B on one Redis, verification on against a demo CA minted now."""
    ca = DemoCA.generate(now=datetime.now(UTC))
    ca.install_chain(tmp_path / "certs")
    routine = tmp_path / "routine.toml"
    routine.write_text(QUICK_ROUTINE, "utf-8")
    env = {
        "SCIATICA_REDIS_URL": redis_url,
        "SCIATICA_REDIS_PREFIX": PREFIX,
        "SCIATICA_ROUTINE": str(routine),
        "SCIATICA_SKILL_ID": SKILL_ID,
        "SCIATICA_ALEXA_CA_FILE": str(ca.write_root(tmp_path / "root.pem")),
        "SCIATICA_ALEXA_CERT_CACHE": str(tmp_path / "certs"),
        "SCIATICA_SPEECH_WPM": "1000",  # holds start a moment after the words, not seconds
        "SCIATICA_VOICE_START_DELAY_S": "0",
    }
    a = launcher.start(env={**env, "SCIATICA_DB": str(tmp_path / "a.sqlite3")})
    b = launcher.start(env={**env, "SCIATICA_DB": str(tmp_path / "b.sqlite3")})
    return a, b, ca


@dataclass
class WatchLog:
    """What the watch saw, and when: every snapshot and every buzz, as they happen."""

    snapshots: list[tuple[float, Snapshot]] = field(default_factory=list)
    buzzes: list[Buzz[WatchCue]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def on_snapshot(self, snapshot: Snapshot) -> None:
        with self.changed:
            self.snapshots.append((time.time(), snapshot))
            self.changed.notify_all()

    def on_buzz(self, buzz: Buzz[WatchCue]) -> None:
        with self.changed:
            self.buzzes.append(buzz)
            self.changed.notify_all()

    def until(self, condition: Callable[[], bool], what: str) -> None:
        with self.changed:
            assert self.changed.wait_for(condition, LIMIT_S), f"the watch never saw {what}"

    def first_after(self, version: int) -> tuple[float, Snapshot]:
        """When the watch first saw a version newer than `version`, and that snapshot."""
        self.until(lambda: self.snapshots[-1][1].version > version, f"version {version + 1}")
        return next((at, shot) for at, shot in self.snapshots if shot.version > version)

    def latest(self) -> Snapshot:
        return self.snapshots[-1][1]


def pair_through_b_by_voice_on_a(watch: Watch, speaker: AlexaSimulator) -> None:
    prompts: queue.Queue[PairingPrompt] = queue.Queue()
    pairing = threading.Thread(target=watch.pair, args=(prompts.put,), daemon=True)
    pairing.start()
    prompt = prompts.get(timeout=LIMIT_S)
    turn = speaker.says("PairWatchIntent", code=prompt.spoken_code)
    assert turn.status == 200, turn.body
    pairing.join(LIMIT_S)
    assert watch.token is not None, "the watch never got its token from B"


def woken_from_elsewhere(server: Server) -> int:
    """How many waits on `server` a change from another instance has woken (its /healthz)."""
    health = requests.get(server.url("/healthz"), timeout=LIMIT_S)
    assert health.status_code == 200, health.text
    notifier = health.json()["notifier"]
    assert notifier["listening"] is True
    return int(notifier["woken_from_elsewhere"])


def voice_change_reaches_the_watch(
    log: WatchLog, speaker: AlexaSimulator, intent: str, b: Server
) -> Snapshot:
    """Say `intent` to A once the watch's poll is parked on B; pub/sub must wake it at once."""
    seen = log.latest().version
    time.sleep(PARK_S)  # let the watch's next long poll arrive at B and wait there
    woken = woken_from_elsewhere(b)
    turn = speaker.says(intent)
    answered = time.time()
    assert turn.status == 200, turn.body
    heard, snapshot = log.first_after(seen)
    assert heard - answered < WAKE_LIMIT_S, f"B's poll woke {heard - answered:.3f} s late"
    assert woken_from_elsewhere(b) > woken, "B's poll was not woken by A's message"
    return snapshot


def test_voice_on_one_instance_drives_a_watch_on_another_with_buzzes_on_time(
    two_instances: tuple[Server, Server, DemoCA], shared_redis: RedisStore
) -> None:
    a, b, ca = two_instances
    speaker = AlexaSimulator(requests_transport(a), ca, SKILL_ID, time.time, user_id=USER)
    log = WatchLog()
    watch = Watch(b.base_url, on_snapshot=log.on_snapshot, on_buzz=log.on_buzz)
    stop = threading.Event()
    polling = threading.Thread(target=watch.run, args=(stop,), daemon=True)
    try:
        # Both instances listen on the channel their key prefix names, and on no other.
        channels = shared_redis.client.pubsub_channels()
        assert f"{PREFIX}changes" in channels
        assert "sciatica:changes" not in channels
        pair_through_b_by_voice_on_a(watch, speaker)
        polling.start()
        log.until(lambda: bool(log.snapshots), "its first snapshot")

        started = voice_change_reaches_the_watch(log, speaker, "StartRoutineIntent", b)
        assert started.state in ("announcing", "holding")
        log.until(lambda: any(b.cue.kind == "hold_end" for b in log.buzzes), "the first hold end")

        second = voice_change_reaches_the_watch(log, speaker, "AMAZON.NextIntent", b)
        assert second.body["step"]["index"] == 1
        log.until(lambda: log.latest().state == "completed", "the routine complete")
        log.until(
            lambda: any(b.cue.kind == "routine_complete" for b in log.buzzes), "the last buzz"
        )
    finally:
        stop.set()
        watch.close()

    promised = {
        (cue.at_ms, cue.kind, cue.step_index) for _, shot in log.snapshots for cue in shot.cues
    }
    fired = [(buzz.cue.at_ms, buzz.cue.kind, buzz.cue.step_index) for buzz in log.buzzes]
    assert sorted(fired) == sorted(promised)  # every cue buzzed, and each only once
    for buzz in log.buzzes:
        assert_buzzed_on_cue(buzz, to_server_clock=0.0)  # the watch reads the server's clock
    assert [run.routine_id for run in shared_redis.history(USER)] == ["scale-out-test"]


# -- /healthz, which a load balancer asks before sending users -------------------------------


@pytest.fixture
def redis_app(
    make_app: Callable[..., Flask], app_config: dict[str, Any]
) -> Iterator[Callable[[str], FlaskClient]]:
    """`redis_app(url)`: a test client of an app on the Redis at `url`; notifiers closed after."""
    made: list[Coach] = []

    def make(url: str) -> FlaskClient:
        app = make_app({**app_config, "REDIS_URL": url})
        made.append(coach_of(app))
        return app.test_client()

    yield make
    for coach in made:
        coach.notifier.close()


def test_an_instance_on_redis_is_healthy_once_it_hears_the_others(
    redis_app: Callable[[str], FlaskClient], redis_url: str
) -> None:
    health = redis_app(redis_url).get("/healthz")
    assert health.status_code == 200
    assert health.get_json()["notifier"]["listening"] is True


@pytest.fixture
def deaf_url(redis_url: str) -> Iterator[str]:
    """A Redis user that may use every key but no channel: its store works, pub/sub cannot."""
    admin = redis.Redis.from_url(redis_url)
    name = f"deaf-{free_port()}"
    admin.acl_setuser(
        name, enabled=True, passwords=["+deaf"], keys=["*"], commands=["+@all"], reset_channels=True
    )
    try:
        yield redis_url.replace("redis://", f"redis://{name}:deaf@", 1)
    finally:
        admin.acl_deluser(name)
        admin.close()


def test_an_instance_that_cannot_hear_the_others_is_unhealthy(
    redis_app: Callable[[str], FlaskClient], deaf_url: str
) -> None:
    """Its watches would miss every change made elsewhere: the load balancer must drain it."""
    health = redis_app(deaf_url).get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["status"] == "unavailable"
    assert health.get_json()["reason"] == "notifier"


def test_an_instance_whose_redis_is_gone_is_unhealthy(
    redis_app: Callable[[str], FlaskClient],
) -> None:
    health = redis_app(f"redis://127.0.0.1:{free_port()}/0").get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["reason"] == "store"


def test_a_stopping_instance_is_unhealthy(
    redis_app: Callable[[str], FlaskClient], redis_url: str
) -> None:
    client = redis_app(redis_url)
    coach_of(client.application).notifier.close()  # what SIGTERM does first
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["reason"] == "stopping"
