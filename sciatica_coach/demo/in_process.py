"""A local, time-compressed run of the whole routine: what the speaker says, when the wrist buzzes.

The demo plays both parts through ports, so the same loop can drive the core directly
(here) or the real skill and watch endpoints: a Voice turns a user's words into a
spoken reply, a Watch reports the cues it has scheduled.
"""

from __future__ import annotations

import math
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

from shared.clock import Clock, ManualClock, ScaledClock
from shared.routine.coach import Coach
from shared.routine.cues import Cue, CueKind
from shared.routine.definition import load_routine
from shared.routine.engine import Event, RoutineEngine
from shared.stores.sqlite import SQLiteStore
from shared.timing import SpeechTimingModel
from skill import speech
from skill.narration import Narrator

DEMO_USER = "demo-user"
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class Reply:
    """What the speaker said: its text in timed segments, and when a spoken hold ends."""

    said_at: float
    segments: tuple[tuple[float, str], ...]
    hold_spoken_end: float | None
    finished: bool


class Voice(Protocol):
    """The speaker's side: send a user's request, get what Alexa would say."""

    def send(self, event: Event) -> Reply: ...


class Watch(Protocol):
    """The wrist's side: the cues it has scheduled to buzz, as of now."""

    def scheduled_cues(self) -> list[Cue]: ...


class Pacer(Protocol):
    """Lets routine time pass: really (scaled) in a demo, instantly in tests."""

    clock: Clock

    def wait_until(self, when: float) -> None: ...


class CoreVoice:
    """A voice that speaks through the core and the skill's own narration, without Alexa."""

    def __init__(self, coach: Coach, user_id: str = DEMO_USER) -> None:
        self.coach = coach
        self.narrator = Narrator(coach)
        self.user_id = user_id

    def send(self, event: Event) -> Reply:
        now = self.coach.clock.now()
        intro = self.coach.routine.safety_note if event is Event.START else ""
        narration = self.narrator.apply(self.user_id, event, intro)
        words = narration.words
        if words is None:
            return Reply(now, ((now, speech.say("routine_done")),), None, True)
        lead_end = now + self.narrator.voices.timing_for(self.user_id).estimate(words.lead_in)
        hold = narration.view.hold
        spoken_end = lead_end + hold.remaining if hold else None
        segments = ((now, words.lead_in), (spoken_end or lead_end, words.after))
        return Reply(now, segments, spoken_end, words.ends_session)


class CoreWatch:
    """A watch that reads the core's cue schedule directly."""

    def __init__(self, coach: Coach, user_id: str = DEMO_USER) -> None:
        self.coach = coach
        self.user_id = user_id

    def scheduled_cues(self) -> list[Cue]:
        return list(self.coach.view(self.user_id).cues)


@dataclass
class ScaledPacer:
    """Really waits, `speed` times faster than routine time."""

    clock: ScaledClock

    def wait_until(self, when: float) -> None:
        delay = self.clock.real_seconds(when - self.clock.now())
        if delay > 0:
            time.sleep(delay)


@dataclass
class InstantPacer:
    """Jumps a manual clock forward: the whole routine in milliseconds."""

    clock: ManualClock

    def wait_until(self, when: float) -> None:
        if when > self.clock.now():
            self.clock.set(when)


@dataclass
class Alignment:
    """How one hold-end buzz lined up with the spoken 'time's up'."""

    step_index: int
    spoken_at: float
    buzzed_at: float

    @property
    def error_ms(self) -> float:
        return (self.buzzed_at - self.spoken_at) * 1000.0


@dataclass
class DemoResult:
    """What a demo run produced, for the summary table and for tests."""

    lines: list[tuple[float, str]] = field(default_factory=list)
    buzzes: list[tuple[float, Cue]] = field(default_factory=list)
    alignments: list[Alignment] = field(default_factory=list)


def play(voice: Voice, watch: Watch, pacer: Pacer, out: TextIO, think_s: float = 2.0) -> DemoResult:
    """Say start, then next after each step, firing buzzes in between, until the routine ends."""
    result = DemoResult()
    origin = pacer.clock.now()

    def stamp(when: float) -> str:
        return f"[{when - origin:7.2f}s]"

    event = Event.START
    while True:
        reply = voice.send(event)
        timeline: list[tuple[float, int, object]] = [
            (at, 0, text) for at, text in reply.segments
        ] + [(cue.at, 1, cue) for cue in watch.scheduled_cues()]
        for at, _, item in sorted(timeline, key=lambda entry: (entry[0], entry[1])):
            pacer.wait_until(at)
            fired = pacer.clock.now()
            if isinstance(item, Cue):
                result.buzzes.append((fired, item))
                print(f"{stamp(fired)} wrist    buzz: {item.kind.value}", file=out, flush=True)
                if item.kind is CueKind.HOLD_END and reply.hold_spoken_end is not None:
                    result.alignments.append(
                        Alignment(item.step_index, reply.hold_spoken_end, fired)
                    )
            else:
                text = " ".join(_TAG.sub(" ", str(item)).split())
                result.lines.append((at, text))
                print(f"{stamp(at)} speaker  {text}", file=out, flush=True)
        if reply.finished:
            break
        pacer.wait_until(max(at for at, _, _ in timeline) + think_s)
        event = Event.NEXT
    _print_alignment(result, out)
    return result


def _print_alignment(result: DemoResult, out: TextIO) -> None:
    print("\nhold end: spoken 'time's up' vs wrist buzz", file=out)
    print(f"{'step':>4}  {'error (ms)':>10}", file=out)
    for row in result.alignments:
        print(f"{row.step_index + 1:>4}  {row.error_ms:>10.1f}", file=out)
    if result.alignments:
        errors = [abs(row.error_ms) for row in result.alignments]
        print(
            f"median |error| {statistics.median(errors):.1f} ms, max {max(errors):.1f} ms",
            file=out,
        )


def run_local_demo(speed: float = 20.0, out: TextIO | None = None, db: Path | None = None) -> int:
    """`sciatica-coach demo --in-process`: the core, the skill's words and a watch, one process."""
    if not math.isfinite(speed) or speed <= 0:
        raise ValueError(f"speed must be a finite number above 0, not {speed!r}")
    out = out or sys.stdout
    clock = ScaledClock(speed)
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(db or Path(tmp) / "demo.sqlite3")
        coach = Coach(store, RoutineEngine(load_routine(), SpeechTimingModel()), clock)
        print(f"Sciatica Coach demo at {speed:g}x speed\n", file=out)
        play(CoreVoice(coach), CoreWatch(coach), ScaledPacer(clock), out)
        store.close()
    return 0
