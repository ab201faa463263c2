"""Tuning by the person's own watch, in real headless Chromium with a fake microphone.

The microphone is Chromium's fake capture device, playing a WAV file from the moment the
face opens it: a short beep, then espeak-ng reading each part of the calibration script
exactly as the skill answered it, with the person's "Alexa, next" between the parts. The
skill is asked through signed envelopes ("tune my watch", then "next") at the moments a
speaker would be; the face listens, sends where it heard sound on the server's clock, and
the server fits that user's profile. The beep ties the file's time to the server's, so what
the face measured is held against what sciatica_coach/recording.py finds in the same file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from flask import Flask

from bench.espeak import Voice, speak
from sciatica_coach import create_app
from sciatica_coach.app import services_of
from sciatica_coach.demo.demo_ca import DemoCA
from sciatica_coach.demo.simulator import AlexaSimulator
from sciatica_coach.recording import sounds
from shared.pairing.service import PairingService
from shared.services import put_services
from shared.timing import VoiceProfile
from shared.timing.fit import Take, fit_takes
from shared.timing.script import CalibrationScript, Section
from shared.timing.tuning import Tuning
from skill import speech
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, page_script, pair_face, require_browser
from tests.support.espeak import require_espeak
from tests.support.watch import WATCH_USER, serving

SKILL_ID = "amzn1.ask.skill.web-face-tuning"
#: A short script, so the whole tuning plays in well under a minute of real time.
SCRIPT = CalibrationScript(
    parts=(
        "Let's measure how this speaker talks.",
        "Before we begin, move gently.",
        ("Step 1 of 2: Quick stretch, left side.", "Hold it.", "Starting now."),
        "Time's up. Switch sides.",
        "Picking up your hold with 12 seconds to go.",
        "That's the last line. Thank you.",
    ),
    gaps=(1.5, 2.5, 4.0, 1.5, 2.5),
)
VOICE = Voice("en-us", 175)
#: The person answering between two parts, in another voice.
PERSON = Voice("en-gb", 160)
#: Where the beep is in the file, and where the speaker starts on its first reply.
BEEP_AT_S, BEEP_S = 0.6, 0.3
FIRST_REPLY_AT_S = 6.0
ASK_AFTER_BEEP_S = 0.4
#: After a part's closing words: the person says "next" this much later, the skill is
#: asked once they are done, and the speaker reads the next part from NEXT_PART_AFTER_S.
PERSON_AFTER_S, ASK_AFTER_S, NEXT_PART_AFTER_S = 1.0, 2.6, 5.0
#: Silence at the end: the face waits for 2 s of it before it sends.
TAIL_S = 8.0
PAGE_FAST_BY_MS = 7_000
#: The face's onsets against recording.py's on the same audio. Both apply one rule, but
#: Chromium resamples the file and frames it afresh, so a soft first sound that sits at the
#: threshold (the hiss of "Step") can be cut a few frames apart: ~45 ms seen, 3 ms typical.
PART_TOLERANCE_S = 0.06
DELAY_TOLERANCE_S = 0.06


@dataclass(frozen=True)
class Recording:
    """The fake microphone's file, and where (in file seconds) each thing in it begins."""

    wav: Path
    plan: tuple[Section, ...]
    ssml: tuple[str, ...]
    reply_at: tuple[float, ...]
    reply_end: tuple[float, ...]


@pytest.fixture(scope="module")
def tuning_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    tmp = tmp_path_factory.mktemp("face-tuning")
    probe = create_app(
        {"TESTING": True, "DATABASE": str(tmp / "probe.sqlite3"), "DEV_SKIP_VERIFY": True}
    )
    timing_total = services_of(probe).voices.default.estimate(SCRIPT.ssml())
    app = create_app(
        {
            "TESTING": True,
            "DATABASE": str(tmp / "tuning.sqlite3"),
            "DEV_SKIP_VERIFY": True,
            "SKILL_ID": SKILL_ID,
            "CALIBRATION_SCRIPT": SCRIPT,
            # Two parts: the script is read in two turns, as a long one is on a real Echo.
            "TUNING_SECTION_S": timing_total * 0.55,
        }
    )
    coach = services_of(app).coach
    quick_polls = PairingService(coach.store, coach.clock, interval_s=1)
    put_services(app.extensions, replace(services_of(app), pairing=quick_polls))
    yield app
    coach.store.close()


@pytest.fixture(scope="module")
def server_url(tuning_app: Flask) -> Iterator[str]:
    with serving(tuning_app, "tuning-server") as url:
        yield url


