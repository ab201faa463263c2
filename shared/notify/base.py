"""Wake-ups for watches waiting on a run: a change to one user wakes that user's waits only.

A wait has two steps, so that no change can slip in between a caller's read and its wait:
open a watch on the user (`watching`), read the run, then `wait`. Any change published
after the watch opened ends the wait, however soon it came. A wait records the version its
caller saw and wakes only for a newer one (or for the user being forgotten), so a change
that its caller's read already showed costs no wake-up.

A notifier keeps nothing about users nobody is waiting on: its memory follows the number of
waits in progress, never the number of users who ever changed anything. Each wait has its
own event, so a change wakes only the waits on that user, however many others are waiting.
Under gevent's monkey-patching the lock and events are gevent's, and a wait parks only its
greenlet.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

#: The version Coach.forget publishes: the run is gone, whatever a waiter saw.
FORGOTTEN = -1


class ChangeNotifier(Protocol):
    """Publishes that a user's run changed and lets callers wait for the next change."""

    def publish(self, user_id: str, version: int) -> None: ...

    def watching(self, user_id: str, seen_version: int) -> AbstractContextManager[None]:
        """Catch changes to `user_id` newer than `seen_version` from now until the block ends.

        Open it before reading the run, then call wait() inside the block: a change that
        lands between the read and the wait then answers the wait at once.
        """
        ...

    def wait(self, user_id: str, seen_version: int, timeout: float) -> bool:
        """Block until a version newer than `seen_version` is published, or `timeout` passes.

        Inside `watching(user_id, ...)` on the same thread (or greenlet), a change published
        since the watch opened counts. True means "read the run again": a change, a stop,
        or a notifier that could not listen.
        """
        ...

    def close(self) -> None:
        """Wake every waiter and make later waits return at once: the server is stopping."""
        ...

    @property
    def closed(self) -> bool:
        """Whether close() was called; a waiter that wakes to this should answer and leave."""
        ...

    @property
    def listening(self) -> bool:
        """Whether every change, from every instance, reaches the waits here right now."""
        ...

    def ready(self, timeout: float) -> bool:
        """Whether it is listening, given up to `timeout` to get there (a health check)."""
        ...

    def stats(self) -> dict[str, int | bool]:
        """Gauges for a health check: the waits held here, and what it hears from elsewhere."""
        ...


def wakes(version: int, seen: int) -> bool:
    """Whether a published `version` is news to a waiter that saw `seen`."""
    return version > seen or (version == FORGOTTEN and seen != FORGOTTEN)
