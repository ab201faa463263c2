"""How far each hold's buzzes land from the voice, measured on real speech audio.

Run from the repository root (needs Debian's espeak-ng):

    python -m bench.bench_sync

The real skill (create_app, SQLite in a temporary folder, a hand-driven clock) is talked
through a whole routine by a simulated speaker: start, then next after every step, with one
hold paused and resumed and one question ("how long is left?") mid-hold, whose answer has
to carry the rest of that hold. Every reply with a hold in it is read aloud by espeak-ng
(bench/espeak.py) and the audio is searched for where the words before the hold end and
where "Time's up" begins; the buzzes are the hold's start and end as the watch is told them.
The error of a buzz is (the reply's time + where the audio says it) - the buzz's time.

Three voices, each timed three ways:

- `default`: the word-count model every deployment starts with (160 wpm);
- `calibrated`: that voice's profile, learned as a person's watch learns it: the skill is
  asked to tune, reads the calibration script part by part, espeak-ng reads each reply on
  its own, and what was heard goes through Tuning.finish (shared/timing/tuning.py);
- `calibrated, one stretch`: the same profile, with the short breaks between the pieces
  before a hold taken out, to show what splitting the lead-in into measured pieces buys.

Then hands-free: one "start", and the reply says step after step by itself; espeak-ng reads
the reply and, after Alexa's listening window, its reprompt, and every hold of the routine
is matched with the buzzes the watch was told in that one poll.

Nothing here compares an estimate with itself: every figure is audio against a buzz.
"""

from __future__ import annotations

import itertools
import logging
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.espeak import VOICES, Voice, available, heard, hold_in, speak
from bench.support import machine, percentile
from sciatica_coach import create_app
from sciatica_coach.app import coach_of, services_of
from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator
from sciatica_coach.recording import sounds_in
from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.cues import CueKind
from shared.timing import VoiceProfile
from shared.timing.tuning import Tuning
from skill import speech
from skill.hands_free import LISTEN_S

SKILL_ID = "amzn1.ask.skill.bench-sync"
USER = "amzn1.ask.account.BENCH-SYNC"
START = 1_780_000_000.0
#: After a hold ends, the user takes this long to say "next" (the clock is moved by hand).
BETWEEN_STEPS_S = 8.0
#: A silence this long in a hands-free reply is a hold: the quiet to settle between steps is
#: a few seconds, a hold at least fifteen.
HOLD_SILENCE_S = 10.0


@dataclass(frozen=True, slots=True)
class Miss:
    """One buzz against the voice: which hold, which edge, and by how much (+ = buzz early)."""

    turn: str
    edge: str
    seconds: float


def measure(profile: VoiceProfile | None, voice: Voice, one_stretch: bool) -> list[Miss]:
    """Every hold of one whole routine, as `voice` says it, timed by `profile` (None: default)."""
    with _skill(profile) as (speaker, clock, coach, _), _pieces_joined(one_stretch):
        misses: list[Miss] = []

        def said(turn_name: str, intent: str, start_too: bool = True) -> None:
            at = clock.now()
            turn = speaker.says(intent)
            hold = coach.view(USER).hold
            assert hold is not None, f"{turn_name}: no hold"
            before, after = hold_in(turn.ssml, voice)
            if start_too:
                misses.append(Miss(turn_name, "start", at + before - hold.start))
            misses.append(Miss(turn_name, "end", at + after - hold.end))
            clock.set(hold.end + BETWEEN_STEPS_S)

        def into_hold(intent: str, seconds: float) -> None:
            speaker.says(intent)
            hold = coach.view(USER).hold
            assert hold is not None
            clock.set(hold.start + seconds)

        speaker.launch()
        said("step 1 (with the safety note)", "StartRoutineIntent")
        said("step 2", "AMAZON.NextIntent")
        speaker.says("AMAZON.NextIntent")  # step 3 has no hold
        clock.advance(20)
        # Step 4: paused 12 s into its hold, resumed half a minute later.
        into_hold("AMAZON.NextIntent", 12)
        speaker.says("AMAZON.PauseIntent")
        clock.advance(30)
        said("step 4 resumed", "AMAZON.ResumeIntent")
        # Step 5: "how long is left?" 9 s into the hold.
        into_hold("AMAZON.NextIntent", 9)
        said("step 5 time left", "TimeLeftIntent", start_too=False)
        return misses


def measure_hands_free(profile: VoiceProfile | None, voice: Voice) -> list[Miss]:
    """A whole hands-free routine from one "start": every hold of the reply and its reprompt.

    espeak-ng reads the reply, then (after Alexa's listening window) the reprompt, as a
    speaker plays them; the holds are the long silences (a step's settle time is far
    shorter than any hold), matched in order with the holds the watch was told.
    """
    with _skill(profile) as (speaker, clock, coach, _):
        coach.change_settings(USER, flow="hands_free")
        speaker.launch()
        at = clock.now()
        turn = speaker.says("StartRoutineIntent")
        cues = coach.view(USER).cues
        starts = [c for c in cues if c.kind is CueKind.HOLD_START]
        ends = [c for c in cues if c.kind is CueKind.HOLD_END]
        heard_holds: list[tuple[float, float]] = []
        part_at = at
        for part in (turn.ssml, turn.reprompt):
            if part is None:
                break
            sounds = heard(part, voice)
            for before, after in _silences(sounds, longer_than=HOLD_SILENCE_S):
                heard_holds.append((part_at + before, part_at + after))
            part_at += sounds[-1][1] + LISTEN_S
        if len(heard_holds) != len(starts):
            raise RuntimeError(f"heard {len(heard_holds)} holds, told the watch {len(starts)}")
        misses = []
        for number, ((before, after), start, end) in enumerate(
            zip(heard_holds, starts, ends, strict=True), 1
        ):
            misses.append(Miss(f"hold {number}", "start", before - start.at))
            misses.append(Miss(f"hold {number}", "end", after - end.at))
        return misses


