"""The watch's view of the person's progress: the core's Progress as the contract's History.

The same figures the voice speaks for "how am I doing" (shared/routine/progress.py), counted in
the zone kept from the person's Alexa device, else UTC. Reading them costs a store read or two
and no network call, so a face may ask whenever it opens.
"""

from __future__ import annotations

from shared.routine.progress import Progress

from . import contract
from .cue_payload import to_ms


def history_body(progress: Progress) -> contract.History:
    """The summary a watch shows: this week, the streak, the last run, the last days."""
    last = progress.last_completed_at
    return contract.History(
        time_zone=progress.time_zone,
        today=progress.today,
        week_start=progress.week_start,
        runs_this_week=progress.runs_this_week,
        streak_days=progress.streak_days,
        streak_since=progress.streak_since,
        done_today=progress.done_today,
        last_completed_ms=None if last is None else max(0, to_ms(last)),
        last_days=[contract.DayRuns(date=day.day, runs=day.runs) for day in progress.last_days],
    )
