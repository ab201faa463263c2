"""The local demo and the command line: the whole routine, spoken and buzzed in step."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sciatica_coach import cli, server
from sciatica_coach.demo import in_process, live
from sciatica_coach.demo.in_process import (
    DEMO_USER,
    CoreVoice,
    CoreWatch,
    DemoResult,
    InstantPacer,
    play,
)
from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.cues import WARNING_LEAD_S, CueKind
from shared.routine.engine import Phase

HOLDS = [(0, "left"), (1, "right"), (3, "left"), (4, "right")]
LAST = 5


@pytest.fixture
def played(demo_coach: Coach, clock: ManualClock) -> tuple[DemoResult, str]:
    """The whole routine played through the core with an instant pacer."""
    out = io.StringIO()
    result = play(CoreVoice(demo_coach), CoreWatch(demo_coach), InstantPacer(clock), out)
    return result, out.getvalue()


def test_demo_speaks_the_safety_note_first(
    played: tuple[DemoResult, str], demo_coach: Coach
) -> None:
    result, _ = played
    assert result.lines[0][1].startswith(demo_coach.routine.safety_note)


def test_demo_speaks_every_step_once_in_order(
    played: tuple[DemoResult, str], demo_coach: Coach
) -> None:
    result, _ = played
    texts = [text for _, text in result.lines]
    where = []
    for step in demo_coach.routine.steps:
        found = [i for i, text in enumerate(texts) if step.say in text]
        assert len(found) == 1, step.id
        where.append(found[0])
    assert where == sorted(where)
    assert len(set(where)) == len(where)


def test_demo_lines_and_buzzes_come_in_time_order(played: tuple[DemoResult, str]) -> None:
    result, _ = played
    line_times = [at for at, _ in result.lines]
    buzz_times = [at for at, _ in result.buzzes]
    assert line_times == sorted(line_times)
    assert buzz_times == sorted(buzz_times)


def test_demo_buzzes_each_hold_and_the_end_of_the_routine(played: tuple[DemoResult, str]) -> None:
    result, _ = played
    expected = [
        (kind, step, side)
        for step, side in HOLDS
        for kind in (CueKind.HOLD_START, CueKind.HOLD_WARNING, CueKind.HOLD_END)
    ] + [(CueKind.ROUTINE_COMPLETE, LAST, None)]
    assert [(cue.kind, cue.step_index, cue.side) for _, cue in result.buzzes] == expected


def test_demo_buzzes_fire_on_their_cue_times(played: tuple[DemoResult, str]) -> None:
    result, _ = played
    assert all(fired == cue.at for fired, cue in result.buzzes)
    for step, _ in HOLDS:
        at = {cue.kind: fired for fired, cue in result.buzzes if cue.step_index == step}
        assert at[CueKind.HOLD_END] - at[CueKind.HOLD_START] == 30.0
        assert at[CueKind.HOLD_END] - at[CueKind.HOLD_WARNING] == WARNING_LEAD_S


def test_demo_hold_ends_line_up_with_the_spoken_times_up_exactly(
    played: tuple[DemoResult, str],
) -> None:
    result, _ = played
    assert [row.step_index for row in result.alignments] == [step for step, _ in HOLDS]
    assert [row.error_ms for row in result.alignments] == [0.0] * len(HOLDS)
    times_up = [at for at, text in result.lines if text.startswith("Time's up")]
    hold_ends = [fired for fired, cue in result.buzzes if cue.kind is CueKind.HOLD_END]
    assert times_up == hold_ends


def test_demo_prints_the_alignment_table(played: tuple[DemoResult, str]) -> None:
    _, printed = played
    assert "hold end: spoken 'time's up' vs wrist buzz" in printed
    table = printed.split("hold end: spoken 'time's up' vs wrist buzz", 1)[1].splitlines()
    assert table[1].split() == ["step", "error", "(ms)"]
    assert [row.split() for row in table[2:6]] == [[str(step + 1), "0.0"] for step, _ in HOLDS]
    assert table[6] == "median |error| 0.0 ms, max 0.0 ms"


def test_demo_leaves_a_completed_run_in_history(
    played: tuple[DemoResult, str], demo_coach: Coach
) -> None:
    assert demo_coach.view(DEMO_USER).phase is Phase.COMPLETED
    assert len(demo_coach.history(DEMO_USER)) == 1


# -- the command line --------------------------------------------------------------------


@pytest.fixture
def logging_config(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What main() asks of logging.basicConfig, without touching the real root logger."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: calls.append(kwargs))
    return calls


@pytest.mark.parametrize("speed", ["0", "-3", "nan", "inf", "-inf", "100.5", "1e9"])
def test_demo_refuses_a_speed_its_timing_cannot_work_at(
    speed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "run_live_demo", _must_not_run)
    with pytest.raises(SystemExit) as caught:
        cli.main(["demo", f"--speed={speed}"])
    assert caught.value.code == 2
    error = capsys.readouterr().err
    assert f"argument --speed: must be a number above 0 and at most 100 (got '{speed}')" in error


def test_demo_refuses_a_speed_that_is_not_a_number(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "run_live_demo", _must_not_run)
    with pytest.raises(SystemExit) as caught:
        cli.main(["demo", "--speed", "fast"])
    assert caught.value.code == 2
    assert "argument --speed: not a number: 'fast'" in capsys.readouterr().err


@pytest.mark.parametrize("speed", [float("nan"), float("inf"), 0.0])
def test_the_demos_refuse_a_speed_that_is_not_a_finite_positive_number(speed: float) -> None:
    with pytest.raises(ValueError, match="finite number above 0"):
        live.run_live_demo(speed=speed)
    with pytest.raises(ValueError, match="finite number above 0"):
        in_process.run_local_demo(speed=speed)


def _must_not_run(**_: Any) -> int:
    raise AssertionError("a refused --speed must not start the demo")


def test_demo_command_plays_the_live_demo_at_the_given_speed(
    monkeypatch: pytest.MonkeyPatch, logging_config: list[dict[str, Any]]
) -> None:
    played: list[tuple[float, Path, bool]] = []

    def fake_live_demo(speed: float, picture: Path, hands_free: bool = False) -> int:
        played.append((speed, picture, hands_free))
        return 0

    monkeypatch.setattr(live, "run_live_demo", fake_live_demo)
    assert cli.main(["demo", "--speed", "25", "--picture", "out.svg"]) == 0
    assert cli.main(["demo", "--hands-free"]) == 0
    assert played == [(25.0, Path("out.svg"), False), (20.0, Path("sciatica-session.svg"), True)]
    assert logging_config[0]["level"] == logging.WARNING


def test_the_hands_free_demo_needs_the_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(live, "run_live_demo", _must_not_run)
    monkeypatch.setattr(in_process, "run_local_demo", _must_not_run)
    assert cli.main(["demo", "--hands-free", "--in-process"]) == 2
    assert "--hands-free" in capsys.readouterr().err


def test_demo_command_in_process_drives_the_core_without_a_server(
    monkeypatch: pytest.MonkeyPatch, logging_config: list[dict[str, Any]]
) -> None:
    speeds: list[float] = []

    def fake_demo(speed: float) -> int:
        speeds.append(speed)
        return 0

    def no_server(**_: Any) -> int:
        raise AssertionError("the in-process demo must not start a server")

    monkeypatch.setattr(in_process, "run_local_demo", fake_demo)
    monkeypatch.setattr(live, "run_live_demo", no_server)
    assert cli.main(["demo", "--in-process", "--speed", "25"]) == 0
    assert speeds == [25.0]


def test_serve_command_hands_the_address_to_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[server.ServeOptions] = []

    def fake_serve(options: server.ServeOptions) -> int:
        served.append(options)
        return 0

    monkeypatch.setattr(server, "serve", fake_serve)
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "9090"]) == 0
    assert served == [server.ServeOptions(host="0.0.0.0", port=9090)]


SERVE_DEFAULTS = {
    "command": "serve",
    "host": "127.0.0.1",
    "port": 8000,
    "workers": 1,
    "db": None,
    "skill_id": None,
    "ca_file": None,
    "cert_cache": None,
}

DEMO_DEFAULTS = {
    "command": "demo",
    "speed": 20.0,
    "picture": "sciatica-session.svg",
    "in_process": False,
    "hands_free": False,
}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["serve"], SERVE_DEFAULTS),
        (
            ["serve", "--host", "0.0.0.0", "--port", "9000"],
            {**SERVE_DEFAULTS, "host": "0.0.0.0", "port": 9000},
        ),
        (["demo"], DEMO_DEFAULTS),
        (["demo", "--speed", "2.5"], {**DEMO_DEFAULTS, "speed": 2.5}),
        (["demo", "--speed", "100"], {**DEMO_DEFAULTS, "speed": 100.0}),
        (["demo", "--in-process"], {**DEMO_DEFAULTS, "in_process": True}),
        (["demo", "--hands-free"], {**DEMO_DEFAULTS, "hands_free": True}),
    ],
)
def test_parser_reads_commands_and_options(argv: list[str], expected: dict[str, Any]) -> None:
    assert vars(cli.build_parser().parse_args(argv)) == expected


@pytest.mark.parametrize("argv", [[], ["dance"], ["serve", "--port", "eighty"]])
def test_parser_rejects_bad_command_lines(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.build_parser().parse_args(argv)
    assert caught.value.code == 2
    assert "usage: sciatica-coach" in capsys.readouterr().err


# --- sciatica-coach skill-package ------------------------------------------------------------


def test_skill_package_writes_the_ask_cli_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "project"

    code = cli.main(["skill-package", "--base-url", "https://coach.example.org", "-o", str(out)])

    assert code == 0
    assert "wrote 7 files" in capsys.readouterr().out
    manifest = json.loads((out / "skill-package" / "skill.json").read_text("utf-8"))["manifest"]
    assert manifest["apis"]["custom"]["endpoint"]["uri"] == "https://coach.example.org/alexa"
    assert (out / "ask-resources.json").is_file()


@pytest.mark.parametrize(
    "base",
    ["http://coach.example.org", "https://10.1.2.3", "https://coach.example.org/?a=b", "https://x"],
)
def test_skill_package_refuses_a_bad_base_url_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], base: str
) -> None:
    code = cli.main(["skill-package", "--base-url", base, "-o", str(tmp_path / "out")])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("sciatica-coach skill-package: error: base URL")
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_skill_package_refuses_a_full_folder_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine.txt").write_text("keep", "utf-8")
    argv = ["skill-package", "--base-url", "https://coach.example.org", "-o", str(tmp_path)]

    assert cli.main(argv) == 2
    assert "not empty (give --force" in capsys.readouterr().err
    assert cli.main([*argv, "--force"]) == 0
    assert (tmp_path / "mine.txt").read_text("utf-8") == "keep"


def test_skill_package_needs_a_base_url_and_a_folder() -> None:
    with pytest.raises(SystemExit) as missing:
        cli.main(["skill-package", "-o", "somewhere"])
    assert missing.value.code == 2


def test_skill_package_runs_as_the_installed_command(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "sciatica_coach.cli", "skill-package"]
    good = subprocess.run(
        [*command, "--base-url", "https://coach.example.org", "-o", str(tmp_path / "a")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    bad = subprocess.run(
        [*command, "--base-url", "https://coach.example.org:8443", "-o", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert good.returncode == 0, good.stderr
    assert (tmp_path / "a" / "skill-package" / "skill.json").is_file()
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "sciatica-coach skill-package: error: base URL 'https://coach.example.org:8443': "
        "Alexa calls only port 443, not 8443"
    )
