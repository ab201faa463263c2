"""How a person is getting on: runs this week, their streak of days, the last run, each day.

Counted in the person's own days: a run belongs to the calendar day on which it finished
in their time zone (an IANA name, kept in their settings; UTC when they have none), so
midnight and the daylight-saving changes fall where they fall for them. Both sides ask the
same function: the voice ("how am I doing", the welcome) and the watch's history.

Rules, each one a choice:

- A week starts on Monday.
- The streak is the number of consecutive days, ending today, with at least one finished
  run. A streak still counts when the last run was yesterday and none is done yet today:
  the day is not over, so the person can still keep it going.
- A run stamped in the future (another instance's clock a little ahead) counts as finished
  now when it is at most FUTURE_TOLERANCE_S ahead; one further ahead comes from a broken
  clock and is left out of every figure.
- A time zone this machine cannot use (a damaged record) counts days in UTC, with a
  warning in the log; it never stops an answer.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from ..stores.base import CompletedRun, Store
from ..user_ref import user_ref
from .settings import SettingsError, check_time_zone

log = logging.getLogger(__name__)

#: The zone days are counted in when a person has none (or none that can be used).
DEFAULT_ZONE = "UTC"
#: How many days the day-by-day figures cover (today and the six before it).
LAST_DAYS = 7
#: How far ahead of now a run may be stamped and still count, as finished now.
FUTURE_TOLERANCE_S = 300.0
#: The first span of days read: this week and the last seven days both fit in it.
FIRST_WINDOW_DAYS = 14
#: The longest streak counted (about ten years); reading stops there.
MAX_STREAK_DAYS = 3660
#: Runs read to find the last one when none finished within the span read.
LAST_RUN_LOOKUP = 8


@dataclass(frozen=True, slots=True)
class DayCount:
    """How many runs a person finished on one of their own days."""

    day: date
    runs: int


@dataclass(frozen=True, slots=True)
class Progress:
    """A person's progress at one moment, in their own days.

    `streak_since` is the first day of the current streak (None: no streak); `last_at` is
    the last run's finishing time in the person's zone; `last_days` runs oldest first and
    ends with today.
    """

    time_zone: str
    today: date
    week_start: date
    runs_this_week: int
    streak_days: int
    streak_since: date | None
    done_today: bool
    last_completed_at: float | None
    last_at: datetime | None
    last_days: tuple[DayCount, ...]

    @property
    def days_since_last(self) -> int | None:
        """Whole days between the last run's day and today (0: today), None if no run."""
        return None if self.last_at is None else (self.today - self.last_at.date()).days

    def to_json(self) -> dict[str, Any]:
        """The summary as the watch API answers it: dates as ISO strings, times in epoch s."""
        return {
            "time_zone": self.time_zone,
            "today": self.today.isoformat(),
            "week_start": self.week_start.isoformat(),
            "runs_this_week": self.runs_this_week,
            "streak_days": self.streak_days,
            "streak_since": None if self.streak_since is None else self.streak_since.isoformat(),
            "done_today": self.done_today,
            "last_completed_at": self.last_completed_at,
            "last_days": [{"date": d.day.isoformat(), "runs": d.runs} for d in self.last_days],
        }


def zone_named(name: str | None, user_id: str | None = None) -> tuple[str, tzinfo]:
    """The zone to count days in: `name` if this machine knows it, else UTC (logged)."""
    if name is None:
        return DEFAULT_ZONE, UTC
    try:
        return name, ZoneInfo(check_time_zone(name))
    except SettingsError as exc:
        who = f" of user {user_ref(user_id)}" if user_id is not None else ""
        log.warning("time zone%s cannot be used (%s); counting days in UTC", who, exc.problem)
        return DEFAULT_ZONE, UTC


def day_start(day: date, zone: tzinfo) -> float:
    """The first moment of `day` in `zone`, in epoch seconds.

    Where a clock change skips local midnight, the day starts when the clock jumps (the
    offset before the change applies to the skipped time); where midnight comes twice, at
    the first one.
    """
    return datetime.combine(day, time(), tzinfo=zone).timestamp()


def summarize(runs: Iterable[CompletedRun], now: float, time_zone: str | None = None) -> Progress:
    """The progress that `runs` (any order) make at `now`, counted in `time_zone`'s days.

    Only days covered by `runs` can be counted: a caller reading part of a history (see
    read_progress) passes every run from some day on, and a streak reaching that day may go
    further back.
    """
    if not math.isfinite(now):
        raise ValueError(f"now must be a finite time, not {now!r}")
    name, zone = zone_named(time_zone)
    today = datetime.fromtimestamp(now, zone).date()
    finished: list[float] = []
    for run in runs:
        at = run.completed_at
        if not math.isfinite(at) or at > now + FUTURE_TOLERANCE_S:
            continue  # a broken clock: counted nowhere
        finished.append(min(at, now))
    per_day = Counter(datetime.fromtimestamp(at, zone).date() for at in finished)
    week_start = today - timedelta(days=today.weekday())
    done_today = per_day[today] > 0
    streak_end = today if done_today else today - timedelta(days=1)
    streak_since = _streak_start(set(per_day), streak_end)
    last = max(finished, default=None)
    return Progress(
        time_zone=name,
        today=today,
        week_start=week_start,
        runs_this_week=sum(n for day, n in per_day.items() if week_start <= day <= today),
        streak_days=0 if streak_since is None else (streak_end - streak_since).days + 1,
        streak_since=streak_since,
        done_today=done_today,
        last_completed_at=last,
        last_at=None if last is None else datetime.fromtimestamp(last, zone),
        last_days=tuple(
            DayCount(day, per_day[day])
            for day in (today - timedelta(days=back) for back in reversed(range(LAST_DAYS)))
        ),
    )


def _streak_start(days: set[date], end: date) -> date | None:
    """The first day of the unbroken run of days that ends on `end`, None if `end` has none."""
    if end not in days:
        return None
    day = end
    while day - timedelta(days=1) in days:
        day -= timedelta(days=1)
    return day


def read_progress(store: Store, user_id: str, now: float, time_zone: str | None) -> Progress:
    """The person's progress, reading as little history as the streak needs.

    Reads the last FIRST_WINDOW_DAYS days; while the streak reaches back to the first day
    read, reads twice as far (up to MAX_STREAK_DAYS), so a long streak costs a few reads
    and a short one a single read. When no run finished in the span, the last run is
    looked up on its own.
    """
    name, zone = zone_named(time_zone, user_id)
    today = datetime.fromtimestamp(now, zone).date()
    days = FIRST_WINDOW_DAYS
    while True:
        first = today - timedelta(days=days - 1)
        progress = summarize(store.history_since(user_id, day_start(first, zone)), now, name)
        reaches_back = progress.streak_since is not None and progress.streak_since <= first
        if not reaches_back or days >= MAX_STREAK_DAYS:
            break
        days = min(2 * days, MAX_STREAK_DAYS)
    if progress.last_completed_at is None:
        earlier = summarize(store.history(user_id, LAST_RUN_LOOKUP), now, name)
        progress = replace(
            progress, last_completed_at=earlier.last_completed_at, last_at=earlier.last_at
        )
    return progress
