"""The product end to end: a real server process, a signed speaker and the reference watch.

The watch pairs by a code spoken to /alexa, the whole routine is driven by voice requests,
and the watch's clock runs seven seconds fast on purpose: its offset estimate must still put
every buzz within 50 ms of the server's cue time. A short routine keeps it to seconds.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.live import (
    DEMO_SKILL_ID,
    free_port,
    http_transport,
    running_server,
    spoken_steps,
    spoken_turn,
)
from sciatica_coach.demo.simulator import AlexaSimulator
from shared.routine.cues import CueKind
from shared.timing import SpeechTimingModel
from tests.support.buzz import assert_buzzed_on_cue
from wearable.client.buzz_scheduler import Buzz
from wearable.client.watch_client import PairingPrompt, Watch, WatchCue

WATCH_FAST_BY_S = 7.0
#: How long the watch keeps running after the last expected buzz: nothing more may come.
SETTLE_S = 2.0
#: A fast talker keeps the run short; the clocks still run in real time.
FAST_SPEECH_WPM = 600
SHORT_ROUTINE = """
id = "e2e-short"
title = "Short routine"
hold_seconds = 1.5
safety_note = "Not medical advice. Stop on sharp pain or numbness."

[[steps]]
id = "stretch"
title = "Stretch {side}"
say = "Stretch the {side} side."
hold = { side = "both" }
settle_seconds = 1

[[steps]]
id = "close"
title = "Done"
say = "All done."
settle_seconds = 1
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, DemoCA]]:
    ca = DemoCA.generate(now=datetime.now(UTC))
    cache = tmp_path / "certs"
    ca.install_chain(cache)
    routine = tmp_path / "short.toml"
    routine.write_text(SHORT_ROUTINE)
    env = {
        "SCIATICA_DB": str(tmp_path / "e2e.sqlite3"),
        "SCIATICA_SKILL_ID": DEMO_SKILL_ID,
        "SCIATICA_ALEXA_CA_FILE": str(ca.write_root(tmp_path / "root.pem")),
        "SCIATICA_ALEXA_CERT_CACHE": str(cache),
        "SCIATICA_ROUTINE": str(routine),
        "SCIATICA_VOICE_START_DELAY_S": "0",
        "SCIATICA_SPEECH_WPM": str(FAST_SPEECH_WPM),
    }
    with running_server(env, free_port(), tmp_path / "server.log") as url:
        yield url, ca


def fast_watch_clock() -> float:
    return time.time() + WATCH_FAST_BY_S


@dataclass(frozen=True, slots=True)
class Rig:
    """A signed speaker and the fast-clocked reference watch on one server, its buzzes queued."""

    speaker: AlexaSimulator
    watch: Watch
    buzzes: queue.Queue[Buzz[WatchCue]]
    stop: threading.Event

    def pair_and_run(self) -> None:
        """Pair the watch by saying the code it shows, then let it poll in the background."""

        def say_the_code(prompt: PairingPrompt) -> None:
            turn = self.speaker.says("PairWatchIntent", code=prompt.user_code)
            assert "watch is paired" in turn.ssml

        self.watch.pair(say_the_code, self.stop)
        threading.Thread(target=self.watch.run, args=(self.stop,), daemon=True).start()

    def buzz_after_the_last(self) -> Buzz[WatchCue] | None:
        """A buzz within SETTLE_S after every expected one: there should be none."""
        try:
            return self.buzzes.get(timeout=SETTLE_S)
        except queue.Empty:
            return None


@pytest.fixture
def rig(server: tuple[str, DemoCA]) -> Iterator[Rig]:
    url, ca = server
    http = requests.Session()
    speaker = AlexaSimulator(http_transport(url, http), ca, DEMO_SKILL_ID, time.time)
    buzzes: queue.Queue[Buzz[WatchCue]] = queue.Queue()
    watch = Watch(url, clock=fast_watch_clock, on_buzz=buzzes.put, long_poll_s=5)
    stop = threading.Event()
    try:
        yield Rig(speaker, watch, buzzes, stop)
    finally:
        stop.set()
        watch.close()
        http.close()


def test_voice_pairs_the_watch_and_every_buzz_lands_on_the_servers_cue_time(rig: Rig) -> None:
    speaker, watch, buzzes = rig.speaker, rig.watch, rig.buzzes
    rig.pair_and_run()
    timing = SpeechTimingModel(words_per_minute=FAST_SPEECH_WPM, start_delay_s=0)
    turn = speaker.says("StartRoutineIntent")
    holds = 0
    while True:
        assert turn.status == 200, turn.body
        heard = spoken_turn(turn, time.time(), timing)
        holds += bool(heard.hold_s)
        # "Next" may cut in once the hold is over, as a person would.
        time.sleep(max(0.0, heard.hold_end - time.time()) + 0.2)
        if heard.ends_session:
            break
        turn = speaker.says("AMAZON.NextIntent")
    # Holds this short have no five-second warning: start and end each, then complete.
    fired = [buzzes.get(timeout=10) for _ in range(2 * holds + 1)]
    # ... and that is all: no cue fires twice, nothing is left to fire, however long it runs.
    extra = rig.buzz_after_the_last()
    assert extra is None, f"an extra buzz after the routine's last: {extra}"
    assert watch.pending_buzzes() == []

    assert holds == 2
    assert [CueKind(b.cue.kind) for b in fired] == [
        CueKind.HOLD_START,
        CueKind.HOLD_END,
        CueKind.HOLD_START,
        CueKind.HOLD_END,
        CueKind.ROUTINE_COMPLETE,
    ]
    for buzz in fired:
        assert_buzzed_on_cue(buzz, to_server_clock=-WATCH_FAST_BY_S)


def test_hands_free_a_whole_routine_with_no_next_and_voice_and_wrist_agree_at_every_step(
    rig: Rig,
) -> None:
    speaker, buzzes = rig.speaker, rig.buzzes
    rig.pair_and_run()
    assert speaker.says("HandsFreeIntent").status == 200
    timing = SpeechTimingModel(words_per_minute=FAST_SPEECH_WPM, start_delay_s=0)
    asked = time.time()
    turn = speaker.says("StartRoutineIntent")  # ...and not one word more
    answered = time.time()
    assert turn.status == 200, turn.body
    assert turn.ends_session  # the whole short routine fits one response
    steps = spoken_steps(turn.ssml, answered, timing)
    holds = [step for step in steps if step.hold_s]
    # Every hold start, end and the finish: one poll gave the watch the whole chain.
    fired = [buzzes.get(timeout=30) for _ in range(2 * len(holds) + 1)]
    extra = rig.buzz_after_the_last()
    assert extra is None, f"an extra buzz after the routine's last: {extra}"

    assert len(holds) == 2
    kinds = [CueKind(b.cue.kind) for b in fired]
    assert kinds == [CueKind.HOLD_START, CueKind.HOLD_END] * 2 + [CueKind.ROUTINE_COMPLETE]
    for buzz in fired:
        assert_buzzed_on_cue(buzz, to_server_clock=-WATCH_FAST_BY_S)
    # Voice and wrist agree at every step: each cue sits where the reply says its words end
    # ("Starting now") or its "time's up" begins, up to the request's own answer time (the
    # server timed the chain from the request, the speaker talks once it has the reply).
    spoken = [moment for step in holds for moment in (step.lead_in_end, step.hold_end)]
    cued = [b.cue.at_ms / 1000 for b in fired[:-1]]
    for said_at, cue_at in zip(spoken, cued, strict=True):
        assert -0.05 <= said_at - cue_at <= (answered - asked) + 0.05
