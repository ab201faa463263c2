"""Tokens this instance has seen valid, so a poll checks its token with no read of its own.

Every watch poll starts with its bearer token. Looking the token up costs a store read per
poll; remembering it must not let a revoked token live on, on this instance or any other.
So an entry is believed only together with a read the poll makes anyway: the user's stamps
(shared/stores/base.py:Stamps), whose watches epoch changes, to a value never used before,
whenever a watch of theirs is paired or unpaired, and disappears when the user is forgotten.
An entry filled under one epoch is dead under any other. Nothing has to reach other
instances: the epoch is in the shared store, and every instance reads it on every poll.

Filling an entry takes care. The watch is read, then the epoch, then the watch again: a
revocation deletes the watch before it changes the epoch, so if the watch is still there
after the epoch was read, that epoch was current while the watch was valid, and a revocation
after it moves the epoch on. Read in any other order, an entry could outlive its watch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

#: Entries kept; the least recently used go first. Ten thousand watches a worker fit easily.
MAX_KNOWN_TOKENS = 65_536


@dataclass(slots=True)
class KnownToken:
    """A token's user, the watches epoch it was valid under, and when it was last recorded."""

    user_id: str
    epoch: str
    last_seen_at: float


class KnownTokens:
    """A bounded map from token hash to KnownToken, least recently used out first."""

    def __init__(self, limit: int = MAX_KNOWN_TOKENS) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, KnownToken] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> KnownToken | None:
        with self._lock:
            known = self._entries.get(token_hash)
            if known is not None:
                self._entries.move_to_end(token_hash)
            return known

    def put(self, token_hash: str, known: KnownToken) -> None:
        with self._lock:
            self._entries[token_hash] = known
            self._entries.move_to_end(token_hash)
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)

    def drop(self, token_hash: str) -> None:
        with self._lock:
            self._entries.pop(token_hash, None)

    def __len__(self) -> int:
        return len(self._entries)
