"""Wake-ups for watches waiting on a run: a change by either side reaches every waiter at once."""

from __future__ import annotations

import threading
from typing import Protocol


class ChangeNotifier(Protocol):
    """Publishes that a user's run changed and lets callers wait for the next change."""

    def publish(self, user_id: str, version: int) -> None: ...

    def wait(self, user_id: str, seen_version: int, timeout: float) -> bool:
        """Block until a version other than `seen_version` is published, or `timeout` passes."""
        ...

    def close(self) -> None:
        """Wake every waiter and make later waits return at once: the server is stopping."""
        ...

    @property
    def closed(self) -> bool:
        """Whether close() was called; a waiter that wakes to this should answer and leave."""
        ...


class LocalNotifier:
    """In-process notifier on one condition variable; enough for a single server instance."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._latest: dict[str, int] = {}
        self._closed = False

    def publish(self, user_id: str, version: int) -> None:
        with self._cond:
            self._latest[user_id] = version
            self._cond.notify_all()

    def wait(self, user_id: str, seen_version: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: self._closed or self._latest.get(user_id, seen_version) != seen_version,
                timeout,
            )

    def close(self) -> None:
        # Waiters wake with True: a long poll then answers with the run as it is now.
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
