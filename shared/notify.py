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


class LocalNotifier:
    """In-process notifier on one condition variable; enough for a single server instance."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._latest: dict[str, int] = {}

    def publish(self, user_id: str, version: int) -> None:
        with self._cond:
            self._latest[user_id] = version
            self._cond.notify_all()

    def wait(self, user_id: str, seen_version: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: self._latest.get(user_id, seen_version) != seen_version, timeout
            )
