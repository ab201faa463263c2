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

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
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
        """Gauges for a health check; empty if there is nothing beyond this process to tell."""
        ...


def wakes(version: int, seen: int) -> bool:
    """Whether a published `version` is news to a waiter that saw `seen`."""
    return version > seen or (version == FORGOTTEN and seen != FORGOTTEN)


class _Waiter:
    """One watch: who opened it, the version its caller saw, and the event that ends it."""

    __slots__ = ("event", "owner", "seen")

    def __init__(self, seen: int, owner: int) -> None:
        self.seen = seen
        self.owner = owner
        self.event = threading.Event()


class WaitRoom:
    """The open watches of one process, by key (a user id, or a user's tag on Redis).

    A key is held only while it has a watch, so memory follows the waits in progress. One
    lock guards the map; each watch has its own event, so delivering a change sets only the
    events of that key's watches.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: dict[str, list[_Waiter]] = {}
        self._closed = False

    @contextmanager
    def watch(self, key: str, seen: int) -> Iterator[_Waiter]:
        """A watch on `key` until the block ends; it is set at once if the room is closed."""
        waiter = _Waiter(seen, threading.get_ident())
        with self._lock:
            self._watches.setdefault(key, []).append(waiter)
            if self._closed:
                waiter.event.set()
        try:
            yield waiter
        finally:
            with self._lock:
                watches = self._watches.get(key)
                if watches is not None:
                    watches.remove(waiter)
                    if not watches:
                        del self._watches[key]

    def wait(self, key: str, seen: int, timeout: float) -> bool:
        """Wait on the caller's open watch on `key`, or on a watch opened for this wait."""
        waiter = self._own(key)
        if waiter is not None:
            return waiter.event.wait(timeout)
        with self.watch(key, seen) as fresh:
            return fresh.event.wait(timeout)

    def _own(self, key: str) -> _Waiter | None:
        # The innermost watch this thread (or greenlet: gevent patches get_ident) opened.
        me = threading.get_ident()
        with self._lock:
            for waiter in reversed(self._watches.get(key, ())):
                if waiter.owner == me:
                    return waiter
        return None

    def deliver(self, key: str, version: int) -> int:
        """Wake the watches on `key` that had not seen `version`; how many that was."""
        woken = 0
        with self._lock:
            for waiter in self._watches.get(key, ()):
                if wakes(version, waiter.seen) and not waiter.event.is_set():
                    waiter.event.set()
                    woken += 1
        return woken

    def wake_all(self) -> None:
        """Wake every watch: whatever happened, they must read the store again."""
        with self._lock:
            for watches in self._watches.values():
                for waiter in watches:
                    waiter.event.set()

    def close(self) -> None:
        """Wake every watch, and set every later one at once."""
        with self._lock:
            self._closed = True
        self.wake_all()

    def clear(self) -> None:
        """Forget every watch (a forked child did not inherit its parent's waits)."""
        with self._lock:
            self._watches.clear()

    def waiting(self) -> int:
        """How many watches are open."""
        with self._lock:
            return sum(len(watches) for watches in self._watches.values())

    def keys_held(self) -> int:
        """How many keys the room holds state for: those with an open watch, no more."""
        with self._lock:
            return len(self._watches)


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
        """Nothing to report: every wait here is woken by a save made here."""
        return {}

    def waiting(self) -> int:
        """How many waits this process holds right now (a gauge, and a handle for tests)."""
        return self._room.waiting()

    def users_held(self) -> int:
        """How many users the notifier keeps state for: only those being waited on."""
        return self._room.keys_held()
