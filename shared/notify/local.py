"""The notifier of a single process: a change wakes the waits on that user in this process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .wait_room import WaitRoom


class LocalNotifier:
    """In-process notifier: enough for one server process, where every save is made here."""

    def __init__(self) -> None:
        self._room = WaitRoom()
        self._closed = False

    def publish(self, user_id: str, version: int) -> None:
        self._room.deliver(user_id, version)

    @contextmanager
    def watching(self, user_id: str, seen_version: int) -> Iterator[None]:
        with self._room.watch(user_id, seen_version):
            yield

    def wait(self, user_id: str, seen_version: int, timeout: float) -> bool:
        if self._closed:
            return True
        return self._room.wait(user_id, seen_version, timeout)

    def close(self) -> None:
        # Waiters wake with True: a long poll then answers with the run as it is now.
        self._closed = True
        self._room.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def listening(self) -> bool:
        """Every save is made in this process, so every change is heard while it is open."""
        return not self._closed

    def ready(self, timeout: float) -> bool:
        return not self._closed

    def stats(self) -> dict[str, int | bool]:
        """The waits held here, so an operator (or a test) can see a poll is in: every wait
        here is woken by a save made here, so there is nothing else to tell."""
        return {"waiting": self.waiting()}

    def waiting(self) -> int:
        """How many waits this process holds right now (a gauge, and a handle for tests)."""
        return self._room.waiting()

    def users_held(self) -> int:
        """How many users the notifier keeps state for: only those being waited on."""
        return self._room.keys_held()
