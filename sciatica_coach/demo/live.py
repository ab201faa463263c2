"""`sciatica-coach demo`: the real server on loopback, a signed speaker, and the reference watch.

Nothing is faked past the network: the server verifies every Alexa request against a demo
CA made at start (its chain sits in the cert cache, as on an air-gapped host), the watch
pairs by a spoken code and long-polls, and time runs `speed` times faster in every
process through one shared, anchored clock. It needs no Alexa account and no watch.
"""

from __future__ import annotations

import math
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import requests

from shared.clock import ScaledClock
from shared.routine.cues import CueKind
from shared.timing import SpeechTimingModel, break_seconds
from wearable.client.buzz_scheduler import Buzz
from wearable.client.watch_client import PairingPrompt, Watch, WatchCue

from .demo_ca import DemoCA
from .simulator import AlexaSimulator, Transport, Turn
from .timeline import Buzz as TimelineBuzz
from .timeline import Spoken, Timeline, write_svg

DEMO_SKILL_ID = "amzn1.ask.skill.sciatica-coach-demo"
_BREAK = re.compile(r"<break\b([^>]*)/>")
_BREAK_RUN = re.compile(r"(?:<break\b[^>]*/>\s*)+")
#: A run of breaks this long is a hold; the breaks between the pieces before one are short.
MIN_HOLD_S = 1.0
_ATTR = re.compile(r'([a-zA-Z-]+)\s*=\s*"([^"]*)"')
_TAG = re.compile(r"<[^>]+>")
#: Seconds of routine time the person takes before saying "next".
THINK_S = 2.0
#: Alexa's listening window after a reply, before it plays the reprompt by itself.
LISTEN_S = 8.0
#: How the person asks, once, for the voice to carry on by itself.
HANDS_FREE_WORDS = "to carry on by yourself"
HANDS_FREE_INTENT = "HandsFreeIntent"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment(
    settings: Mapping[str, str], inherited: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The server's environment: the caller's without any SCIATICA_* setting, plus the demo's.

    A machine set up to run the product (SCIATICA_REDIS_URL, SCIATICA_DEV_SKIP_VERIFY=1, its
    own routine or speaking rate) must not reach the demo: it would write into that Redis,
    turn verification off, or time the holds differently from what the demo prints.
    """
    inherited = os.environ if inherited is None else inherited
    environ = {name: value for name, value in inherited.items() if not name.startswith("SCIATICA_")}
    environ.update(settings)
    return environ


def demo_settings(directory: Path, ca: DemoCA, clock: ScaledClock) -> dict[str, str]:
    """The demo server's whole configuration: a fresh file, the demo CA, the shared clock."""
    cache = directory / "alexa-certs"
    ca.install_chain(cache)
    return {
        "SCIATICA_DB": str(directory / "demo.sqlite3"),
        "SCIATICA_SKILL_ID": DEMO_SKILL_ID,
        "SCIATICA_ALEXA_CA_FILE": str(ca.write_root(directory / "demo-root.pem")),
        "SCIATICA_ALEXA_CERT_CACHE": str(cache),
        "SCIATICA_CLOCK_SPEED": str(clock.speed),
        "SCIATICA_CLOCK_ANCHOR": repr(clock.anchor),
        # The speaker below starts each reply the moment it arrives.
        "SCIATICA_VOICE_START_DELAY_S": "0",
    }


@contextmanager
def running_server(settings: Mapping[str, str], port: int, log_path: Path) -> Iterator[str]:
    """Start `sciatica-coach serve` on loopback with only `settings`, stop it gracefully after."""
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "sciatica_coach.cli", "serve", "--host", "127.0.0.1"]
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*command, "--port", str(port)],
            env=server_environment(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(url, server)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=40)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    # A worker still importing the app on a busy machine answers late, not never: each probe
    # waits as long as the boot may still take.
    while (left := deadline - time.monotonic()) > 0:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited early with code {server.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=left).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not become healthy in time")


