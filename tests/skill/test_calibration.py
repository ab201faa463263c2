"""The skill's holds against a real voice's audio: espeak-ng says every reply of a routine.

Figures belong to bench/bench_sync.py; this holds the direction with a wide margin, so no
espeak-ng version can fail it while a real regression (a profile not used, a hold's silence
not written for the voice, the lead-in guessed again) would.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.bench_sync import measure
from bench.espeak import VOICES
from sciatica_coach.recording import sounds_in
from shared.routine.definition import load_routine
from shared.timing.fit import fit_profile
from skill.calibration import calibration_script

#: Far above what a calibrated voice misses by (bench: under 0.2 s), far below the default's.
CALIBRATED_LIMIT_S = 0.5


def test_a_calibrated_voice_meets_every_hold_and_the_default_guess_does_not(
    script_recording: Path,
) -> None:
    script = calibration_script(load_routine())
    profile = fit_profile(script, sounds_in(script_recording), response_at=0.0)

    calibrated = measure(profile, VOICES[0], one_stretch=False)
    default = measure(None, VOICES[0], one_stretch=False)

    edges = {(m.turn, m.edge) for m in calibrated}
    assert ("step 1 (with the safety note)", "start") in edges
    assert ("step 4 resumed", "end") in edges
    assert ("step 5 time left", "end") in edges
    assert max(abs(m.seconds) for m in calibrated) < CALIBRATED_LIMIT_S
    typical = statistics.median(abs(m.seconds) for m in calibrated)
    assert typical * 5 < statistics.median(abs(m.seconds) for m in default)
