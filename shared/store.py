"""The storage contract both back ends honour: users, each user's current run, and history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .engine import RunState


class VersionConflict(Exception):
    """Someone else saved this user's run first; reload and try again."""

    def __init__(self, user_id: str, expected: int | None, found: int | None) -> None:
        super().__init__(f"run changed under us: expected version {expected}, found {found}")
        self.user_id = user_id
        self.expected = expected
        self.found = found


@dataclass(frozen=True, slots=True)
class UserRecord:
    """What we keep about a person: when we met them and whether they heard the safety note."""

    user_id: str
    created_at: float
    safety_heard_at: float | None = None


@dataclass(frozen=True, slots=True)
class CompletedRun:
    """One finished routine, kept so a user can hear how they are getting on."""

    run_id: str
    routine_id: str
    started_at: float
    completed_at: float


class Store(Protocol):
    """Persistence for the core; every write to a run is compare-and-set on its version."""

    def ensure_user(self, user_id: str, now: float) -> UserRecord: ...

    def get_user(self, user_id: str) -> UserRecord | None: ...

    def mark_safety_heard(self, user_id: str, now: float) -> None: ...

    def load_run(self, user_id: str) -> RunState | None: ...

    def save_run(self, user_id: str, state: RunState, expected_version: int | None) -> None:
        """Save `state` only if the stored version is still `expected_version` (None: absent)."""
        ...

    def record_completion(self, user_id: str, run: CompletedRun) -> None:
        """Add a finished run to history; recording the same run twice keeps one row."""
        ...

    def history(self, user_id: str, limit: int = 20) -> list[CompletedRun]: ...

    def delete_user(self, user_id: str) -> None:
        """Forget everything about a user (the skill was disabled)."""
        ...

    def close(self) -> None: ...
