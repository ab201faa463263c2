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

from dataclasses import dataclass

from ..recent import Recent

#: Entries kept; the least recently used go first. Ten thousand watches a worker fit easily.
MAX_KNOWN_TOKENS = 65_536


@dataclass(slots=True)
class KnownToken:
    """A token's user, the watches epoch it was valid under, and when it was last recorded."""

    user_id: str
    epoch: str
    last_seen_at: float


class KnownTokens(Recent[str, KnownToken]):
    """Token hash to KnownToken, least recently used out first."""

    def __init__(self, limit: int = MAX_KNOWN_TOKENS) -> None:
        super().__init__(limit)