def http_transport(url: str, session: requests.Session) -> Transport:
    def post(body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        response = session.post(f"{url}/alexa", data=body, headers=dict(headers), timeout=10)
        return response.status_code, response.json()

    return post


@dataclass(frozen=True, slots=True)
class SpokenTurn:
    """When each part of a reply is heard, worked out from its SSML as a speaker plays it."""

    at: float
    lead_in: str
    lead_in_end: float
    hold_s: float
    after: str
    after_end: float
    ends_session: bool
    #: How long the request took to answer: the server timed the hold from the request, the
    #: speaker talks once it has the reply, so this much of any error is the HTTP exchange.
    reply_s: float = 0.0

    @property
    def hold_end(self) -> float:
        return self.lead_in_end + self.hold_s


def spoken_turn(
    turn: Turn, at: float, timing: SpeechTimingModel, reply_s: float = 0.0
) -> SpokenTurn:
    """Split a reply at its hold (its longest run of breaks): words, the hold, the spoken end.

    The short breaks between the pieces before a hold are part of the words.
    """
    ssml = turn.ssml.removeprefix("<speak>").removesuffix("</speak>")
    runs = list(_BREAK_RUN.finditer(ssml))
    held = max(runs, key=_run_seconds, default=None)
    if held is None or _run_seconds(held) < MIN_HOLD_S:
        end = at + timing.estimate(ssml)
        return SpokenTurn(at, _plain(ssml), end, 0.0, "", end, turn.ends_session, reply_s)
    lead_in = ssml[: held.start()]
    after = ssml[held.end() :]
    hold = _run_seconds(held)
    lead_end = at + timing.estimate(f"<speak>{lead_in}</speak>")
    after_end = lead_end + hold + timing.estimate(after)
    return SpokenTurn(
        at, _plain(lead_in), lead_end, hold, _plain(after), after_end, turn.ends_session, reply_s
    )


def spoken_steps(ssml: str, at: float, timing: SpeechTimingModel) -> list[SpokenTurn]:
    """A reply that says several steps in a row (hands-free), split into its steps.

    A run of breaks followed by the words that end a hold ("Time's up") is a hold; any
    other long run is the quiet between two steps, to get into the next position.
    """
    body = ssml.removeprefix("<speak>").removesuffix("</speak>")
    quiets = [
        run
        for run in _BREAK_RUN.finditer(body)
        if _run_seconds(run) >= MIN_HOLD_S and not _plain(body[run.end() :]).startswith(_TIME_UP)
    ]
    bounds = [0, *(edge for run in quiets for edge in (run.start(), run.end())), len(body)]
    steps = []
    for start, stop in zip(bounds[::2], bounds[1::2], strict=True):
        begins = at + timing.estimate(f"<speak>{body[:start]}</speak>") if start else at
        step = spoken_turn(Turn(200, _said(body[start:stop]), {}), begins, timing)
        steps.append(step)
    return steps


def _said(body: str) -> dict[str, Any]:
    """A reply body that says `body`, for spoken_turn to split."""
    return {"response": {"outputSpeech": {"ssml": f"<speak>{body}</speak>"}}}


_TIME_UP = "Time's up"


def _run_seconds(run: re.Match[str]) -> float:
    return sum(break_seconds(dict(_ATTR.findall(b.group(1)))) for b in _BREAK.finditer(run[0]))


def _plain(ssml: str) -> str:
    return " ".join(_TAG.sub(" ", ssml).split())


@dataclass
class Session:
    """Everything the demo saw, for the table and the picture."""

    turns: list[SpokenTurn] = field(default_factory=list)
    buzzes: list[tuple[float, WatchCue]] = field(default_factory=list)


@dataclass
class Stage:
    """Who takes part in one demo (speaker, watch) and what they share (clock, console)."""

    speaker: AlexaSimulator
    watch: Watch
    stop: threading.Event
    clock: ScaledClock
    timing: SpeechTimingModel
    console: Console
    session: Session


class Console:
    """Timestamped, thread-safe printing; a live countdown where the terminal allows it."""

    def __init__(self, out: TextIO, clock: ScaledClock) -> None:
        self.out = out
        self.clock = clock
        #: Times print from the person's first words, not from the server's start-up.
        self.origin: float | None = None
        self.lock = threading.Lock()
        self.live = out.isatty()

    def say(self, who: str, text: str, at: float | None = None) -> None:
        when = self.clock.now() if at is None else at
        with self.lock:
            if self.origin is None:
                self.origin = when
            if self.live:
                self.out.write("\r\033[K")
            self.out.write(f"[{when - self.origin:7.2f}s] {who:<8} {text}\n")
            self.out.flush()

    def countdown(self, until: float, label: str) -> None:
        """Wait (really, scaled) until `until`, showing the seconds left when on a terminal."""
        while (left := until - self.clock.now()) > 0:
            if self.live:
                with self.lock:
                    self.out.write(f"\r\033[K          {label}: {left:4.0f} s left")
                    self.out.flush()
            time.sleep(min(self.clock.real_seconds(left), 0.1))
        if self.live:
            with self.lock:
                self.out.write("\r\033[K")


def run_live_demo(
    speed: float = 20.0,
    out: TextIO = sys.stdout,
    picture: Path | None = None,
    hands_free: bool = False,
) -> int:
    """Play the whole routine against a real server; prints as it goes, writes the SVG.

    `hands_free`: the person asks once for the voice to carry on by itself, says "start",
    and nothing more until the routine is done.
    """
    if not math.isfinite(speed) or speed <= 0:
        raise ValueError(f"speed must be a finite number above 0, not {speed!r}")
    picture = picture or Path("sciatica-session.svg")
    clock = ScaledClock(speed)
    timing = SpeechTimingModel(start_delay_s=0.0)
    console = Console(out, clock)
    session = Session()
    with tempfile.TemporaryDirectory(prefix="sciatica-demo-") as tmp_name:
        tmp = Path(tmp_name)
        ca = DemoCA.generate(now=datetime.now(UTC))
        settings = demo_settings(tmp, ca, clock)
        print(f"Sciatica Coach live demo at {speed:g}x: server, speaker and watch", file=out)
        with running_server(settings, free_port(), tmp / "server.log") as url:
            print(f"server up at {url} (verification on, demo CA)\n", file=out)
            http = requests.Session()
            speaker = AlexaSimulator(http_transport(url, http), ca, DEMO_SKILL_ID, clock.now)
            watch = _watch(url, clock, console, session)
            stop = threading.Event()
            try:
                play = _play_hands_free if hands_free else _play
                play(Stage(speaker, watch, stop, clock, timing, console, session))
                console.countdown(clock.now() + 1.0, "finishing")
            finally:
                stop.set()
                watch.close()
                http.close()
    _print_alignment(session, out, console.origin or 0.0, speed)
    write_svg(_timeline(session), picture)
    print(f"\ntimeline written to {picture}", file=out)
    return 0


def _watch(url: str, clock: ScaledClock, console: Console, session: Session) -> Watch:
    """The reference watch, printing each buzz at the server time it fired."""

    def buzzed(buzz: Buzz[WatchCue]) -> None:
        at = watch.server_time(buzz.fired)
        session.buzzes.append((at, buzz.cue))
        console.say("wrist", f"bzz {buzz.cue.kind}", at)

    watch = Watch(url, clock=clock.now, time_scale=clock.speed, on_buzz=buzzed, long_poll_s=20)
    return watch


def _pair(stage: Stage) -> None:
    """The watch shows a code and the person says it in one go, as they would to set it up.

    The watch asks for its token every few seconds while the speaker confirms, so the
    pairing costs no more routine time than the confirmation takes to say.
    """
    shown: list[PairingPrompt] = []
    ready = threading.Event()

    def show(prompt: PairingPrompt) -> None:
        shown.append(prompt)
        ready.set()

    pairing = threading.Thread(target=stage.watch.pair, args=(show, stage.stop), daemon=True)
    pairing.start()
    if not ready.wait(10):
        raise RuntimeError("the stage.watch got no pairing code")
    code = " ".join(shown[0].user_code)
    stage.console.say("watch", shown[0].prompt)
    stage.console.say("person", f"Alexa, ask sciatica coach to pair code {code}")
    turn = stage.speaker.says("PairWatchIntent", code=shown[0].user_code)
    if turn.status != 200:
        raise RuntimeError(f"the skill refused the pairing: {turn.body}")
    heard = spoken_turn(turn, stage.clock.now(), stage.timing)
    stage.console.say("speaker", heard.lead_in, heard.at)
    stage.console.countdown(heard.lead_in_end, "speaking")
    pairing.join(timeout=30)
    if stage.watch.token is None:
        raise RuntimeError("the stage.watch did not get its token")
    stage.console.say("watch", "paired; waiting for cues")
    threading.Thread(target=stage.watch.run, args=(stage.stop,), daemon=True).start()


def _play(stage: Stage) -> None:
    """Pair the watch by voice, say yes to the offer, then 'next' after every step until done.

    A new user hears the safety note before the first step either way; pairing first spares
    the welcome a launch would speak, which the demo would otherwise wait through.
    """
    _pair(stage)
    request = ("AMAZON.YesIntent", "yes")
    while True:
        stage.console.say("person", request[1])
        asked = stage.clock.now()
        turn = stage.speaker.says(request[0])
        if turn.status != 200:
            raise RuntimeError(f"the skill refused a request: {turn.body}")
        answered = stage.clock.now()  # the stage.speaker talks once it has the reply
        heard = spoken_turn(turn, answered, stage.timing, reply_s=answered - asked)
        stage.session.turns.append(heard)
        stage.console.say("speaker", heard.lead_in, heard.at)
        if heard.hold_s:
            stage.console.countdown(heard.hold_end, "hold")
            stage.console.say("speaker", heard.after, heard.hold_end)
        stage.console.countdown(heard.after_end, "speaking")
        if heard.ends_session:
            return
        stage.console.countdown(stage.clock.now() + THINK_S, "resting")
        request = ("AMAZON.NextIntent", "next")


def _play_hands_free(stage: Stage) -> None:
    """Pair, ask once for the voice to carry on by itself, say start: then only listen.

    The speaker plays each reply, then (after Alexa's listening window, in which the person
    says nothing) its reprompt, which carries the routine on; when both are done and the
    person still says nothing, Alexa ends the session.
    """
    _pair(stage)
    stage.console.say("person", f"Alexa, tell sciatica coach {HANDS_FREE_WORDS}")
    chosen = stage.speaker.says(HANDS_FREE_INTENT)
    if chosen.status != 200:
        raise RuntimeError(f"the skill refused the hands-free setting: {chosen.body}")
    heard = spoken_turn(chosen, stage.clock.now(), stage.timing)
    stage.console.say("speaker", heard.lead_in, heard.at)
    stage.console.countdown(heard.after_end, "speaking")
    stage.console.say("person", "Alexa, ask sciatica coach to start my routine")
    asked = stage.clock.now()
    turn = stage.speaker.says("StartRoutineIntent")
    if turn.status != 200:
        raise RuntimeError(f"the skill refused a request: {turn.body}")
    at = stage.clock.now()
    reply_s = at - asked
    parts = [turn.ssml, *([turn.reprompt] if turn.reprompt else [])]
    for number, part in enumerate(parts):
        if number:
            stage.console.say("speaker", "(listening; the person says nothing)", at)
            at += LISTEN_S
            stage.console.countdown(at, "listening")
        for step in spoken_steps(part, at, stage.timing):
            step = replace(step, reply_s=reply_s)
            stage.session.turns.append(step)
            stage.console.countdown(step.at, "quiet")
            stage.console.say("speaker", step.lead_in, step.at)
            if step.hold_s:
                stage.console.countdown(step.hold_end, "hold")
                stage.console.say("speaker", step.after, step.hold_end)
        at += stage.timing.estimate(part)
        stage.console.countdown(at, "speaking")
    if not turn.ends_session:
        stage.console.countdown(stage.clock.now() + LISTEN_S, "listening")
        stage.speaker.session_ends("EXCEEDED_MAX_REPROMPTS")


def _print_alignment(session: Session, out: TextIO, origin: float, speed: float) -> None:
    """Times count from the same origin as the lines printed above, so they can be matched.

    Errors are in routine time, as the times are; the summary also gives them in real time,
    which is what the network and the watch's scheduler are answerable for.
    """
    ends = [(t.hold_end, t) for t in session.turns if t.hold_s]
    buzzes = [at for at, cue in session.buzzes if cue.kind == CueKind.HOLD_END]
    print("\nhold end: spoken 'time's up' vs wrist buzz", file=out)
    columns = ("spoken (s)", "buzz (s)", "error (ms)", "reply (ms)")
    print(f"{'hold':>4}" + "".join(f"  {name:>10}" for name in columns), file=out)
    errors = []
    for number, ((spoken_at, turn), buzz_at) in enumerate(zip(ends, buzzes, strict=False), 1):
        error = (buzz_at - spoken_at) * 1000
        errors.append(abs(error))
        print(
            f"{number:>4}  {spoken_at - origin:>10.2f}  {buzz_at - origin:>10.2f}  {error:>10.1f}"
            f"  {turn.reply_s * 1000:>10.1f}",
            file=out,
        )
    if len(buzzes) != len(ends):
        print(f"(expected {len(ends)} hold-end buzzes, the watch fired {len(buzzes)})", file=out)
    if errors:
        median, worst = statistics.median(errors), max(errors)
        print(
            f"median |error| {median:.1f} ms, max {worst:.1f} ms of routine time "
            f"({median / speed:.1f} ms and {worst / speed:.1f} ms real at {speed:g}x)",
            file=out,
        )


def _timeline(session: Session) -> Timeline:
    timeline = Timeline()
    for turn in session.turns:
        timeline.spoken.append(Spoken(turn.at, turn.lead_in_end, turn.lead_in))
        if turn.hold_s:
            timeline.holds.append((turn.lead_in_end, turn.hold_end))
            timeline.spoken.append(Spoken(turn.hold_end, turn.after_end, turn.after))
    ends = iter(t.hold_end for t in session.turns if t.hold_s)
    for at, cue in session.buzzes:
        kind = CueKind(cue.kind)
        error = (at - next(ends, at)) * 1000 if kind is CueKind.HOLD_END else None
        timeline.buzzes.append(TimelineBuzz(at, kind, error))
    return timeline
