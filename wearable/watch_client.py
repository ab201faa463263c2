"""The reference watch's core: pair by voice, long-poll with ETags, track the clock, buzz on time.

The watch's clock is injected (`clock`, epoch seconds as the watch believes them), so a test
can set it seconds off the server's and check that the offset estimate puts every buzz back
on the server's cue time. Everything that talks to a person (printing, the terminal bell) is
the caller's, through `on_prompt`, `on_snapshot` and `on_buzz`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests

from shared.pairing import DEVICE_CODE_GRANT, SLOW_DOWN_STEP_S

from .buzz_scheduler import Buzz, BuzzScheduler
from .clock_sync import ClockSync

log = logging.getLogger(__name__)

#: How long each long poll asks the server to hold it (the server allows up to 30 s).
LONG_POLL_S = 25
#: Extra seconds a request may take beyond its long-poll wait before it is given up on.
REQUEST_SLACK_S = 10.0
RETRY_S = 2.0


class WatchError(Exception):
    """The server answered in a way the watch cannot carry on from."""


class Unpaired(WatchError):
    """The token is unknown or was revoked (e.g. "Alexa, unpair my watch"): pair again."""


class PairingFailed(WatchError):
    """The pairing expired or was refused; `.error` is the RFC 8628 error code."""

    def __init__(self, error: str) -> None:
        super().__init__(f"pairing failed: {error}")
        self.error = error


@dataclass(frozen=True, slots=True)
class PairingPrompt:
    """What the watch shows while it waits for the person to speak."""

    user_code: str
    spoken_code: str
    prompt: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class WatchCue:
    """One buzz to fire: when on the server's clock, and how it feels on the Web."""

    at_ms: int
    kind: str
    step_index: int
    side: str | None
    web_pattern: tuple[int, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WatchCue:
        return cls(
            at_ms=int(data["at_ms"]),
            kind=str(data["kind"]),
            step_index=int(data["step_index"]),
            side=data.get("side"),
            web_pattern=tuple(data["pattern"]["web"]),
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A 200 answer of GET /cues: the parsed cues and the rest as sent."""

    version: int
    state: str
    cues: tuple[WatchCue, ...]
    body: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Snapshot:
        cues = tuple(WatchCue.from_json(cue) for cue in body["cues"])
        return cls(int(body["version"]), str(body["state"]), cues, body)


def _ignore(*_: object) -> None:
    return None


class Watch:
    """A paired (or pairing) watch against one server; thread-safe for one poll loop."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        clock: Callable[[], float] = time.time,
        on_buzz: Callable[[Buzz[WatchCue]], None] = _ignore,
        on_snapshot: Callable[[Snapshot], None] = _ignore,
        long_poll_s: int = LONG_POLL_S,
        session: requests.Session | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.token = token
        self.clock = clock
        self.on_buzz = on_buzz
        self.on_snapshot = on_snapshot
        self.long_poll_s = long_poll_s
        self.sync = ClockSync()
        self.etag: str | None = None
        self.snapshot: Snapshot | None = None
        self.fired: list[Buzz[WatchCue]] = []
        self._session = session or requests.Session()
        self._control = requests.Session()  # actions from another thread than the poll loop
        #: Clock seconds per real second: above 1 only for a time-compressed demo.
        self.time_scale = time_scale
        self._scheduler: BuzzScheduler[WatchCue] = BuzzScheduler(
            clock, self._buzzed, time_scale=time_scale
        )
        self._scheduler_started = False

    def _url(self, path: str) -> str:
        return urljoin(self.base_url, f"api/v1/{path}")

    def _auth(self) -> dict[str, str]:
        if self.token is None:
            raise Unpaired("this watch has no token yet")
        return {"Authorization": f"Bearer {self.token}"}

    # -- pairing ------------------------------------------------------------------------

    def pair(
        self,
        on_prompt: Callable[[PairingPrompt], None],
        stop: threading.Event | None = None,
    ) -> str:
        """Get a code, show it through `on_prompt`, and poll until Alexa has bound it."""
        stop = stop or threading.Event()
        response = self._session.post(self._url("pairings"), timeout=REQUEST_SLACK_S)
        if response.status_code != 200:
            raise WatchError(f"could not start pairing: HTTP {response.status_code}")
        start = response.json()
        on_prompt(
            PairingPrompt(
                start["user_code"], start["user_code_spoken"], start["prompt"], start["expires_in"]
            )
        )
        interval = float(start["interval"])
        deadline = time.monotonic() + float(start["expires_in"]) / self.time_scale
        while time.monotonic() < deadline:
            if stop.wait(interval / self.time_scale):
                raise PairingFailed("stopped")
            answer = self._session.post(
                self._url("token"),
                data={"grant_type": DEVICE_CODE_GRANT, "device_code": start["device_code"]},
                timeout=REQUEST_SLACK_S,
            )
            body = answer.json()
            if answer.status_code == 200:
                self.token = str(body["access_token"])
                self.etag = None
                return self.token
            error = body.get("error", f"HTTP {answer.status_code}")
            if error == "slow_down":
                interval += SLOW_DOWN_STEP_S  # RFC 8628 3.5
            elif error != "authorization_pending":
                raise PairingFailed(error)
        raise PairingFailed("expired_token")

    # -- polling ------------------------------------------------------------------------

    def poll(self, wait_s: int = 0) -> Snapshot | None:
        """One GET /cues; a new Snapshot, or None when the ETag still holds (304)."""
        headers = self._auth()
        if self.etag:
            headers["If-None-Match"] = self.etag
        t0 = self.clock()
        response = self._session.get(
            self._url("cues"),
            params={"wait": wait_s, "client_send_ms": int(t0 * 1000)},
            headers=headers,
            timeout=wait_s + REQUEST_SLACK_S,
        )
        t3 = self.clock()
        if response.status_code == 401:
            self.token = None
            raise Unpaired("the server no longer knows this watch's token")
        if response.status_code not in (200, 304):
            raise WatchError(f"cue poll failed: HTTP {response.status_code}")
        received = response.headers.get("Server-Receive-Ms")
        sent = response.headers.get("Server-Send-Ms")
        if received and sent:
            self.sync.add(t0, int(received) / 1000, int(sent) / 1000, t3)
        if response.status_code == 304:
            self._reschedule()  # the offset estimate may have sharpened
            return None
        self.etag = response.headers.get("ETag")
        return self._take(Snapshot.from_json(response.json()))

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set; returns early (raising Unpaired) if the token is revoked."""
        self._scheduler_start()
        wait = 0
        while not stop.is_set():
            try:
                self.poll(wait)
                wait = self.long_poll_s
            except Unpaired:
                raise
            except (WatchError, requests.RequestException, ValueError) as exc:
                log.warning("poll failed (%s); retrying in %.0f s", exc, RETRY_S)
                stop.wait(RETRY_S)

    # -- control ------------------------------------------------------------------------

    def act(self, action: str) -> Snapshot:
        """Pause, resume, next, previous or repeat the run from the wrist."""
        response = self._control.post(
            self._url("actions"), json={"action": action}, headers=self._auth(), timeout=10
        )
        if response.status_code == 401:
            raise Unpaired("the server no longer knows this watch's token")
        if response.status_code != 200:
            detail = response.json().get("detail", "") if response.content else ""
            raise WatchError(f"{action} refused: HTTP {response.status_code} {detail}")
        self.etag = response.headers.get("ETag")
        return self._take(Snapshot.from_json(response.json()))

    def unpair(self) -> None:
        """Revoke this watch's token on the server and forget it here."""
        if self.token is not None:
            self._control.delete(self._url("devices/me"), headers=self._auth(), timeout=10)
        self.token = None
        self.etag = None

    def close(self) -> None:
        self._scheduler.stop()
        self._session.close()
        self._control.close()

    # -- scheduling ---------------------------------------------------------------------

    def _scheduler_start(self) -> None:
        if not self._scheduler_started:
            self._scheduler_started = True
            self._scheduler.start()

    def _take(self, snapshot: Snapshot) -> Snapshot:
        self.snapshot = snapshot
        self._reschedule()
        self.on_snapshot(snapshot)
        return snapshot

    def _reschedule(self) -> None:
        if self.snapshot is None:
            return
        offset = self.sync.offset_s
        self._scheduler.replace((cue.at_ms / 1000 - offset, cue) for cue in self.snapshot.cues)

    def _buzzed(self, buzz: Buzz[WatchCue]) -> None:
        self.fired.append(buzz)
        self.on_buzz(buzz)

    def pending_buzzes(self) -> list[WatchCue]:
        """The cues still scheduled to buzz, soonest first."""
        return [cue for _, cue in self._scheduler.pending()]

    def server_time(self, watch_time: float) -> float:
        """A time on this watch's clock, as the server's clock would read it."""
        return watch_time + self.sync.offset_s
