"""What the wrist may ask of a run, and how long the hold waits for a person who got no speech."""

from __future__ import annotations

from enum import StrEnum

from shared.routine.engine import Announcement, Event, LeadIn

#: Seconds between a wrist action and the hold starting: the speaker stays silent when the
#: watch says next, so the person reads the title and gets into position in this time.
DEFAULT_WATCH_LEAD_IN_S = 5.0


class WatchAction(StrEnum):
    """The buttons a watch face has; each is the same event the voice would send."""

    PAUSE = "pause"
    RESUME = "resume"
    NEXT = "next"
    PREVIOUS = "previous"
    REPEAT = "repeat"

    @property
    def event(self) -> Event:
        return Event(self.value)


def watch_lead_in(seconds: float) -> LeadIn:
    """The same lead-in for a new step and for a resumed hold: either way nothing is said."""

    def lead_in(announcement: Announcement) -> float:
        return seconds

    return lead_in
