"""`sciatica-watch`: a watch in the terminal that pairs by voice and prints each buzz on time.

    sciatica-watch --server http://127.0.0.1:8000 --bell

The token is kept in the user's config directory (mode 0600), so it pairs once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
import requests

from .buzz_scheduler import Buzz
from .watch_client import (
    ACTIONS,
    LONG_POLL_S,
    History,
    PairingFailed,
    PairingPrompt,
    Snapshot,
    Unpaired,
    Watch,
    WatchCue,
    WatchError,
    describe_failure,
)

_FEEL = {
    "hold_start": "one buzz: start holding",
    "hold_warning": "two ticks: five seconds left",
    "hold_end": "three pulses: release",
    "routine_complete": "long swell: all done",
}


def default_token_file() -> Path:
    return Path(platformdirs.user_config_dir("sciatica-coach", appauthor=False)) / "watch-token"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sciatica-watch", description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8000", help="the coach's base URL")
    parser.add_argument("--token-file", type=Path, default=None, help="where the token is kept")
    parser.add_argument("--bell", action="store_true", help="ring the terminal bell on a buzz")
    parser.add_argument("--wait", type=int, default=LONG_POLL_S, help="long-poll seconds (<=30)")
    parser.add_argument("--action", choices=ACTIONS, help="send one action and exit")
    parser.add_argument(
        "--history", action="store_true", help="print how the routine is going, and exit"
    )
    parser.add_argument("--unpair", action="store_true", help="unpair this watch and exit")
    return parser


class Printer:
    """Writes what the watch shows and feels, one line each, stamped with the server's time."""

    def __init__(self, watch: Watch, out: TextIO, bell: bool) -> None:
        self.watch = watch
        self.out = out
        self.bell = bell

    def _stamp(self, watch_time: float) -> str:
        server = self.watch.server_time(watch_time)
        return datetime.fromtimestamp(server).strftime("%H:%M:%S.%f")[:-3]

    def prompt(self, prompt: PairingPrompt) -> None:
        self.out.write(f"{prompt.prompt}\n(the code works for {prompt.expires_in // 60} min)\n")
        self.out.flush()

    def snapshot(self, snapshot: Snapshot) -> None:
        step = snapshot.body.get("step")
        where = f"step {step['index'] + 1}/{step['count']} {step['title']}" if step else "no step"
        cues = len(snapshot.cues)
        self.out.write(f"[{self._stamp(self.watch.clock())}] {snapshot.state}: {where}")
        self.out.write(f" ({cues} buzz{'es' if cues != 1 else ''} scheduled)\n")
        self.out.flush()

    def history(self, history: History) -> None:
        """This week, the streak and the last days, in the person's own days."""
        runs = _runs(history.runs_this_week)
        line = f"This week: {runs}."
        if history.streak_days:
            today = "" if history.done_today else ", none yet today"
            line += f" Streak: {history.streak_days} day{_s(history.streak_days)}{today}."
        self.out.write(line + "\n")
        if history.last_completed_ms is not None:
            zone = _zone(history.time_zone)
            last = datetime.fromtimestamp(history.last_completed_ms / 1000, zone)
            self.out.write(f"Last run: {last:%a %d %b %Y %H:%M} ({history.time_zone}).\n")
        days = [
            f"{date.fromisoformat(day):%a} {runs}" if day != history.today else f"today {runs}"
            for day, runs in history.last_days
        ]
        self.out.write(f"Last {len(days)} days: {', '.join(days)}.\n")
        self.out.flush()

    def buzz(self, buzz: Buzz[WatchCue]) -> None:
        cue = buzz.cue
        side = f", {cue.side}" if cue.side else ""
        bell = "\a" if self.bell else ""
        feel = _FEEL.get(cue.kind, cue.kind)
        line = f"[{self._stamp(buzz.fired)}] BUZZ {cue.kind} ({feel}; step {cue.step_index + 1}"
        self.out.write(f"{bell}{line}{side})\n")
        self.out.flush()


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _runs(count: int) -> str:
    return f"{count} run{_s(count)}"


def _zone(name: str) -> tzinfo:
    """The person's zone, or UTC where this machine does not know it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _load_token(path: Path) -> str | None:
    try:
        return path.read_text("utf-8").strip() or None
    except FileNotFoundError:
        return None


def _save_token(path: Path, token: str | None) -> None:
    if token is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token)


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    if not 0 <= args.wait <= 30:
        print("--wait must be from 0 to 30", file=sys.stderr)
        return 2
    token_file = args.token_file or default_token_file()
    watch = Watch(args.server, token=_load_token(token_file), long_poll_s=args.wait)
    printer = Printer(watch, out, args.bell)
    watch.on_snapshot = printer.snapshot
    watch.on_buzz = printer.buzz
    stop = threading.Event()
    try:
        if args.unpair:
            watch.unpair()
            _save_token(token_file, None)
            out.write("Unpaired.\n")
            return 0
        while True:
            if watch.token is None:
                _save_token(token_file, watch.pair(printer.prompt, stop))
                out.write("Paired.\n")
            if args.action:
                watch.act(args.action)
                return 0
            if args.history:
                printer.history(watch.history())
                return 0
            try:
                watch.run(stop)
            except Unpaired:
                out.write("This watch was unpaired; pairing again.\n")
                _save_token(token_file, None)
    except PairingFailed as exc:
        print(f"Pairing failed: {exc.error}", file=sys.stderr)
        return 1
    except WatchError as exc:  # the server stayed unreachable, or refused for good
        print(f"sciatica-watch: {exc}", file=sys.stderr)
        return 1
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:  # not retried
        print(f"sciatica-watch: {args.server}: {describe_failure(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop.set()
        watch.close()


if __name__ == "__main__":
    sys.exit(main())
