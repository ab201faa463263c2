"""The one door both sides go through: load a user's run, apply an event, save it safely."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..clock import Clock
from ..notify.base import FORGOTTEN, ChangeNotifier
from ..notify.local import LocalNotifier
from ..recent import Recent
from ..stores.base import CompletedRun, RetriesExhausted, Store, UserRecord, VersionConflict
from ..user_ref import user_ref
from .definition import Routine
from .engine import Event, LeadIn, RoutineEngine, RunState, RunView, Status, Transition
from .progress import Progress, read_progress
from .settings import Settings, SettingsError
from .stamp import RunStamp, routine_fingerprint

log = logging.getLogger(__name__)

#: How often a write is retried after losing a compare-and-set race.
CAS_ATTEMPTS = 8
#: Runs kept as last read or saved, by user, for polls that name the stamp they were saved with.
MAX_RECENT_RUNS = 16_384
#: Events that may begin a new run, planned from the person's settings.
_STARTS = frozenset({Event.START, Event.START_OVER})


@dataclass(frozen=True, slots=True)
class Outcome:
    """A transition together with how the run looks right after it."""

    transition: Transition
    view: RunView


class Coach:
    """Routine service shared by the voice and the watch, so neither can drift from the other."""

    def __init__(
        self,
        store: Store,
        engine: RoutineEngine,
        clock: Clock,
        notifier: ChangeNotifier | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.clock = clock
        self.notifier = notifier or LocalNotifier()
        #: Stamps written by an engine on another routine are not believed (stamp.py).
        self.routine_stamp = routine_fingerprint(engine.routine)
        # user -> (stamp text, the run saved with it): the stored run while the texts match.
        self._recent: Recent[str, tuple[str, RunState]] = Recent(MAX_RECENT_RUNS)

    @property
    def routine(self) -> Routine:
        return self.engine.routine

    def user(self, user_id: str) -> UserRecord:
        return self.store.ensure_user(user_id, self.clock.now())

    def mark_safety_heard(self, user_id: str) -> None:
        self.store.mark_safety_heard(user_id, self.clock.now())

    def settings(self, user_id: str) -> Settings:
        """The person's own settings; the defaults if none are kept or the record is damaged.

        A damaged record must not stop a routine: it reads as the defaults (logged), and the
        next change replaces it.
        """
        raw = self.store.load_settings(user_id)
        try:
            return Settings.loads(raw)
        except SettingsError as exc:
            log.warning(
                "settings of user %s cannot be read (%s); using the defaults",
                user_ref(user_id),
                exc,
            )
            return Settings()

    def change_settings(self, user_id: str, *, by_voice: bool = False, **changes: Any) -> Settings:
        """Check and keep a change to the person's settings; SettingsError names a wrong one.

        A run under way takes them from the next step no reply has said yet (its watches
        are woken, so they show the new plan at once). Asked `by_voice`, the words cut off
        any reply in flight, so the plan changes from the step under way.
        """
        settings = self.settings(user_id).changed(**changes)
        self.store.save_settings(user_id, settings.dumps(), self.clock.now())
        self._replan(user_id, settings, by_voice)
        return settings

    def _replan(self, user_id: str, settings: Settings, by_voice: bool) -> None:
        last: VersionConflict | None = None
        for _ in range(CAS_ATTEMPTS):
            stored = self.store.load_run(user_id)
            if stored is None:
                return
            now = self.clock.now()
            settled = self.engine.settle(stored, now)
            replanned = self.engine.replan(settled, settings, now if by_voice else None)
            if replanned is stored:
                return
            if replanned is settled:  # nothing to re-plan, but the run had settled
                replanned = settled
            try:
                self._save(user_id, stored, replanned, settled)
            except VersionConflict as conflict:
                last = conflict
                continue
            return
        raise RetriesExhausted(user_id, CAS_ATTEMPTS, last)

    def apply(self, user_id: str, event: Event, lead_in: LeadIn = None) -> Outcome:
        """Apply an event with compare-and-set, retrying if another writer got there first."""
        last: VersionConflict | None = None
        # Only a run that starts now is planned from the person's settings.
        settings = self.settings(user_id) if event in _STARTS else None
        for attempt in range(CAS_ATTEMPTS):
            stored = self.store.load_run(user_id)
            state = stored or self.engine.new_state()
            now = self.clock.now()
            transition = self.engine.apply(state, event, now, lead_in, settings)
            if transition.changed:
                try:
                    # A run that ran past its end is settled first; keep it in history even
                    # when this event (start, start over) replaces it straight away.
                    settled = self.engine.settle(state, now)
                    self._save(user_id, stored, transition.state, settled)
                except VersionConflict as conflict:
                    log.info(
                        "run conflict for user %s on attempt %d; retrying",
                        user_ref(user_id),
                        attempt + 1,
                    )
                    last = conflict
                    continue
            return Outcome(transition, self.engine.view(transition.state, now))
        raise RetriesExhausted(user_id, CAS_ATTEMPTS, last)

    def view(self, user_id: str, stamp: str | None = None) -> RunView:
        """The run as it is now, recording completion if time has run past the last step.

        `stamp`, the stamp text the caller has just read from the store, lets a run kept
        from an earlier read stand in for reading it again: a stamp names one save only.
        """
        last: VersionConflict | None = None
        for _ in range(CAS_ATTEMPTS):
            stored = self._load(user_id, stamp)
            stamp = None  # after a lost race, read the store again
            state = stored or self.engine.new_state()
            now = self.clock.now()
            settled = self.engine.settle(state, now)
            if settled is not state:
                try:
                    self._save(user_id, stored, settled)
                except VersionConflict as conflict:
                    last = conflict
                    continue
            return self.engine.view(settled, now)
        raise RetriesExhausted(user_id, CAS_ATTEMPTS, last)

    def _load(self, user_id: str, stamp: str | None) -> RunState | None:
        if stamp is None:
            return self.store.load_run(user_id)
        kept = self._recent.get(user_id)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        stored, saved_with = self.store.load_run_and_stamp(user_id)
        if stored is not None and saved_with is not None:
            self._recent.put(user_id, (saved_with, stored))
        return stored

    def stamp_of(self, text: str | None) -> RunStamp | None:
        """The stored stamp, if it still tells the whole story now; None: read the run."""
        stamp = RunStamp.from_text(text)
        if stamp is None or not stamp.current(self.clock.now(), self.routine_stamp):
            return None
        return stamp

    def forget(self, user_id: str) -> None:
        """Delete everything about a user and wake their watches so they notice."""
        self.store.delete_user(user_id)
        self._recent.drop(user_id)
        self.notifier.publish(user_id, FORGOTTEN)

    def history(self, user_id: str, limit: int = 20) -> list[CompletedRun]:
        return self.store.history(user_id, limit)

    def history_since(self, user_id: str, since: float) -> list[CompletedRun]:
        """Every run the user finished at or after `since`, newest first."""
        return self.store.history_since(user_id, since)

    def progress(self, user_id: str, time_zone: str | None = None) -> Progress:
        """How the person is getting on, now, in their own days (shared/routine/progress.py).

        `time_zone` is where they are now, if the caller knows (the voice asks their Alexa
        device); None counts in the zone kept in their settings, else in UTC.
        """
        zone = time_zone if time_zone is not None else self.settings(user_id).time_zone
        return read_progress(self.store, user_id, self.clock.now(), zone)

    def _save(
        self,
        user_id: str,
        stored: RunState | None,
        new: RunState,
        settled: RunState | None = None,
    ) -> None:
        """Save `new`, with the run it finished (if any) going into history in the same write,
        and its stamp beside it."""
        stamp = RunStamp.of(self.engine.view(new, self.clock.now()), self.routine_stamp).to_text()
        self.store.save_run(
            user_id,
            new,
            None if stored is None else stored.version,
            completed=_finished(settled) or _finished(new),
            stamp=stamp,
        )
        self._recent.put(user_id, (stamp, new))
        self.notifier.publish(user_id, new.version)


def _finished(run: RunState | None) -> CompletedRun | None:
    """The history entry of a run that has completed, else None."""
    if run is None or run.status is not Status.COMPLETED or not run.run_id:
        return None
    if run.completed_at is None:
        return None
    return CompletedRun(run.run_id, run.routine_id, run.started_at or 0.0, run.completed_at)
