"""The reference watch (`sciatica-watch`'s core) against a live server on loopback.

Its clock is set 7 s fast on purpose: the NTP-style offset estimate must put every buzz back
within 50 ms of the cue's time on the server's clock, with the run driven as the voice would.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask

from sciatica_coach.app import services_of
from shared.pairing.protocol import DEVICE_CODE_GRANT, SLOW_DOWN_STEP_S
from shared.pairing.service import PairingService
from shared.routine.coach import Coach
from shared.routine.cues import Cue
from shared.routine.engine import Event
from shared.services import put_services
from skill.spoken_code import parse_spoken_code
from tests.support.buzz import assert_buzzed_on_cue
from tests.support.core import finished_at
from tests.support.paths import REPO
from tests.support.watch import WATCH_USER, FailingFirst, LoopbackServer, free_port, garbage_app
from wearable.api.actions import WatchAction
from wearable.client import cli, watch_client
from wearable.client.buzz_scheduler import Buzz
from wearable.client.watch_client import (
    PairingPrompt,
    ServerUnreachable,
    Snapshot,
    Unpaired,
    Watch,
    WatchCue,
    WatchError,
    backoff_s,
)

WATCH_FAST_BY_S = 7.0
DAY_S = 86_400.0


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
        self.pairing.bind(WATCH_USER, parse_spoken_code(prompt.spoken_code))  # as Alexa hears it

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
        assert_buzzed_on_cue(buzz, to_server_clock=-WATCH_FAST_BY_S)


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


def test_an_actions_answer_is_a_clock_sample_too(
    live_server: str, live_coach: Coach, token_file: Path
) -> None:
    watch = Watch(live_server, token=token_file.read_text("utf-8"), clock=fast_clock)
    live_coach.apply(WATCH_USER, Event.START, lead_in=0.5)
    try:
        watch.act("pause")
    finally:
        watch.close()
    assert watch.sync.samples == 1
    assert watch.sync.offset_s == pytest.approx(-WATCH_FAST_BY_S, abs=0.05)


class WaitRecordingSession(requests.Session):
    """A session that keeps the `wait` of every cue poll, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[int] = []
        self.changed = threading.Condition()

    def get(self, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        with self.changed:
            self.waits.append(int(kwargs.get("params", {}).get("wait", -1)))
            self.changed.notify_all()
        return super().get(url, *args, **kwargs)

    def wait_for(self, count: int, timeout: float = 10) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.waits) >= count, timeout)


