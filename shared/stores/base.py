"""The storage contract both back ends honour: users, each user's current run, and history."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..routine.engine import RunState
from ..user_ref import user_ref

log = logging.getLogger(__name__)

#: The routine id an undecodable stored run reads as: no routine has it, so the engine
#: treats the run as unreadable (idle, version kept) and the next write replaces it.
UNDECODABLE_ROUTINE = ""


def decode_run(user_id: str, raw: str | bytes, version: int) -> RunState:
    """A stored run as the engine reads it; one that does not decode reads as idle.

    A record written by a newer release, or damaged on disk, must not fail every request of
    its user: it keeps its stored version, so compare-and-set still guards the replacement.
    """
    try:
        return RunState.from_dict(json.loads(raw))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning(
            "run of user %s cannot be decoded (%s); reading it as idle", user_ref(user_id), exc
        )
        return RunState(routine_id=UNDECODABLE_ROUTINE, version=version)


def user_counter_scope(user_id: str) -> str:
    """The scope of a user's own rate-limit counters: their keys are `<limit name>:<scope>`.

    A hash with its own label, so the key names no user and matches no other hash of the
    id; delete_user finds a forgotten user's counters by it.
    """
    return hashlib.sha256(b"sciatica-coach/counter-user:" + user_id.encode()).hexdigest()[:32]


def counter_scopes(user_id: str) -> tuple[str, ...]:
    """Every scope a user's counters may be kept under, for delete_user to remove them all.

    One today; a change of scheme adds the old one here until no counter under it can remain.
    """
    return (user_counter_scope(user_id),)


class VersionConflict(Exception):
    """Someone else saved this user's run first; reload and try again."""

    def __init__(
        self, user_id: str, expected: int | None, found: int | None, message: str = ""
    ) -> None:
        super().__init__(
            message
            or f"the run of user {user_ref(user_id)} changed under us: "
            f"expected version {expected}, found {found}"
        )
        self.user_id = user_id
        self.expected = expected
        self.found = found


class RetriesExhausted(VersionConflict):
    """Every compare-and-set attempt lost a race: the run kept changing while we tried."""

    def __init__(self, user_id: str, attempts: int, last: VersionConflict | None) -> None:
        expected = last.expected if last is not None else None
        found = last.found if last is not None else None
        super().__init__(
            user_id,
            expected,
            found,
            f"gave up on the run of user {user_ref(user_id)} after {attempts} attempts: "
            "another writer saved it first every time",
        )
        self.attempts = attempts


@dataclass(frozen=True, slots=True)
class UserRecord:
    """What we keep about a person: when we met them and whether they heard the safety note."""

    user_id: str
    created_at: float
    safety_heard_at: float | None = None


@dataclass(frozen=True, slots=True)
class UserVoice:
    """How a person's own speaker sounds to us: their fitted profile and their nudges.

    `profile` is a voice profile's JSON (shared/timing/profile.py), None when they never
    calibrated; `offset_s` is the sum of their "the buzz was early/late" nudges; `tuning`
    is a calibration by their own watch in progress (shared/timing/tuning.py's JSON), if any.
    """

    profile: str | None = None
    offset_s: float = 0.0
    tuning: str | None = None


@dataclass(frozen=True, slots=True)
class CompletedRun:
    """One finished routine, kept so a user can hear how they are getting on."""

    run_id: str
    routine_id: str
    started_at: float
    completed_at: float


@dataclass(frozen=True, slots=True)
class Stamps:
    """What a watch poll reads first, in one small read: the run's stamp and the watches' epoch.

    `run` is the text of the RunStamp saved with the run (None: no run, or one saved without
    a stamp). `watches` changes, to a value never used before, whenever the user's set of
    paired watches changes (a watch paired, one unpaired, all unpaired): a cache of tokens
    believes an entry only while the epoch it was filled under is still the user's.
    """

    run: str | None
    watches: str | None


def new_epoch() -> str:
    """A watches epoch never used before: random, so no store or restart can repeat one."""
    return secrets.token_hex(8)


