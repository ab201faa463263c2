"""A server killed mid-hold comes back where it was: same step, same hold end, for voice and wrist.

The run stores absolute deadlines, not a ticking counter, and every change is in the store
before it is answered, so nothing is lost when the process dies: a fresh process on the same
store (the SQLite file, or Redis, which outlives the server) derives the same hold, and the
time left is simply its end minus now.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator
from shared.stores.redis import RedisStore
from shared.stores.sqlite import SQLiteStore
from tests.support.serve import (
    LONG_HOLD_ROUTINE,
    SKILL_ID,
    Launcher,
    Server,
    pair_watch_in,
    requests_transport,
    watch_get,
)

#: Like every test of the app package: no SCIATICA_* setting of the machine leaks in.
pytestmark = pytest.mark.usefixtures("clean_environment")

USER = "amzn1.ask.account.CRASH-RECOVERY"
SECONDS_LEFT = re.compile(r"(?:(\d+) minutes? ?)?(?:(\d+) seconds?)? left on this hold")


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[dict[str, str], Any]]:
    """Where the servers keep the runs, as SCIATICA_* settings, and the core's own handle on it."""
    if request.param == "sqlite":
        db = SQLiteStore(tmp_path / "coach.sqlite3")
        yield {"SCIATICA_DB": str(tmp_path / "coach.sqlite3")}, db
    else:
        url = request.getfixturevalue("redis_url")
        db = RedisStore.from_url(url)
        db.client.flushdb()
        yield {"SCIATICA_REDIS_URL": url, "SCIATICA_DB": str(tmp_path / "unused.sqlite3")}, db
    db.close()


@pytest.fixture
def environment(tmp_path: Path, store: tuple[dict[str, str], Any]) -> tuple[dict[str, str], DemoCA]:
    """Verification on, against a demo CA minted now; settings through SCIATICA_* only."""
    ca = DemoCA.generate(now=datetime.now(UTC))
    ca.install_chain(tmp_path / "certs")
    routine = tmp_path / "routine.toml"
    routine.write_text(LONG_HOLD_ROUTINE, "utf-8")
    env = {
        **store[0],
        "SCIATICA_ROUTINE": str(routine),
        "SCIATICA_SKILL_ID": SKILL_ID,
        "SCIATICA_ALEXA_CA_FILE": str(ca.write_root(tmp_path / "root.pem")),
        "SCIATICA_ALEXA_CERT_CACHE": str(tmp_path / "certs"),
        # Fast speech, so the hold starts a few seconds after "start" rather than nine.
        "SCIATICA_SPEECH_WPM": "1000",
        "SCIATICA_VOICE_START_DELAY_S": "0",
    }
    return env, ca


def seconds_said(ssml: str) -> int:
    match = SECONDS_LEFT.search(ssml)
    assert match, ssml
    minutes, seconds = (int(group or 0) for group in match.groups())
    return minutes * 60 + seconds


def wait_for_hold(server: Server, token: str) -> tuple[dict[str, Any], str]:
    """The watch's view and ETag once the hold has begun, a few seconds after "start"."""
    body = watch_get(server, token).json()
    assert body["state"] in ("announcing", "holding"), body
    time.sleep(max(0.0, body["hold"]["start_ms"] / 1000 - time.time()) + 0.05)
    answer = watch_get(server, token)
    assert answer.json()["state"] == "holding", answer.json()
    return answer.json(), answer.headers["ETag"]


def test_a_server_killed_mid_hold_resumes_the_same_hold_for_voice_and_watch(
    launcher: Launcher,
    store: tuple[dict[str, str], Any],
    environment: tuple[dict[str, str], DemoCA],
) -> None:
    env, ca = environment
    first = launcher.start(env=env)
    token = pair_watch_in(store[1], USER)
    speaker = AlexaSimulator(requests_transport(first), ca, SKILL_ID, time.time, user_id=USER)
    assert speaker.says("StartRoutineIntent").status == 200
    before, etag = wait_for_hold(first, token)

    first.kill_group()  # SIGKILL, master and worker: no shutdown code runs
    assert first.process.returncode == -9
    second = launcher.start(env=env, port=first.port)
    speaker.transport = requests_transport(second)

    # The wrist: same run, same step, same hold end, and what is left is end minus now.
    after = watch_get(second, token)
    assert after.status_code == 200
    body = after.json()
    assert body["state"] == "holding"
    assert body["version"] == before["version"]
    assert body["step"] == before["step"]
    assert body["hold"]["start_ms"] == before["hold"]["start_ms"]
    assert body["hold"]["end_ms"] == before["hold"]["end_ms"]
    assert body["cues"] == before["cues"]
    received, sent = (int(after.headers[name]) for name in ("Server-Receive-Ms", "Server-Send-Ms"))
    end_ms = before["hold"]["end_ms"]
    # WATCH_API.md, "Times": one reading of the run, in whole ms, between arrival and answer.
    assert received <= body["server_time_ms"] <= sent
    assert body["hold"]["remaining_ms"] == end_ms - body["server_time_ms"]
    assert end_ms - sent <= body["hold"]["remaining_ms"] <= end_ms - received
    assert after.headers["ETag"] == etag  # a watch's long poll from before still matches

    # The voice: "how long is left" counts down to the same end.
    asked = time.time()
    turn = speaker.says("TimeLeftIntent")
    answered = time.time()
    assert turn.status == 200, turn.body
    end = end_ms / 1000
    assert math.ceil(end - answered) <= seconds_said(turn.ssml) <= math.ceil(end - asked)

    assert watch_get(second, token, etag=etag).status_code == 304  # asking did not change it
