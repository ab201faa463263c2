"""Where users, runs, history, voices and watches are kept.

- base.py: the contract both back ends honour (Store, PairingStore), their records and errors
- sqlite.py: one SQLite file in WAL mode, the default
- redis.py: one Redis shared by many instances, its scripts in lua/
"""

from .base import (
    CompletedRun,
    PairingStore,
    RetriesExhausted,
    Store,
    UserRecord,
    UserVoice,
    VersionConflict,
)

__all__ = [
    "CompletedRun",
    "PairingStore",
    "RetriesExhausted",
    "Store",
    "UserRecord",
    "UserVoice",
    "VersionConflict",
]
