"""The words for a person's progress: how a past moment is said, and the sentences around it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.routine.progress import DayCount, Progress
from skill import speech

BERLIN = ZoneInfo("Europe/Berlin")
TODAY = date(2026, 11, 25)  # a Wednesday


def progress(week: int, streak: int, days_ago: int | None, hour: int = 19) -> Progress:
    last = None
    if days_ago is not None:
        day = TODAY - timedelta(days=days_ago)
        last = datetime(day.year, day.month, day.day, hour, 0, tzinfo=BERLIN)
    return Progress(
        time_zone="Europe/Berlin",
        today=TODAY,
        week_start=date(2026, 11, 23),
        runs_this_week=week,
        streak_days=streak,
        streak_since=None if streak == 0 else TODAY - timedelta(days=streak - 1),
        done_today=days_ago == 0,
        last_completed_at=None if last is None else last.timestamp(),
        last_at=last,
        last_days=tuple(DayCount(TODAY - timedelta(days=6 - i), 0) for i in range(7)),
    )


PARTS = {0: "early", 4: "early", 5: "morning", 11: "morning", 12: "afternoon", 16: "afternoon"}
PARTS |= {17: "evening", 20: "evening", 21: "night", 23: "night"}


@pytest.mark.parametrize(("hour", "part"), sorted(PARTS.items()))
def test_every_hour_falls_in_one_part_of_the_day(hour: int, part: str) -> None:
    assert speech.part_of_day(hour) == part


@pytest.mark.parametrize(
    ("days_ago", "hour", "words"),
    [
        (0, 3, "early this morning"),
        (0, 9, "this morning"),
        (0, 14, "this afternoon"),
        (0, 19, "this evening"),
        (0, 22, "earlier tonight"),
        (1, 2, "early yesterday morning"),
        (1, 19, "yesterday evening"),
        (1, 23, "last night"),
        (2, 19, "on Monday evening"),
        (6, 8, "on Thursday morning"),
        (3, 1, "early on Sunday morning"),
        (4, 22, "on Saturday night"),
        (7, 19, "7 days ago"),
        (13, 19, "13 days ago"),
        (14, 19, "about 2 weeks ago"),
        (59, 19, "about 8 weeks ago"),
        (60, 19, "about 2 months ago"),
        (364, 19, "about 12 months ago"),
        (365, 19, "over a year ago"),
    ],
)
def test_a_past_moment_is_said_as_a_person_would(days_ago: int, hour: int, words: str) -> None:
    day = TODAY - timedelta(days=days_ago)
    at = datetime(day.year, day.month, day.day, hour, 0, tzinfo=BERLIN)
    assert speech.when_words(at, days_ago) == words


@pytest.mark.parametrize(
    ("week", "streak", "days_ago", "said"),
    [
        (None, 0, None, speech.say("progress_none")),
        (
            3,
            4,
            1,
            "You've done the routine 3 times this week, and you're on a 4-day streak. "
            "Your last one was yesterday evening.",
        ),
        (1, 1, 0, "You've done the routine once this week. Your last one was this evening."),
        (2, 0, 2, "You've done the routine twice this week. Your last one was on Monday evening."),
        (
            0,
            5,
            1,
            "You haven't done the routine yet this week, but you're on a 5-day streak. "
            "Your last one was yesterday evening.",
        ),
        (
            0,
            0,
            30,
            "You haven't done the routine yet this week. Your last one was about 4 weeks ago.",
        ),
    ],
)
def test_the_progress_sentence(
    week: int | None, streak: int, days_ago: int | None, said: str
) -> None:
    assert speech.progress_words(progress(week or 0, streak, days_ago)) == said


def test_the_welcome_mentions_a_streak_of_two_days_or_more_only() -> None:
    assert speech.streak_welcome(progress(1, 1, 0)) is None
    assert speech.streak_welcome(progress(2, 2, 0)) == speech.say(
        "welcome_back_streak_done", days=2
    )
    assert speech.streak_welcome(progress(2, 3, 1)) == speech.say("welcome_back_streak", days=3)
