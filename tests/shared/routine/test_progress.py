"""A person's progress in their own days: the week, the streak, the last run, day by day."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.clock import ManualClock
from shared.routine import progress as progress_module
from shared.routine.coach import Coach
from shared.routine.engine import RoutineEngine, RunState, Status
from shared.routine.progress import (
    FUTURE_TOLERANCE_S,
    LAST_DAYS,
    DayCount,
    Progress,
    day_start,
    read_progress,
    summarize,
    zone_named,
)
from shared.stores.base import CompletedRun
from shared.stores.sqlite import SQLiteStore
from shared.user_ref import user_ref
from tests.support.stores import AnyStore

ALICE = "amzn1.ask.account.ALICE"
BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
SANTIAGO = "America/Santiago"
HAVANA = "America/Havana"


def at(zone: str, *parts: int) -> float:
    """Epoch seconds of a local wall time in `zone` (the first one, where it comes twice)."""
    return datetime(*parts, tzinfo=ZoneInfo(zone)).timestamp()  # type: ignore[misc]


def runs(*times: float) -> list[CompletedRun]:
    return [CompletedRun(f"run-{i}", "sciatica", t - 900, t) for i, t in enumerate(times)]


def save(store: AnyStore, user: str, *times: float) -> None:
    """Record finished runs for `user`, as the Coach does when a run completes."""
    version: int | None = None
    for i, t in enumerate(times):
        done = RunState("sciatica", version=i + 1, status=Status.COMPLETED, run_id=f"run-{i}")
        store.save_run(user, done, version, CompletedRun(f"run-{i}", "sciatica", t - 900, t))
        version = i + 1


# -- no history, the week, the last seven days ------------------------------------------------


def test_no_history_at_all_is_all_zeros_with_seven_empty_days() -> None:
    now = at(BERLIN, 2026, 11, 25, 19, 0)
    progress = summarize([], now, BERLIN)
    assert (progress.runs_this_week, progress.streak_days, progress.done_today) == (0, 0, False)
    assert progress.streak_since is None
    assert progress.last_completed_at is None
    assert progress.last_at is None
    assert progress.days_since_last is None
    assert progress.today == date(2026, 11, 25)
    assert progress.last_days == tuple(
        DayCount(date(2026, 11, 19) + timedelta(days=i), 0) for i in range(LAST_DAYS)
    )


def test_a_week_starts_on_monday_in_the_persons_own_days() -> None:
    now = at(BERLIN, 2026, 11, 25, 19, 0)  # a Wednesday
    history = runs(
        at(BERLIN, 2026, 11, 22, 23, 50),  # Sunday: last week
        at(BERLIN, 2026, 11, 23, 0, 10),  # Monday, just after midnight
        at(BERLIN, 2026, 11, 24, 8, 0),
        at(BERLIN, 2026, 11, 24, 20, 0),  # twice on Tuesday
    )
    progress = summarize(history, now, BERLIN)
    assert progress.week_start == date(2026, 11, 23)
    assert progress.runs_this_week == 3
    assert [d.runs for d in progress.last_days] == [0, 0, 0, 1, 1, 2, 0]
    assert progress.last_days[-1].day == progress.today


def test_on_a_monday_only_todays_runs_are_this_week() -> None:
    now = at(NEW_YORK, 2026, 11, 23, 12, 0)
    history = runs(at(NEW_YORK, 2026, 11, 22, 21, 0), at(NEW_YORK, 2026, 11, 23, 7, 0))
    assert summarize(history, now, NEW_YORK).runs_this_week == 1


# -- the streak -------------------------------------------------------------------------------


def test_a_streak_counts_consecutive_days_ending_today_however_many_runs_a_day() -> None:
    now = at(BERLIN, 2026, 11, 25, 19, 0)
    history = runs(
        at(BERLIN, 2026, 11, 21, 9, 0),  # before the gap: not part of it
        at(BERLIN, 2026, 11, 23, 9, 0),
        at(BERLIN, 2026, 11, 24, 9, 0),
        at(BERLIN, 2026, 11, 24, 21, 0),
        at(BERLIN, 2026, 11, 25, 7, 30),
    )
    progress = summarize(history, now, BERLIN)
    assert (progress.streak_days, progress.streak_since) == (3, date(2026, 11, 23))
    assert progress.done_today


def test_a_streak_still_counts_when_the_last_run_was_yesterday() -> None:
    """Today is not over: the person can still keep it going."""
    now = at(BERLIN, 2026, 11, 25, 23, 59)
    history = runs(at(BERLIN, 2026, 11, 23, 9, 0), at(BERLIN, 2026, 11, 24, 9, 0))
    progress = summarize(history, now, BERLIN)
    assert (progress.streak_days, progress.done_today) == (2, False)


def test_a_day_missed_ends_the_streak() -> None:
    now = at(BERLIN, 2026, 11, 25, 0, 1)
    history = runs(at(BERLIN, 2026, 11, 22, 9, 0), at(BERLIN, 2026, 11, 23, 9, 0))
    progress = summarize(history, now, BERLIN)
    assert (progress.streak_days, progress.streak_since) == (0, None)
    assert progress.days_since_last == 2


# -- midnight and the daylight-saving changes ---------------------------------------------------


def test_runs_either_side_of_local_midnight_fall_on_two_days() -> None:
    before = at(BERLIN, 2026, 11, 24, 23, 59, 30)
    after = at(BERLIN, 2026, 11, 25, 0, 0, 30)
    now = at(BERLIN, 2026, 11, 25, 8, 0)
    assert summarize(runs(before, after), now, BERLIN).streak_days == 2
    # The same two moments are one afternoon's day in UTC (22:59 and 23:00 on the 24th).
    in_utc = summarize(runs(before, after), now, None)
    assert (in_utc.time_zone, in_utc.streak_days) == ("UTC", 1)
    assert in_utc.last_days[-2] == DayCount(date(2026, 11, 24), 2)


def test_a_run_at_the_last_second_of_a_day_belongs_to_it() -> None:
    midnight = day_start(date(2026, 11, 25), ZoneInfo(BERLIN))
    progress = summarize(runs(midnight - 1), midnight + 3600, BERLIN)
    assert progress.last_at is not None
    assert progress.last_at.date() == date(2026, 11, 24)
    assert progress.done_today is False
    assert progress.streak_days == 1
    assert summarize(runs(midnight), midnight + 3600, BERLIN).done_today


@pytest.mark.parametrize(
    ("zone", "first"),
    [
        (BERLIN, date(2026, 3, 27)),  # clocks go forward on the 29th: a 23-hour day
        (BERLIN, date(2026, 10, 23)),  # back on the 25th: a 25-hour day
        (NEW_YORK, date(2026, 3, 6)),
        (NEW_YORK, date(2026, 10, 30)),
    ],
)
def test_a_streak_across_a_clock_change_counts_each_local_day_once(zone: str, first: date) -> None:
    """A run late each evening and early each morning: never two on one day, never a gap."""
    days = [first + timedelta(days=i) for i in range(5)]
    late = [at(zone, d.year, d.month, d.day, 23, 45) for d in days[:-1]]
    early = [at(zone, d.year, d.month, d.day, 0, 15) for d in days[1:]]
    now = at(zone, days[-1].year, days[-1].month, days[-1].day, 12, 0)
    progress = summarize(runs(*late, *early), now, zone)
    assert progress.streak_days == 5
    assert [d.runs for d in progress.last_days[-5:]] == [1, 2, 2, 2, 1]


def test_a_day_whose_midnight_the_clock_skips_starts_when_the_clock_jumps() -> None:
    """Chile moves its clocks at midnight: 2026-09-06 begins at 01:00, at the change."""
    zone = ZoneInfo(SANTIAGO)
    start = day_start(date(2026, 9, 6), zone)
    assert datetime.fromtimestamp(start, zone) == datetime(2026, 9, 6, 1, 0, tzinfo=zone)
    assert datetime.fromtimestamp(start - 1, zone).date() == date(2026, 9, 5)
    progress = summarize(runs(start - 1, start), start + 6 * 3600, SANTIAGO)
    assert (progress.streak_days, progress.done_today) == (2, True)


def test_a_day_whose_midnight_comes_twice_starts_at_the_first() -> None:
    """Havana moves its clocks back at 01:00 to 00:00: 2026-11-01 has two midnights."""
    zone = ZoneInfo(HAVANA)
    start = day_start(date(2026, 11, 1), zone)
    assert datetime.fromtimestamp(start - 1, zone).date() == date(2026, 10, 31)
    assert start == datetime(2026, 11, 1, 4, 0, tzinfo=UTC).timestamp()


# -- clocks and zones that cannot be trusted ------------------------------------------------------


def test_a_run_slightly_in_the_future_counts_as_finished_now() -> None:
    """Another instance's clock a little ahead must not hide a run just finished."""
    now = at(BERLIN, 2026, 11, 25, 19, 0)
    progress = summarize(runs(now + FUTURE_TOLERANCE_S), now, BERLIN)
    assert progress.last_completed_at == now
    assert (progress.done_today, progress.runs_this_week, progress.streak_days) == (True, 1, 1)