@pytest.mark.parametrize(("target_s", "quick"), [(-1.0, watch_client.SYNC_BURST), (60.0, 1)])
def test_a_new_watch_polls_quickly_only_while_its_clock_is_uncertain(
    live_server: str,
    token_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    target_s: float,
    quick: int,
) -> None:
    monkeypatch.setattr(watch_client, "SYNC_TARGET_S", target_s)  # never met, or met at once
    monkeypatch.setattr(watch_client, "SYNC_GAP_S", 0.01)
    session = WaitRecordingSession()
    watch = Watch(live_server, token=token_file.read_text("utf-8"), session=session, long_poll_s=1)
    stop = threading.Event()
    thread = threading.Thread(target=watch.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert session.wait_for(quick + 1)
    finally:
        stop.set()
        thread.join(timeout=10)
        watch.close()
    # The burst's quick polls (the first poll is one), then long polls.
    assert session.waits[: quick + 1] == [0] * quick + [1]


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


def test_the_cli_prints_the_history_with_a_saved_token(
    live_server: str, live_coach: Coach, token_file: Path
) -> None:
    now = time.time()
    # Yesterday (in New York, where the person is) and, twice, the day before.
    live_coach.change_settings(WATCH_USER, time_zone="America/New_York")
    finished_at(live_coach, WATCH_USER, now - 2 * DAY_S, now - 2 * DAY_S + 0.001, now - DAY_S)
    progress = live_coach.progress(WATCH_USER)
    out = io.StringIO()
    argv = ["--server", live_server, "--token-file", str(token_file), "--history"]
    assert cli.main(argv, out=out) == 0
    lines = out.getvalue().splitlines()
    runs = progress.runs_this_week
    assert lines[0] == (
        f"This week: {runs} run{'' if runs == 1 else 's'}. Streak: 2 days, none yet today."
    )
    last = datetime.fromtimestamp(round((now - DAY_S) * 1000) / 1000, ZoneInfo("America/New_York"))
    assert lines[1] == f"Last run: {last:%a %d %b %Y %H:%M} (America/New_York)."
    days = [f"{day.day:%a} {day.runs}" for day in progress.last_days[:-1]]
    assert lines[2] == f"Last 7 days: {', '.join(days)}, today 0."
    assert [day.runs for day in progress.last_days][-3:] == [2, 1, 0]


def test_the_watch_reads_a_history_of_no_runs_at_all(live_server: str, token_file: Path) -> None:
    watch = Watch(live_server, token=token_file.read_text("utf-8"))
    try:
        history = watch.history()
    finally:
        watch.close()
    assert (history.runs_this_week, history.streak_days, history.done_today) == (0, 0, False)
    assert history.last_completed_ms is None
    assert [runs for _, runs in history.last_days] == [0] * 7
    assert history.last_days[-1][0] == history.today


def test_the_history_of_an_unpaired_watch_says_so(
    live_server: str, live_pairing: PairingService, token_file: Path
) -> None:
    watch = Watch(live_server, token=token_file.read_text("utf-8"))
    live_pairing.revoke_user(WATCH_USER)
    try:
        with pytest.raises(Unpaired):
            watch.history()
    finally:
        watch.close()


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


# -- a server that is down, or answers garbage ---------------------------------------------------


class CountingSession(requests.Session):
    """A session that tells a test how many requests it has sent to each path."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: dict[str, int] = {}
        self.changed = threading.Condition()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        with self.changed:
            path = urlsplit(url).path
            self.sent[path] = self.sent.get(path, 0) + 1
            self.changed.notify_all()
        return super().request(method, url, *args, **kwargs)

    def wait_for(self, path: str, count: int, timeout: float = 10) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.sent.get(path, 0) >= count, timeout)


def quick_retrying_watch(url: str, session: requests.Session | None = None, **kwargs: Any) -> Watch:
    return Watch(url, session=session, retry_s=0.02, max_retry_s=0.1, **kwargs)


def pair_in_thread(watch: Watch, pairing: PairingService) -> tuple[threading.Thread, dict]:
    result: dict[str, Any] = {}

    def say_code(prompt: PairingPrompt) -> None:
        pairing.bind(WATCH_USER, prompt.user_code)

    def pair() -> None:
        try:
            result["token"] = watch.pair(say_code)
        except Exception as exc:
            result["error"] = exc

    thread = threading.Thread(target=pair, daemon=True)
    thread.start()
    return thread, result


def test_pairing_waits_for_a_server_that_is_down_and_pairs_once_it_is_up(
    live_app: Flask, live_pairing: PairingService
) -> None:
    session = CountingSession()
    server = LoopbackServer(live_app, free_port())
    watch = quick_retrying_watch(server.url, session, pair_attempts=1_000)
    thread, result = pair_in_thread(watch, live_pairing)
    try:
        assert session.wait_for("/api/v1/pairings", 3), "the watch gave up on a down server"
        assert "error" not in result
        server.start()
        thread.join(15)
        assert not thread.is_alive()
        assert live_pairing.authenticate(result["token"]) == WATCH_USER, result
    finally:
        server.stop()
        watch.close()


def test_pairing_against_garbage_gives_up_with_a_clear_message(tmp_path: Path) -> None:
    server = LoopbackServer(garbage_app).start()
    session = CountingSession()
    watch = quick_retrying_watch(server.url, session, pair_attempts=3)
    try:
        with pytest.raises(ServerUnreachable) as caught:
            watch.pair(lambda prompt: None)
    finally:
        server.stop()
        watch.close()
    assert session.sent["/api/v1/pairings"] == 3
    assert str(caught.value) == (
        f"could not start pairing at {server.url}/ after 3 tries: "
        "the answer was not the watch API's JSON"
    )


def test_pairing_against_a_down_server_gives_up_with_a_clear_message() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    watch = quick_retrying_watch(url, pair_attempts=2)
    try:
        with pytest.raises(ServerUnreachable, match="could not connect"):
            watch.pair(lambda prompt: None)
    finally:
        watch.close()


def test_an_address_that_is_not_a_coach_is_refused_at_once(live_server: str) -> None:
    session = CountingSession()
    watch = quick_retrying_watch(live_server + "/not-the-coach", session, pair_attempts=5)
    try:
        with pytest.raises(WatchError, match="HTTP 404"):
            watch.pair(lambda prompt: None)
    finally:
        watch.close()
    assert sum(session.sent.values()) == 1


def test_a_proxys_error_pages_while_polling_for_the_token_are_waited_out(
    live_app: Flask, live_pairing: PairingService
) -> None:
    flaky = FailingFirst(live_app, "/api/v1/token", count=2)
    server = LoopbackServer(flaky).start()
    watch = quick_retrying_watch(server.url)
    try:
        thread, result = pair_in_thread(watch, live_pairing)
        thread.join(20)
        assert live_pairing.authenticate(result.get("token")) == WATCH_USER, result
        assert flaky.failed == 2
    finally:
        server.stop()
        watch.close()


def test_a_server_lost_while_waiting_for_the_token_is_reported_when_the_code_expires(
    live_app: Flask,
) -> None:
    coach = services_of(live_app).coach
    short_lived = PairingService(coach.store, coach.clock, interval_s=1, lifetime_s=2)
    put_services(live_app.extensions, replace(services_of(live_app), pairing=short_lived))
    server = LoopbackServer(live_app).start()
    watch = quick_retrying_watch(server.url)
    try:
        with pytest.raises(ServerUnreachable, match=r"expired while .* could not be reached"):
            watch.pair(lambda prompt: server.stop())  # nobody says the code; the server goes
    finally:
        server.stop()
        watch.close()


def test_the_cli_says_plainly_that_it_cannot_reach_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "Watch", functools.partial(Watch, retry_s=0.01, pair_attempts=2))
    url = f"http://127.0.0.1:{free_port()}"
    out = io.StringIO()
    argv = ["--server", url, "--token-file", str(tmp_path / "token")]
    assert cli.main(argv, out=out) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        f"sciatica-watch: could not start pairing at {url}/ after 2 tries: "
        "could not connect (is the server running, and is the URL right?)"
    )
    assert "Traceback" not in err


def test_the_cli_says_plainly_that_an_action_could_not_be_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("a-saved-token", "utf-8")
    url = f"http://127.0.0.1:{free_port()}"
    argv = ["--server", url, "--token-file", str(token), "--action", "next"]
    assert cli.main(argv, out=io.StringIO()) == 1
    assert capsys.readouterr().err.startswith(f"sciatica-watch: {url}: could not connect")
    assert token.read_text("utf-8") == "a-saved-token"  # nothing was learned; keep it


def test_unpairing_while_the_server_is_down_keeps_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("a-saved-token", "utf-8")
    argv = ["--server", f"http://127.0.0.1:{free_port()}", "--token-file", str(token), "--unpair"]
    assert cli.main(argv, out=io.StringIO()) == 1
    assert "could not connect" in capsys.readouterr().err
    assert token.exists()


def test_the_backoff_doubles_and_stops_at_its_cap() -> None:
    assert [backoff_s(n, 2.0, 30.0) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]


def test_the_watch_keeps_to_the_documented_contract() -> None:
    """The reference watch keeps its own copy of what the API fixes; the server's must match."""

    assert watch_client.DEVICE_CODE_GRANT == DEVICE_CODE_GRANT
    assert watch_client.SLOW_DOWN_STEP_S == SLOW_DOWN_STEP_S
    assert tuple(action.value for action in WatchAction) == watch_client.ACTIONS


def test_the_watch_imports_nothing_of_the_server() -> None:
    """The client stands on the documented contract alone, so a watch maker can copy it."""
    client = REPO / "wearable" / "client"
    for path in client.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                assert not module.startswith(("shared", "skill", "sciatica_coach", "..")), path
                assert not module.startswith("wearable.api"), path
