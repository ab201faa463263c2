"""`sciatica-coach demo` for real: server on loopback, signed speaker, reference watch, picture."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sciatica_coach.live_demo import run_live_demo
from shared.routine import load_routine

#: Fast enough to keep the test to seconds; timing errors are judged in real milliseconds.
SPEED = 60.0
#: How far a hold-end buzz may sit from the spoken "time's up", in real time.
REAL_TOLERANCE_MS = 100.0
SVG = "{http://www.w3.org/2000/svg}"
_ROW = re.compile(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(-?[\d.]+)$")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    picture = tmp_path_factory.mktemp("demo") / "session.svg"
    out = io.StringIO()
    code = run_live_demo(speed=SPEED, out=out, picture=picture)
    return code, out.getvalue(), picture


def test_the_demo_finishes_cleanly_with_verification_on(demo_run: tuple[int, str, Path]) -> None:
    code, printed, _ = demo_run
    assert code == 0
    assert "verification on" in printed


def test_the_watch_pairs_by_the_code_the_person_speaks(demo_run: tuple[int, str, Path]) -> None:
    _, printed, _ = demo_run
    shown = re.search(r"watch +Say: Alexa, ask sciatica coach to pair code ([\d ]+)", printed)
    assert shown is not None
    assert f"person   pair code {shown.group(1).strip()}" in printed
    assert "watch    paired; waiting for cues" in printed


def test_every_step_is_spoken_in_order(demo_run: tuple[int, str, Path]) -> None:
    _, printed, _ = demo_run
    spoken = [line for line in printed.splitlines() if " speaker " in line]
    routine = load_routine()
    where = [
        next(i for i, line in enumerate(spoken) if f"Step {n} of {len(routine)}:" in line)
        for n in range(1, len(routine) + 1)
    ]
    assert where == sorted(where)


def test_the_wrist_buzzes_every_hold_and_the_end(demo_run: tuple[int, str, Path]) -> None:
    _, printed, _ = demo_run
    buzzes = re.findall(r"wrist +bzz (\w+)", printed)
    assert buzzes == ["hold_start", "hold_warning", "hold_end"] * 4 + ["routine_complete"]


def test_each_hold_end_buzz_meets_the_spoken_times_up(demo_run: tuple[int, str, Path]) -> None:
    _, printed, _ = demo_run
    table = printed.split("hold end: spoken 'time's up' vs wrist buzz", 1)[1]
    rows = [m.groups() for line in table.splitlines() if (m := _ROW.match(line))]
    assert [int(number) for number, *_ in rows] == [1, 2, 3, 4]
    for _, _, _, error_ms in rows:
        assert abs(float(error_ms)) / SPEED <= REAL_TOLERANCE_MS
    # The table's times are on the printed timeline: each row's buzz is a printed hold_end.
    printed_ends = re.findall(r"\[\s*([\d.]+)s\] wrist +bzz hold_end", printed)
    assert [buzz for _, _, buzz, _ in rows] == printed_ends


def test_the_picture_has_both_lanes_and_the_holds(demo_run: tuple[int, str, Path]) -> None:
    _, printed, picture = demo_run
    assert f"timeline written to {picture}" in printed
    svg = ET.parse(picture).getroot()
    titles = [t.text or "" for t in svg.iter(f"{SVG}title")]
    assert sum(t.startswith("hold ") and t.endswith(" s") for t in titles) == 4
    assert sum("from the spoken end" in t for t in titles) == 4
    assert any(t.startswith("Step 1 of 6") for t in titles)
    labels = {t.text for t in svg.iter(f"{SVG}text")}
    assert {"speaker", "wrist"} <= labels