@pytest.fixture(scope="module")
def recording(tuning_app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Recording:
    """The file the fake microphone plays: beep, the introduction, then each part of the
    script, with "Alexa, next" after every reply but the last; then quiet."""
    require_espeak()
    tmp = tmp_path_factory.mktemp("face-tuning-audio")
    tuning: Tuning = services_of(tuning_app).tuning
    timing = tuning.voices.timing_for(WATCH_USER)
    plan = SCRIPT.sections(timing.estimate, tuning.section_limit_s)
    assert len(plan) == 2, plan
    intro = speech.wrap(speech.say("tune_intro"), speech.say("tune_first_part"))
    parts = [speech.tuning_part(SCRIPT.body(sec), k + 1, len(plan)) for k, sec in enumerate(plan)]
    ssml = (intro, *parts)
    audio = [_read(speak(doc, VOICE, tmp / f"part{k}.wav")) for k, doc in enumerate(ssml)]
    person = _read(speak("<speak>Alexa, next.</speak>", PERSON, tmp / "person.wav"))
    rate = audio[0][1]
    beep_t = np.arange(round(BEEP_S * rate)) / rate
    beep = 0.3 * np.sin(2 * np.pi * 880 * beep_t)
    lead = FIRST_REPLY_AT_S - BEEP_AT_S - BEEP_S
    track = [*_silence(BEEP_AT_S, rate), beep, *_silence(lead, rate)]
    reply_at, reply_end = [], []
    for k, (samples, _) in enumerate(audio):
        at = sum(len(x) for x in track) / rate
        reply_at.append(at)
        track.append(samples)
        reply_end.append(at + len(samples) / rate)
        if k < len(audio) - 1:
            track += [*_silence(PERSON_AFTER_S, rate), person[0]]
            used = PERSON_AFTER_S + len(person[0]) / rate
            assert used < ASK_AFTER_S, "the person must be done before the skill is asked"
            track += _silence(NEXT_PART_AFTER_S - used, rate)
    track += _silence(TAIL_S, rate)
    wav = tmp / "microphone.wav"
    soundfile.write(wav, np.concatenate(track).astype(np.float32), rate, subtype="PCM_16")
    return Recording(wav, plan, ssml, tuple(reply_at), tuple(reply_end))


def _read(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return samples.mean(axis=1), int(rate)


def _silence(seconds: float, rate: int) -> list[np.ndarray]:
    return [np.zeros(round(seconds * rate), dtype=np.float32)]


@pytest.fixture(scope="module")
def microphone_browser(recording: Recording) -> Iterator[Any]:
    require_browser(os.environ)
    from playwright.sync_api import sync_playwright

    args = [
        *CHROMIUM_ARGS,
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={recording.wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield chromium
        chromium.close()


def open_face(browser: Any, base_url: str, *, microphone: bool) -> Any:
    context = browser.new_context(viewport={"width": 440, "height": 440})
    if microphone:
        context.grant_permissions(["microphone"], origin=base_url)
    context.add_init_script(page_script(skew_ms=PAGE_FAST_BY_MS))
    page = context.new_page()
    page.goto(f"{base_url}/watch")
    return page


def speaker_for(app: Flask) -> AlexaSimulator:
    """The person's Echo: signed envelopes into the same app the face talks to."""
    client = app.test_client()

    def post(body: bytes, headers: object) -> tuple[int, object]:
        response = client.post("/alexa", data=body, headers=dict(headers))  # type: ignore[call-overload]
        return response.status_code, response.get_json(silent=True)

    ca = DemoCA.generate(now=datetime.now(UTC))
    return AlexaSimulator(post, ca, SKILL_ID, time.time, user_id=WATCH_USER)


def wait_until(true_s: float) -> None:
    time.sleep(max(0.0, true_s - time.time()))


def test_the_face_hears_the_speaker_read_the_script_and_tunes_the_users_buzz(
    microphone_browser: Any, server_url: str, tuning_app: Flask, recording: Recording
) -> None:
    pairing: PairingService = services_of(tuning_app).pairing
    tuning: Tuning = services_of(tuning_app).tuning
    page = open_face(microphone_browser, server_url, microphone=True)
    pair_face(page, pairing, WATCH_USER)
    sent: list[Any] = []
    page.on(
        "request",
        lambda r: sent.append(json.loads(r.post_data)) if r.url.endswith("/tuning/heard") else None,
    )

    page.locator("#tune").click()
    about = page.locator("#tune-about")
    assert about.is_visible()
    assert "microphone" in about.inner_text()
    assert "no audio is recorded or kept" in about.inner_text()
    clicked = time.time()
    page.locator("#tune-start").click()
    page.wait_for_function("window.sciaticaWatch.tuning().phase === 'listening'")
    assert "tune my watch" in page.locator("#tune-status").inner_text()
    page.wait_for_function("window.sciaticaWatch.tuning().listening_from_ms !== null")
    # The file's first frame, placed on the server's clock by a page whose own clock runs
    # seven seconds fast: it must land just after the tap, not seven seconds off.
    file_start = page.evaluate("window.sciaticaWatch.tuning().listening_from_ms") / 1000
    assert clicked - 0.05 <= file_start <= clicked + 5.0

    speaker = speaker_for(tuning_app)
    # The beep is ours, not the speaker's: the person asks Alexa once it has played.
    wait_until(file_start + BEEP_AT_S + BEEP_S + ASK_AFTER_BEEP_S)
    turns = [speaker.says("TuneWatchIntent")]  # the introduction: no part of the script yet
    assert time.time() < file_start + FIRST_REPLY_AT_S, "asked after the speaker began"
    for k in range(1, len(recording.ssml)):
        wait_until(file_start + recording.reply_end[k - 1] + ASK_AFTER_S)
        turns.append(speaker.says("AMAZON.NextIntent"))
    assert [t.ssml for t in turns] == list(recording.ssml)
    assert [t.ends_session for t in turns] == [False, False, True]
    state = tuning.state(WATCH_USER, time.time())
    assert state is not None
    assert state.all_spoken
    spoken = state.spoken
    for k, at in enumerate(spoken):
        assert at < file_start + recording.reply_at[k + 1], "the speaker began before its reply"

    page.wait_for_function(
        "['tuned', 'failed'].includes(window.sciaticaWatch.tuning().phase)", timeout=60_000
    )
    assert "Tuned" in page.locator("#tune-status").inner_text(), sent
    diagnostics = page.evaluate("window.sciaticaWatch.tuning()")
    assert diagnostics["levels_kept"] == 0  # the levels went with the microphone
    assert len(sent) == 1
    assert set(sent[0]) == {"sounds"}
    heard = [(a / 1000, b / 1000) for a, b in sent[0]["sounds"]]
    assert all(isinstance(x, int | float) for pair in sent[0]["sounds"] for x in pair)

    # The same file read by the server's own recording reader, placed by the beep.
    offline = sounds(*_read(recording.wav))
    beep_file = offline[0][0]
    assert abs(beep_file - BEEP_AT_S) < 0.02
    beep_face = heard[0][0]
    to_server = beep_face - beep_file
    expected = fit_takes(
        SCRIPT,
        [
            Take(section, [(a + to_server, b + to_server) for a, b in offline[1:]], at, True)
            for section, at in zip(recording.plan, spoken, strict=True)
        ],
    )
    profile = tuning.voices.timing_for(WATCH_USER)
    assert isinstance(profile, VoiceProfile)
    assert profile.start_delay_s is not None
    assert expected.start_delay_s is not None
    assert profile.start_delay_s == pytest.approx(expected.start_delay_s, abs=DELAY_TOLERANCE_S)
    assert diagnostics["result"]["start_delay_ms"] == round(profile.start_delay_s * 1000)
    assert profile.parts.keys() == expected.parts.keys()
    for key, seconds in expected.parts.items():
        assert profile.parts[key] == pytest.approx(seconds, abs=PART_TOLERANCE_S), key
    assert tuning.state(WATCH_USER, time.time()) is None  # the tuning is over


def test_a_face_refused_the_microphone_says_so_and_starts_nothing(
    microphone_browser: Any, server_url: str, tuning_app: Flask
) -> None:
    pairing: PairingService = services_of(tuning_app).pairing
    page = open_face(microphone_browser, server_url, microphone=False)
    pair_face(page, pairing, "amzn1.ask.account.NO-MICROPHONE")
    page.locator("#tune").click()
    page.locator("#tune-start").click()
    page.wait_for_function("window.sciaticaWatch.tuning().phase === 'failed'")
    assert "can't use the microphone" in page.locator("#tune-status").inner_text()
    tuning: Tuning = services_of(tuning_app).tuning
    assert tuning.state("amzn1.ask.account.NO-MICROPHONE", time.time()) is None
    page.locator("#tune-close").click()
    page.wait_for_function("document.getElementById('face').dataset.screen === 'routine'")