def _silences(sounds: list[tuple[float, float]], longer_than: float) -> list[tuple[float, float]]:
    """(end of the sound before, start of the sound after) of every silence this long."""
    return [(a[1], b[0]) for a, b in itertools.pairwise(sounds) if b[0] - a[1] > longer_than]


def calibrate(voice: Voice) -> VoiceProfile:
    """What tuning by the watch learns from `voice`: the skill reads the script part by part.

    The real skill is asked "tune my watch", then "next" until every part has been read;
    each reply is read aloud on its own (as a speaker plays each response), and what was
    heard goes to the same fit the watch's timings go to, on the server's clock.
    """
    with _skill(None) as (speaker, clock, _, tuning), tempfile.TemporaryDirectory() as tmp:
        tuning.listen(USER, clock.now())
        speaker.launch()
        speaker.says("TuneWatchIntent")  # the introduction, heard before any part
        heard: list[tuple[float, float]] = []
        for k in range(100):
            clock.advance(BETWEEN_STEPS_S)
            at = clock.now()
            turn = speaker.says("AMAZON.NextIntent")
            wav = speak(turn.ssml, voice, Path(tmp) / f"part{k}.wav")
            sounds = sounds_in(wav)
            heard += [(at + start, at + end) for start, end in sounds]
            clock.set(at + sounds[-1][1])
            if turn.ends_session:
                break
        clock.advance(BETWEEN_STEPS_S)
        return tuning.finish(USER, heard, clock.now())


@contextmanager
def _skill(
    profile: VoiceProfile | None,
) -> Iterator[tuple[AlexaSimulator, ManualClock, Coach, Tuning]]:
    clock = ManualClock(START)
    with tempfile.TemporaryDirectory() as tmp:
        config = {
            "DATABASE": str(Path(tmp) / "bench.sqlite3"),
            "CLOCK": clock,
            "SKILL_ID": SKILL_ID,
            "DEV_SKIP_VERIFY": True,
            # espeak-ng's file starts at once; a profile measured its own start (0 s).
            "VOICE_START_DELAY_S": 0.0,
        }
        app = create_app(config)
        coach = coach_of(app)
        if profile is not None:
            services_of(app).voices.default = profile
        client = app.test_client()

        def post(body: bytes, headers: object) -> tuple[int, object]:
            response = client.post("/alexa", data=body, headers=dict(headers))  # type: ignore[call-overload]
            return response.status_code, response.get_json(silent=True)

        ca = DemoCA.generate(now=datetime.fromtimestamp(START, UTC))
        speaker = AlexaSimulator(post, ca, SKILL_ID, clock.now, user_id=USER)
        try:
            yield speaker, clock, coach, services_of(app).tuning
        finally:
            coach.store.close()


@contextmanager
def _pieces_joined(joined: bool) -> Iterator[None]:
    """With `joined`, the pieces before a hold are one stretch (no breaks between them)."""
    kept = speech.PIECE_BREAK
    if joined:
        speech.PIECE_BREAK = " "
    try:
        yield
    finally:
        speech.PIECE_BREAK = kept


def summary(misses: list[Miss]) -> str:
    errors = [abs(m.seconds) for m in misses]
    return (
        f"median {statistics.median(errors) * 1000:6.0f} ms   "
        f"p95 {percentile(errors, 0.95) * 1000:6.0f} ms   max {max(errors) * 1000:6.0f} ms"
    )


def main() -> int:
    if not available():
        print("needs espeak-ng (apt install espeak-ng)", file=sys.stderr)
        return 2
    # The in-process skill skips request verification (nothing here is Alexa's) and warns
    # on every request that it does; the figures are what this bench is for.
    logging.disable(logging.WARNING)
    print(f"bench_sync: |buzz - voice| per hold edge, espeak-ng audio; {machine()}")
    rows = []
    profiles = []
    for voice in VOICES:
        profile = calibrate(voice)
        profiles.append((voice, profile))
        for label, timing, joined in (
            ("default", None, False),
            ("calibrated", profile, False),
            ("calibrated, one stretch", profile, True),
        ):
            misses = measure(timing, voice, joined)
            rows.append((voice, label, misses))
            print(f"{voice!s:22} {label:24} n={len(misses):2}  {summary(misses)}")
    print()
    print("per hold edge (ms, + = buzz before the voice):")
    for voice, label, misses in rows:
        cells = "  ".join(f"{m.turn} {m.edge} {m.seconds * 1000:+.0f}" for m in misses)
        print(f"  {voice!s:22} {label:24} {cells}")
    calibrated = [m for _, label, ms in rows if label == "calibrated" for m in ms]
    print()
    print(f"all voices, calibrated: {summary(calibrated)}")
    print()
    print("hands-free: one 'start', the reply and its reprompt (Alexa's listening between):")
    hands_free = []
    for voice, profile in profiles:
        for label, timing in (("default", None), ("calibrated", profile)):
            misses = measure_hands_free(timing, voice)
            if label == "calibrated":
                hands_free += misses
            print(f"{voice!s:22} {label:24} n={len(misses):2}  {summary(misses)}")
            cells = "  ".join(f"{m.turn} {m.edge} {m.seconds * 1000:+.0f}" for m in misses)
            print(f"  {cells}")
    print()
    print(f"all voices, calibrated, hands-free: {summary(hands_free)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
