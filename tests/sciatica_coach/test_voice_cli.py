"""`sciatica-coach voice`: script, calibrate and estimate, on a real voice's recording.

The recording is espeak-ng reading the script; the tests hold the commands to what a person
would see (files written, one clear line and exit 2 for bad input), not to espeak's numbers.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from sciatica_coach import cli
from shared.routine.definition import load_routine
from shared.timing import VoiceProfile
from shared.timing.profile import run_key
from skill import speech
from skill.calibration import calibration_script

SCRIPT = calibration_script(load_routine())


def as_recorded(wav: Path, out: Path, *, rate: int, lead_s: float, noise: float) -> Path:
    """The same speech as a phone would record it: stereo, resampled, late, over hiss."""
    samples, original = soundfile.read(str(wav), dtype="float32")
    positions = np.arange(0, len(samples), original / rate)
    resampled = np.interp(positions, np.arange(len(samples)), samples)
    padded = np.concatenate([np.zeros(int(lead_s * rate)), resampled])
    hiss = np.random.default_rng(7).normal(0, noise, (len(padded), 2))
    soundfile.write(str(out), (padded[:, None] + hiss).astype(np.float32), rate)
    return out


def test_the_script_is_ssml_of_every_part_with_breaks_between(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["voice", "script"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == SCRIPT.ssml()
    assert printed.count("<break") >= len(SCRIPT.parts) - 1
    assert load_routine().safety_note in printed


def test_calibrating_writes_a_profile_that_times_the_scripts_own_texts_as_heard(
    script_recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "voice.json"
    assert cli.main(["voice", "calibrate", str(script_recording), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"heard all {len(SCRIPT.parts)} parts" in printed
    assert f"profile written to {out}" in printed
    profile = VoiceProfile.load(out)
    assert profile.start_delay_s is None  # the recording did not say when the response left
    assert len(profile.parts) == len(set(map(str, SCRIPT.parts)))  # a hold end comes again
    routine = load_routine()
    first_hold = speech.step_speech(routine, 1)
    pieces = first_hold.lead_in.split(speech.PIECE_BREAK)
    assert run_key(pieces) in profile.parts  # a whole lead-in, measured as said


def test_a_phone_recording_of_the_same_speech_gives_the_same_profile(
    script_recording: Path, tmp_path: Path
) -> None:
    """Any rate, stereo, a second of silence first, background hiss: the same voice."""
    clean, phone = tmp_path / "clean.json", tmp_path / "phone.json"
    recorded = as_recorded(
        script_recording, tmp_path / "phone.wav", rate=44_100, lead_s=1.0, noise=0.003
    )
    assert cli.main(["voice", "calibrate", str(script_recording), "-o", str(clean)]) == 0
    assert (
        cli.main(["voice", "calibrate", str(recorded), "-o", str(phone), "--starts-at-response"])
        == 0
    )
    a, b = VoiceProfile.load(clean), VoiceProfile.load(phone)
    assert b.start_delay_s == pytest.approx(1.0, abs=0.05)
    misses = sorted(abs(a.parts[k] - b.parts[k]) for k in a.parts)
    # Hiss hides the quietest edges of a word from a level meter: tens of milliseconds.
    assert misses[len(misses) // 2] < 0.05
    assert misses[-1] < 0.25


def test_estimate_prints_one_time_per_line_as_the_server_times_it(
    script_recording: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "voice.json"
    assert cli.main(["voice", "calibrate", str(script_recording), "-o", str(out)]) == 0
    capsys.readouterr()
    documents = [speech.step_speech(load_routine(), 1).ssml, "", "<speak>Starting now.</speak>"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(documents) + "\n"))
    # The recording did not measure the start delay, so the deployment's setting fills in.
    monkeypatch.setenv("SCIATICA_VOICE_START_DELAY_S", "0.25")
    assert cli.main(["voice", "estimate", "--profile", str(out)]) == 0
    lines = capsys.readouterr().out.split()
    profile = VoiceProfile.load(out)
    assert len(lines) == 3
    assert float(lines[0]) == pytest.approx(profile.estimate(documents[0]) + 0.25, abs=0.0005)
    assert lines[1] == "0.000"
    assert float(lines[2]) == pytest.approx(profile.parts["starting now."] + 0.25, abs=0.0005)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d: d / "missing.wav", "no such file"),
        (lambda d: _write(d / "text.wav", b"RIFF but not really"), "not an audio file"),
        (lambda d: _tone(d / "silence.wav", 0.0), "no speech"),
        (lambda d: _tone(d / "tone.wav", 0.3), "no speech"),
    ],
)
def test_bad_recordings_get_one_line_and_exit_2(
    make: object, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording = make(tmp_path)  # type: ignore[operator]
    code = cli.main(["voice", "calibrate", str(recording), "-o", str(tmp_path / "p.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert says in err
    assert err.count("\n") == 1
    assert not (tmp_path / "p.json").exists()


def test_a_recording_of_other_words_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.espeak import VOICES, speak
    from tests.support.espeak import require_espeak

    require_espeak()
    other = speak(
        "<speak>Something else entirely, said once.</speak>", VOICES[0], tmp_path / "o.wav"
    )
    assert cli.main(["voice", "calibrate", str(other), "-o", str(tmp_path / "p.json")]) == 2
    assert "script has" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "says"),
    [('{"format": 1}', "prices"), ("{not json", "not JSON"), (None, "cannot read")],
)
def test_a_bad_profile_for_estimate_gets_one_line_and_exit_2(
    content: str | None,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "profile.json"
    if content is not None:
        path.write_text(content)
    monkeypatch.setattr("sys.stdin", io.StringIO("<speak>Hi.</speak>\n"))
    assert cli.main(["voice", "estimate", "--profile", str(path)]) == 2
    err = capsys.readouterr().err
    assert says in err
    assert err.count("\n") == 1


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _tone(path: Path, level: float) -> Path:
    """Five seconds of one steady tone (level 0: silence); no speech, however loud."""
    t = np.arange(5 * 16_000) / 16_000
    soundfile.write(str(path), (level * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16_000)
    return path


def test_the_profile_file_is_plain_json(script_recording: Path, tmp_path: Path) -> None:
    out = tmp_path / "voice.json"
    assert (
        cli.main(["voice", "calibrate", str(script_recording), "-o", str(out), "--name", "en-us"])
        == 0
    )
    data = json.loads(out.read_text())
    assert data["format"] == 1
    assert data["name"] == "en-us"


def test_a_line_that_is_not_well_formed_is_named_and_nothing_after_it_is_timed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SCIATICA_VOICE_PROFILE", raising=False)
    lines = "<speak>Fine.</speak>\n\n<speak>Step one.\n<speak>Not reached.</speak>\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    assert cli.main(["voice", "estimate"]) == 2
    captured = capsys.readouterr()
    assert len(captured.out.split()) == 2  # the good line and the blank one
    assert captured.err.count("\n") == 1
    assert "line 3 of stdin: SSML is not well-formed: <speak> is not closed" in captured.err