def test_a_run_far_in_the_future_is_left_out_of_every_figure() -> None:
    now = at(BERLIN, 2026, 11, 25, 19, 0)
    history = runs(at(BERLIN, 2026, 11, 24, 9, 0), now + FUTURE_TOLERANCE_S + 1, now + 86400)
    progress = summarize(history, now, BERLIN)
    assert progress.last_at == datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo(BERLIN))
    assert (progress.runs_this_week, progress.streak_days, progress.done_today) == (1, 1, False)
    assert sum(d.runs for d in progress.last_days) == 1


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "../../etc/passwd", "", "x" * 500])
def test_a_damaged_zone_counts_in_utc_and_says_so_in_the_log(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.routine.progress")
    now = at("UTC", 2026, 11, 25, 23, 30)
    assert zone_named(name, ALICE)[0] == "UTC"
    assert ALICE not in caplog.text
    assert user_ref(ALICE) in caplog.text
    progress = summarize(runs(at("UTC", 2026, 11, 25, 23, 0)), now, name)
    assert (progress.time_zone, progress.today, progress.done_today) == (
        "UTC",
        date(2026, 11, 25),
        True,
    )


def test_a_time_that_is_not_finite_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        summarize([], float("nan"), None)


def test_the_summary_as_json_names_days_by_date() -> None:
    now = at(BERLIN, 2026, 11, 25, 19, 0)
    finished = at(BERLIN, 2026, 11, 25, 7, 0)
    data = summarize(runs(finished), now, BERLIN).to_json()
    assert data == {
        "time_zone": BERLIN,
        "today": "2026-11-25",
        "week_start": "2026-11-23",
        "runs_this_week": 1,
        "streak_days": 1,
        "streak_since": "2026-11-25",
        "done_today": True,
        "last_completed_at": finished,
        "last_days": [
            {"date": f"2026-11-{day}", "runs": 1 if day == 25 else 0} for day in range(19, 26)
        ],
    }


# -- reading the history a summary needs, from either store --------------------------------------


@dataclass
class CountingStore:
    """A store that counts how often history is read."""

    inner: AnyStore
    reads: list[float] = field(default_factory=list)

    def history_since(self, user_id: str, since: float) -> list[CompletedRun]:
        self.reads.append(since)
        return self.inner.history_since(user_id, since)

    def history(self, user_id: str, limit: int = 20) -> list[CompletedRun]:
        self.reads.append(float(limit))
        return self.inner.history(user_id, limit)


def daily(zone: str, last: date, count: int, hour: int = 8) -> list[float]:
    """One run a day at `hour`, for `count` days ending on `last`."""
    days = [last - timedelta(days=back) for back in reversed(range(count))]
    return [at(zone, d.year, d.month, d.day, hour, 0) for d in days]


def test_a_streak_longer_than_any_single_read_is_counted_whole(any_store: AnyStore) -> None:
    now = at(BERLIN, 2026, 11, 25, 19, 0)
    save(any_store, ALICE, *daily(BERLIN, date(2026, 11, 25), 40))
    counting = CountingStore(any_store)
    progress = read_progress(counting, ALICE, now, BERLIN)  # type: ignore[arg-type]
    assert (progress.streak_days, progress.runs_this_week) == (40, 3)
    assert len(counting.reads) == 3  # 14, 28 and 56 days back


def test_a_short_streak_costs_one_read(store: SQLiteStore) -> None:
    now = at(BERLIN, 2026, 11, 25, 19, 0)
    save(store, ALICE, *daily(BERLIN, date(2026, 11, 25), 3))
    counting = CountingStore(store)
    assert read_progress(counting, ALICE, now, BERLIN).streak_days == 3  # type: ignore[arg-type]
    assert counting.reads == [day_start(date(2026, 11, 12), ZoneInfo(BERLIN))]


def test_the_longest_streak_counted_stops_reading(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_module, "MAX_STREAK_DAYS", 20)
    save(store, ALICE, *daily("UTC", date(2026, 11, 25), 30))
    progress = read_progress(store, ALICE, at("UTC", 2026, 11, 25, 19, 0), None)
    assert progress.streak_days == 20


def test_a_last_run_long_ago_is_found_beyond_the_days_read(any_store: AnyStore) -> None:
    now = at(NEW_YORK, 2026, 11, 25, 19, 0)
    long_ago = at(NEW_YORK, 2026, 9, 2, 18, 30)
    save(any_store, ALICE, at(NEW_YORK, 2026, 8, 30, 9, 0), long_ago, now + 10 * 86400)
    progress = read_progress(any_store, ALICE, now, NEW_YORK)
    assert (progress.runs_this_week, progress.streak_days) == (0, 0)
    assert progress.last_completed_at == long_ago
    assert progress.days_since_last == 84


def test_someone_who_never_ran_reads_as_no_progress(any_store: AnyStore) -> None:
    progress = read_progress(any_store, ALICE, at("UTC", 2026, 11, 25, 19, 0), None)
    assert (progress.streak_days, progress.last_completed_at) == (0, None)


# -- the Coach: the zone kept in the person's settings --------------------------------------------


def test_the_coach_counts_in_the_zone_kept_unless_told_another(
    store: SQLiteStore, engine: RoutineEngine
) -> None:
    now = at(BERLIN, 2026, 11, 25, 1, 0)  # 00:00 in UTC, still the 24th in New York
    coach = Coach(store, engine, ManualClock(now))
    save(store, ALICE, at(BERLIN, 2026, 11, 24, 23, 0))
    assert (coach.progress(ALICE).time_zone, coach.progress(ALICE).done_today) == ("UTC", False)
    coach.change_settings(ALICE, time_zone=BERLIN)
    in_berlin = coach.progress(ALICE)
    assert (in_berlin.time_zone, in_berlin.today, in_berlin.done_today) == (
        BERLIN,
        date(2026, 11, 25),
        False,
    )
    in_new_york: Progress = coach.progress(ALICE, NEW_YORK)
    assert (in_new_york.today, in_new_york.done_today) == (date(2026, 11, 24), True)