class Store(Protocol):
    """Persistence for the core; every write to a run is compare-and-set on its version."""

    def ensure_user(self, user_id: str, now: float) -> UserRecord: ...

    def get_user(self, user_id: str) -> UserRecord | None: ...

    def mark_safety_heard(self, user_id: str, now: float) -> None: ...

    def load_voice(self, user_id: str) -> UserVoice:
        """The user's voice settings; the defaults (no profile, no nudge) if none are kept."""
        ...

    def save_voice(self, user_id: str, voice: UserVoice, now: float) -> None:
        """Keep `voice` as the user's settings, replacing what was there."""
        ...

    def load_settings(self, user_id: str) -> str | None:
        """The user's own settings as JSON (shared/routine/settings.py), None if never set."""
        ...

    def save_settings(self, user_id: str, settings: str, now: float) -> None:
        """Keep `settings` (JSON) as the user's own, replacing what was there."""
        ...

    def load_run(self, user_id: str) -> RunState | None: ...

    def load_run_and_stamp(self, user_id: str) -> tuple[RunState | None, str | None]:
        """The run and the stamp saved with it, read together (one read, one moment)."""
        ...

    def save_run(
        self,
        user_id: str,
        state: RunState,
        expected_version: int | None,
        completed: CompletedRun | None = None,
        stamp: str | None = None,
    ) -> None:
        """Save `state` only if the stored version is still `expected_version` (None: absent).

        `completed`, if given, goes into history in the same atomic write: a run saved as
        finished is never left out of history, whatever fails. Recording the same run twice
        keeps one entry (the first). `stamp` (RunStamp text) is saved in the same write, so
        a stamp never names a run other than the one stored.
        """
        ...

    def stamps(self, user_id: str) -> Stamps:
        """The user's run stamp and watches epoch, as one read (both None: nothing known)."""
        ...

    def history(self, user_id: str, limit: int = 20) -> list[CompletedRun]:
        """The user's latest finished runs, newest first, at most `limit` (negative: all)."""
        ...

    def history_since(self, user_id: str, since: float) -> list[CompletedRun]:
        """Every run the user finished at or after `since` (epoch s), newest first.

        A count of days (a streak, a week) needs every run in a span of time, however many
        there are, where history()'s limit would cut some off.
        """
        ...

    def delete_user(self, user_id: str) -> None:
        """Forget everything about a user (the skill was disabled).

        Their run, history, settings, voice settings, watches, pairings bound to them, and their own
        rate-limit counters (those scoped by counter_scopes(user_id)).
        """
        ...

    def close(self) -> None: ...


# -- watch pairing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairingRecord:
    """A watch waiting to be paired; only hashes of its codes are kept, never the codes."""

    device_code_hash: str
    user_code_hash: str
    created_at: float
    expires_at: float
    interval: int
    last_polled_at: float | None = None
    user_id: str | None = None
    bound_at: float | None = None
    denied: bool = False


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A paired watch: the hash of its access token and whose cues it may read."""

    token_hash: str
    user_id: str
    created_at: float
    last_seen_at: float


@dataclass(frozen=True, slots=True)
class CounterCharge:
    """One windowed attempt counter to charge: refused if `limit` is reached since `since`.

    `bucket` and `since` are bucket start times in whole seconds, so the same counters map
    onto Redis keys (INCR with an expiry) as easily as onto SQL rows.
    """

    key: str
    bucket: int
    since: int
    limit: int


class PairingStore(Protocol):
    """Persistence for pairing watches; each multi-step change is one atomic operation."""

    def add_pairing(self, pairing: PairingRecord) -> bool:
        """Insert a pairing; False if its user code is already live (the caller draws again)."""
        ...

    def pairing(self, device_code_hash: str) -> PairingRecord | None: ...

    def record_poll(self, device_code_hash: str, polled_at: float, interval: int) -> None:
        """Remember when a watch last asked for its token, and the interval it must keep."""
        ...

    def bind_pairing(self, user_code_hash: str, user_id: str, now: float) -> bool:
        """Give a live, unbound, undenied pairing to `user_id`; False if there is none."""
        ...

    def live_pairings(self, now: float) -> int:
        """How many pairings could still be bound: unexpired, unbound and not denied."""
        ...

    def deny_pairings_of(self, user_id: str, now: float) -> int:
        """Refuse every live pairing bound to `user_id` that its watch has not yet redeemed."""
        ...

    def redeem_pairing(self, device_code_hash: str, device: DeviceRecord, now: float) -> bool:
        """Swap a live pairing bound to `device.user_id` for the device, exactly once."""
        ...

    def purge_pairings(self, expired_before: float) -> int: ...

    def device(self, token_hash: str) -> DeviceRecord | None: ...

    def stamps(self, user_id: str) -> Stamps:
        """The user's watches epoch (and run stamp): changed by every change to their watches."""
        ...

    def renew_watches_epoch(self, user_id: str) -> None:
        """Give the user a watches epoch never used before (one kept before epochs had none)."""
        ...

    def touch_device(self, token_hash: str, now: float) -> None: ...

    def delete_device(self, token_hash: str) -> bool: ...

    def delete_devices_of(self, user_id: str) -> int: ...

    def charge_counters(self, charges: Sequence[CounterCharge]) -> bool:
        """Add one to every counter, or to none if any would pass its limit (atomic)."""
        ...

    def refund_counters(self, charges: Sequence[CounterCharge]) -> None:
        """Take back one charge from each counter (an attempt that turned out to be right)."""
        ...

    def purge_counters(self, older_than: int) -> int: ...
