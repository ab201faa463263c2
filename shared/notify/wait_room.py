"""The open waits of one process, by user: what both notifiers wake when a change arrives."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .base import wakes


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
