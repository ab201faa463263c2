"""A run's stamp names what a full read would name, for as long as it says it does.

The watch's 304 comes from the stamp alone, so at every moment the stamp calls current, the
run's version, id and step under way must be exactly what reading the run gives then.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.definition import Routine, parse_routine
from shared.routine.engine import Announcement, Event, RoutineEngine, Said
from shared.routine.stamp import RunStamp, routine_fingerprint
from shared.stores.sqlite import SQLiteStore

USER = "amzn1.ask.account.STAMP"
TWO_SIDES = """
id = "two-sides"
title = "Two sides"
safety_note = "Gently."

[[steps]]
id = "stretch"
title = "The stretch"
say = "Hold."
hold = { seconds = 10 }
"""


def identity(coach: Coach) -> tuple[int, str | None, int]:
    """What a full read names: version, run id and step under way, read without saving."""
    stored = coach.store.load_run(USER)
    assert stored is not None
    view = coach.engine.view(stored, coach.clock.now())
    return view.version, view.state.run_id, view.step_index


def stamp_now(coach: Coach) -> RunStamp | None:
    return coach.stamp_of(coach.store.stamps(USER).run)


@pytest.fixture
def two_sides(tmp_path: Path, clock: ManualClock) -> Iterator[Coach]:
    store = SQLiteStore(tmp_path / "stamp.sqlite3")
    yield Coach(store, RoutineEngine(parse_routine(TWO_SIDES)), clock)
    store.close()


@pytest.mark.parametrize("flow", ["hands_free", "on_next"])
def test_whenever_the_stamp_is_current_it_names_what_a_full_read_names(
    two_sides: Coach, clock: ManualClock, flow: str
) -> None:
    coach = two_sides
    coach.change_settings(USER, flow=flow)

    def both_sides(announcement: Announcement) -> tuple[Said, ...]:
        return (Said(0.0, 2.0), Said(15.0, 17.0))  # right side begins 3 s after the left

    coach.apply(USER, Event.START, both_sides if flow == "hands_free" else 2.0)
    current = 0
    for _ in range(400):  # 40 s in tenths: past the hands-free step and the run's end
        stamp = stamp_now(coach)
        if stamp is not None:
            current += 1
            assert (stamp.version, stamp.run_id, stamp.step_index) == identity(coach)
        clock.advance(0.1)
    assert current > 100


def test_a_hands_free_reply_reaching_its_next_step_ends_the_stamp(
    two_sides: Coach, clock: ManualClock
) -> None:
    coach = two_sides
    coach.change_settings(USER, flow="hands_free")
    coach.apply(USER, Event.START, lambda _: (Said(0.0, 2.0), Said(15.0, 17.0)))
    stamp = stamp_now(coach)
    assert stamp is not None
    assert stamp.step_index == 0
    assert stamp.fresh_until == pytest.approx(clock.now() + 15.0, abs=0.01)
    clock.advance(15.0)
    assert stamp_now(coach) is None  # the next step is a matter of the clock: read the run
    assert coach.view(USER).step_index == 1


def test_a_run_with_nothing_to_come_by_the_clock_has_a_stamp_until_the_next_save(
    two_sides: Coach, clock: ManualClock
) -> None:
    coach = two_sides
    coach.apply(USER, Event.START, 2.0)
    coach.apply(USER, Event.PAUSE)
    stamp = stamp_now(coach)
    assert stamp is not None
    assert stamp.fresh_until is None
    clock.advance(86_400)
    assert stamp_now(coach) == stamp
    coach.apply(USER, Event.RESUME)
    assert stamp_now(coach) != stamp


def test_a_stamp_written_against_another_routine_is_not_believed(
    two_sides: Coach, routine: Routine
) -> None:
    two_sides.apply(USER, Event.START, 2.0)
    text = two_sides.store.stamps(USER).run
    assert two_sides.stamp_of(text) is not None
    other = Coach(two_sides.store, RoutineEngine(routine), two_sides.clock)
    assert other.stamp_of(text) is None
    assert routine_fingerprint(routine) != routine_fingerprint(two_sides.routine)


def test_every_save_writes_a_stamp_text_of_its_own(two_sides: Coach) -> None:
    texts = set()
    for event in (Event.START, Event.PAUSE, Event.RESUME, Event.PAUSE):
        two_sides.apply(USER, event, 2.0 if event is Event.START else None)
        texts.add(two_sides.store.stamps(USER).run)
    assert len(texts) == 4


@pytest.mark.parametrize("text", [None, "", "2|1|0||r|s|", "1|x|0||r|s|", "1|1|0|soon|r|s|"])
def test_a_stamp_this_release_cannot_read_is_none(text: str | None) -> None:
    assert RunStamp.from_text(text) is None


def test_a_stamp_survives_its_text(routine: Routine) -> None:
    stamp = RunStamp(7, "run-1", 3, 1_780_000_000.25, routine_fingerprint(routine), "abc")
    assert RunStamp.from_text(stamp.to_text()) == stamp
    idle = RunStamp(0, None, 0, None, "r", "def")
    assert RunStamp.from_text(idle.to_text()) == idle


def test_a_kept_run_stands_in_for_a_read_only_under_its_own_stamp(
    two_sides: Coach, tmp_path: Path
) -> None:
    coach = two_sides
    coach.apply(USER, Event.START, 2.0)
    text = coach.store.stamps(USER).run
    other = Coach(coach.store, coach.engine, coach.clock)  # another instance
    other.apply(USER, Event.PAUSE)
    # This instance still keeps the run it saved; under the old stamp it is that run.
    assert coach.view(USER, text).phase.value != "paused"
    # Under the stamp the store holds now, it reads the store and sees the pause.
    assert coach.view(USER, coach.store.stamps(USER).run).phase.value == "paused"
    assert coach.view(USER).phase.value == "paused"
