"""Another process on the same SQLite file, run by tests/shared/stores/test_sqlite.py.

python -m tests.support.store_worker bump DB USER COUNT
    Waits for a line on stdin, then adds one to USER's run version COUNT times with
    compare-and-set, retrying lost races; prints how many races it lost.
python -m tests.support.store_worker hold DB USER NOW LEAD_IN INTO_HOLD STEP PAUSE(0/1)
    Starts USER's routine at epoch NOW, moves on to STEP, goes INTO_HOLD seconds into
    its hold and, if PAUSE is 1, pauses there; then the process exits.
"""

from __future__ import annotations

import sys

from shared.clock import ManualClock
from shared.routine.coach import Coach
from shared.routine.definition import load_routine
from shared.routine.engine import Event, RoutineEngine
from shared.stores.sqlite import SQLiteStore
from tests.support.stores import bump_versions


def bump(db: str, user: str, count: int) -> None:
    store = SQLiteStore(db)
    print("ready", flush=True)
    sys.stdin.readline()
    lost = bump_versions(store, user, count)
    store.close()
    print(lost, flush=True)


def hold(
    db: str, user: str, now: float, lead_in: float, into: float, step: int, pause: bool
) -> None:
    store = SQLiteStore(db)
    clock = ManualClock(now)
    coach = Coach(store, RoutineEngine(load_routine()), clock)
    coach.apply(user, Event.START, lead_in)
    for _ in range(step):
        coach.apply(user, Event.NEXT, lead_in)
    clock.advance(lead_in + into)
    if pause:
        coach.apply(user, Event.PAUSE)
    store.close()


def main(argv: list[str]) -> None:
    command, db, user, *rest = argv
    if command == "bump":
        bump(db, user, int(rest[0]))
    elif command == "hold":
        now, lead_in, into, step, pause = rest
        hold(db, user, float(now), float(lead_in), float(into), int(step), pause == "1")
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
