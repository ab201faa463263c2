"""A run's stamp: what names the run's snapshot, and until when, without reading the run.

Most watch polls ask "has anything changed since the snapshot I hold?". The answer depends
on the run's version, its id and the step under way, and on nothing else until the clock
reaches the moment the run moves on by itself (a hands-free reply reaches its next step, or
the last step ends). The Coach writes that, a few dozen bytes, beside every run it saves, so
a poll can answer from one small read instead of decoding the run and computing its cues.

A stamp is only believed by an engine running the very routine that wrote it (`routine` is
its fingerprint): a changed routine file can make a stored run unreadable, which only the
full read finds out and settles.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from functools import lru_cache

from .definition import Routine
from .engine import RunView


@dataclass(frozen=True, slots=True)
class RunStamp:
    """The run's identity at one version, and the moment it stops being the whole story."""

    version: int
    run_id: str | None
    step_index: int
    #: When the clock alone changes the run (a chained step begins, or the run ends);
    #: None: only a save changes it.
    fresh_until: float | None
    #: The fingerprint of the routine the run was read against (routine_fingerprint).
    routine: str
    #: Random per save, so a stamp's text names one saved run and no other, ever: a copy
    #: of the run kept beside it (Coach) is the stored run while the texts match.
    save: str = field(default_factory=lambda: secrets.token_hex(6))

    @classmethod
    def of(cls, view: RunView, routine: str) -> RunStamp:
        """The stamp of a run as `view` reads it, for an engine whose routine is `routine`."""
        moments = [at for at in (view.settles_at, view.advances_at) if at is not None]
        return cls(
            version=view.version,
            run_id=view.state.run_id,
            step_index=view.step_index,
            fresh_until=min(moments) if moments else None,
            routine=routine,
        )

    def current(self, now: float, routine: str) -> bool:
        """Whether the stamp still tells the whole story at `now`, for this routine."""
        if routine != self.routine:
            return False
        return self.fresh_until is None or now < self.fresh_until

    def to_text(self) -> str:
        """One short line for the store: cheap to write beside the run and cheap to read."""
        until = "" if self.fresh_until is None else repr(self.fresh_until)
        return (
            f"1|{self.version}|{self.step_index}|{until}|{self.routine}|{self.save}|"
            f"{self.run_id or ''}"
        )

    @classmethod
    def from_text(cls, text: str | None) -> RunStamp | None:
        """The stamp a store holds, or None for none or one this release cannot read."""
        if not text:
            return None
        return _parsed(text)


#: Stamps read again and again (every poll of every watch reads its user's) are parsed once.
_PARSED_STAMPS = 16_384


@lru_cache(maxsize=_PARSED_STAMPS)
def _parsed(text: str) -> RunStamp | None:
    parts = text.split("|", 6)
    if len(parts) != 7 or parts[0] != "1":
        return None
    _, version, step, until, routine, save, run_id = parts
    try:
        return RunStamp(
            version=int(version),
            run_id=run_id or None,
            step_index=int(step),
            fresh_until=float(until) if until else None,
            routine=routine,
            save=save,
        )
    except ValueError:
        return None


def routine_fingerprint(routine: Routine) -> str:
    """A short digest of everything a run is read against, so a changed routine is noticed."""
    return hashlib.sha256(repr(routine).encode()).hexdigest()[:16]
