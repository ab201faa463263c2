"""Learning a voice from one recording of the calibration script, and refusing what is not."""

from __future__ import annotations

import pytest

from shared.timing.fit import RecordingMismatch, fit_profile, group
from shared.timing.profile import run_key
from shared.timing.script import SEPARATOR_MIN_S, CalibrationScript, ScriptError
from shared.timing.text import normalized
from tests.support.timing import (
    GAP_PER_S,
    GAP_S,
    PIECE_GAP_S,
    START_DELAY_S,
    recording_of,
    seconds_of,
)

TEXTS = [
    "Lie down on your back, and breathe slowly.",
    "Hold for 30 seconds.",
    "Starting now.",
    ("Hold for 30 seconds.", "Starting now."),
    "Picking up your hold with 12 seconds to go.",
    "Picking up your hold with 21 seconds to go.",
    "Time's up. Switch sides.",
    "Step 1 of 6: Ball release, left side.",
]


@pytest.fixture
def script() -> CalibrationScript:
    return CalibrationScript.of(TEXTS)


def test_every_part_is_kept_as_long_as_it_was_heard(script: CalibrationScript) -> None:
    profile = fit_profile(script, recording_of(script))
    for text in TEXTS:
        if isinstance(text, str):
            assert profile.parts[normalized(text)] == pytest.approx(seconds_of(text))
    run = run_key(["Hold for 30 seconds.", "Starting now."])
    whole = seconds_of("Hold for 30 seconds.") + PIECE_GAP_S + seconds_of("Starting now.")
    assert profile.parts[run] == pytest.approx(whole)


def test_the_breaks_the_voice_plays_are_learned_long_and_short(script: CalibrationScript) -> None:
    profile = fit_profile(script, recording_of(script))
    assert profile.gap_s == pytest.approx(GAP_S)
    assert profile.gap_per_s == pytest.approx(GAP_PER_S)
    assert profile.piece_gap_s == pytest.approx(PIECE_GAP_S)
    # So a hold's 30 s of silence is written shorter, to be heard as 30 s.
    assert profile.silence_heard(profile.break_for_silence(30.0)) == pytest.approx(30.0)


def test_the_start_delay_is_measured_only_when_the_recording_starts_with_the_response(
    script: CalibrationScript,
) -> None:
    assert fit_profile(script, recording_of(script)).start_delay_s is None
    timed = fit_profile(script, recording_of(script), response_at=0.0)
    assert timed.start_delay_s == pytest.approx(START_DELAY_S)
    # Sound before the response left (the last answer trailing off) is not the script.
    earlier = [(0.1, 0.5), *recording_of(script, start=2.0)]
    assert fit_profile(script, earlier, response_at=1.0).start_delay_s == pytest.approx(1.0)


def test_a_profile_times_the_scripts_own_documents_as_heard(script: CalibrationScript) -> None:
    profile = fit_profile(script, recording_of(script), response_at=0.0)
    lead_in = '<speak>Hold for 30 seconds.<break time="300ms"/>Starting now.</speak>'
    expected = START_DELAY_S + seconds_of("Hold for 30 seconds.") + PIECE_GAP_S
    assert profile.estimate(lead_in) == pytest.approx(expected + seconds_of("Starting now."))


def test_the_fit_reports_how_far_its_rules_miss(script: CalibrationScript) -> None:
    fit = fit_profile(script, recording_of(script)).fit
    assert fit["parts"] == len(script.parts)
    assert fit["silence_miss_s"]["max"] < 0.01
    assert 0 <= fit["unheard_text_miss_s"]["median"] <= fit["unheard_text_miss_s"]["max"]


def test_stretches_closer_than_a_separator_are_one_part() -> None:
    near = SEPARATOR_MIN_S - 0.1
    segments = group([(0.0, 1.0), (1.0 + near, 2.0 + near), (5.0, 6.0)])
    assert [(s.start, s.end) for s in segments] == [(0.0, 2.0 + near), (5.0, 6.0)]


def test_a_recording_with_parts_missing_is_refused_with_the_count(
    script: CalibrationScript,
) -> None:
    cut = recording_of(script)[:-3]
    with pytest.raises(RecordingMismatch, match=r"heard \d+ separate stretches .* has 8 parts"):
        fit_profile(script, cut)


def test_a_recording_of_something_else_is_refused_by_its_lengths(
    script: CalibrationScript,
) -> None:
    sounds, t = [], 0.0
    for _ in script.parts:  # the right number of stretches, each far too long
        sounds.append((t, t + 20.0))
        t += 22.0
    with pytest.raises(RecordingMismatch, match="not a recording of the calibration script"):
        fit_profile(script, sounds)


def test_silence_is_refused(script: CalibrationScript) -> None:
    with pytest.raises(RecordingMismatch, match="no speech"):
        fit_profile(script, [])


def test_a_script_takes_each_part_once_as_plain_text() -> None:
    script = CalibrationScript.of(["One.", "one.", "  ", "Two, then.", "Three <b>."])
    assert script.parts == ("One.", "Two, then.", "Three <b>.")
    # The last break is as long as a hold: three of Alexa's 10 s breaks in a row.
    assert script.separators == (1.5, 30.0)
    assert script.ssml().count('<break time="10000ms"/>') == 3
    assert "Three &lt;b&gt;." in script.ssml()
    with pytest.raises(ScriptError, match="at least three"):
        CalibrationScript.of(["One.", "Two."])
