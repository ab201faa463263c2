"""The reference watch (`sciatica-watch`'s core) against a live server on loopback.

Its clock is set 7 s fast on purpose: the NTP-style offset estimate must put every buzz back
within 50 ms of the cue's time on the server's clock, with the run driven as the voice would.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from watch_support import WATCH_USER

from shared.coach import Coach
from shared.cues import Cue
from shared.engine import Event
from shared.pairing import PairingService
from wearable import cli
from wearable.buzz_scheduler import Buzz
from wearable.watch_client import PairingPrompt, Snapshot, Unpaired, Watch, WatchCue

WATCH_FAST_BY_S = 7.0
BUZZ_TOLERANCE_S = 0.050


def fast_clock() -> float:
    return time.time() + WATCH_FAST_BY_S


class RunningWatch:
    """A paired Watch with its poll loop in a thread, and every buzz in a queue."""

    def __init__(self, base_url: str, pairing: PairingService) -> None:
        self.buzzes: queue.Queue[Buzz[WatchCue]] = queue.Queue()
        self.snapshots: queue.Queue[Snapshot] = queue.Queue()
        self.prompts: list[PairingPrompt] = []
        self.watch = Watch(
            base_url,
            clock=fast_clock,
            on_buzz=self.buzzes.put,
            on_snapshot=self.snapshots.put,
            long_poll_s=2,
        )
        self.stop = threading.Event()
        self.pairing = pairing
        self.thread = threading.Thread(target=self._run, name="watch", daemon=True)

    def _say_code(self, prompt: PairingPrompt) -> None:
        self.prompts.append(prompt)
        self.pairing.bind(WATCH_USER, prompt.spoken_code)  # what "Alexa, pair code ..." does

    def _run(self) -> None:
        with contextlib.suppress(Unpaired):
            self.watch.run(self.stop)

    def start(self) -> None:
        self.watch.pair(self._say_code, self.stop)
        self.thread.start()

    def next_buzzes(self, count: int) -> list[Buzz[WatchCue]]:
        return [self.buzzes.get(timeout=10) for _ in range(count)]

    def wait_for_state(self, state: str) -> Snapshot:
        while True:
            snapshot = self.snapshots.get(timeout=10)
            if snapshot.state == state:
                return snapshot

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.watch.close()


@pytest.fixture
def running_watch(live_server: str, live_pairing: PairingService) -> Iterator[RunningWatch]:
    running = RunningWatch(live_server, live_pairing)
    running.start()
    yield running
    running.close()


def assert_on_time(buzzes: list[Buzz[WatchCue]], cues: list[Cue]) -> None:
    assert [b.cue.kind for b in buzzes] == [c.kind.value for c in cues]
    for buzz, cue in zip(buzzes, cues, strict=True):
        assert buzz.cue.at_ms == round(cue.at * 1000)
        fired_on_server_clock = buzz.fired - WATCH_FAST_BY_S
        assert abs(fired_on_server_clock - cue.at) < BUZZ_TOLERANCE_S, buzz


def test_every_buzz_lands_on_its_cue_though_the_watch_clock_is_7_s_fast(
    running_watch: RunningWatch, live_coach: Coach
) -> None:
    assert running_watch.prompts[0].prompt.startswith("Say: Alexa, ask sciatica coach")
    first = live_coach.apply(WATCH_USER, Event.START, lead_in=0.5)
    first_cues = list(first.view.cues)  # hold start and end (too short for a warning)
    assert_on_time(running_watch.next_buzzes(len(first_cues)), first_cues)

    second = live_coach.apply(WATCH_USER, Event.NEXT, lead_in=0.5)  # "Alexa, next"
    second_cues = list(second.view.cues)  # ... and the routine's end
    assert second_cues[-1].kind.value == "routine_complete"
    assert_on_time(running_watch.next_buzzes(len(second_cues)), second_cues)

    assert running_watch.watch.sync.offset_s == pytest.approx(-WATCH_FAST_BY_S, abs=0.02)


def test_a_pause_by_voice_cancels_the_buzzes_still_to_come(
    running_watch: RunningWatch, live_coach: Coach
) -> None:
    started = live_coach.apply(WATCH_USER, Event.START, lead_in=0.5)
    hold_end = started.view.cues[-1]
    [first] = running_watch.next_buzzes(1)
    assert first.cue.kind == "hold_start"
    live_coach.apply(WATCH_USER, Event.PAUSE)  # "Alexa, pause", mid-hold
    running_watch.wait_for_state("paused")
    assert running_watch.watch.pending_buzzes() == []
    with pytest.raises(queue.Empty):  # wait past when the hold would have ended
        running_watch.buzzes.get(timeout=max(0.0, hold_end.at - time.time()) + 0.3)


def test_an_action_from_the_wrist_moves_the_voices_run(
    running_watch: RunningWatch, live_coach: Coach
) -> None:
    live_coach.apply(WATCH_USER, Event.START, lead_in=0.5)
    snapshot = running_watch.watch.act("next")
    assert snapshot.body["step"]["index"] == 1
    assert live_coach.view(WATCH_USER).step_index == 1


# -- the command line ---------------------------------------------------------------------------


@pytest.fixture
def token_file(tmp_path: Path, live_pairing: PairingService) -> Path:
    """A token file as an earlier `sciatica-watch` run would have left it."""
    start = live_pairing.start()
    live_pairing.bind(WATCH_USER, start.user_code)
    path = tmp_path / "watch-token"
    path.write_text(live_pairing.exchange(start.device_code).access_token, "utf-8")
    return path


def test_the_cli_sends_one_action_with_a_saved_token(
    live_server: str, live_coach: Coach, token_file: Path
) -> None:
    live_coach.apply(WATCH_USER, Event.START)
    out = io.StringIO()
    argv = ["--server", live_server, "--token-file", str(token_file), "--action", "pause"]
    assert cli.main(argv, out=out) == 0
    assert live_coach.view(WATCH_USER).phase.value == "paused"


def test_the_cli_unpairs_and_forgets_its_token(
    live_server: str, live_pairing: PairingService, token_file: Path
) -> None:
    token = token_file.read_text("utf-8")
    out = io.StringIO()
    argv = ["--server", live_server, "--token-file", str(token_file), "--unpair"]
    assert cli.main(argv, out=out) == 0
    assert "Unpaired." in out.getvalue()
    assert not token_file.exists()
    assert live_pairing.authenticate(token) is None


def test_the_cli_prints_a_buzz_with_the_bell_when_asked(live_server: str) -> None:
    out = io.StringIO()
    watch = Watch(live_server)
    printer = cli.Printer(watch, out, bell=True)
    cue = WatchCue(at_ms=0, kind="hold_end", step_index=1, side="right", web_pattern=(250,))
    printer.buzz(Buzz(cue, due=time.time(), fired=time.time()))
    watch.close()
    line = out.getvalue()
    assert line.startswith("\a[")
    assert "BUZZ hold_end (three pulses: release; step 2, right)" in line
