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

from .buzz_scheduler import Buzz, BuzzScheduler
from .clock_sync import ClockSync

log = logging.getLogger(__name__)

# What the watch API's contract (docs/WATCH_API.md) fixes, kept here so the watch depends on
# the documented API rather than on the server's code (a test holds the two together):
#: RFC 8628 3.4: the grant type that trades a device code for a token.
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: RFC 8628 3.5: after `slow_down` a watch polls this many seconds less often, for good.
SLOW_DOWN_STEP_S = 5
#: What `POST /api/v1/actions` takes: the buttons a watch face has.
ACTIONS = ("pause", "resume", "next", "previous", "repeat")

#: How long each long poll asks the server to hold it (the server allows up to 30 s).
LONG_POLL_S = 25
#: Extra seconds a request may take beyond its long-poll wait before it is given up on.
REQUEST_SLACK_S = 10.0
#: The first wait after a failed request; each failure in a row doubles it, up to MAX_RETRY_S.
RETRY_S = 2.0
MAX_RETRY_S = 30.0
#: While its clock estimate is worse than SYNC_TARGET_S, a watch that has just started (or
#: reached the server again after failures) polls at once up to this many times, SYNC_GAP_S
#: apart, before it settles into long polls: NTP's iburst. Each answer is a clock sample, and
#: the filter's error falls with the number of samples; on a quick network the first answer
#: usually meets the target already, and no extra request is made.
SYNC_BURST = 8
SYNC_GAP_S = 0.25
SYNC_TARGET_S = 0.005
#: How often pairing tries to reach the server before it gives up with a clear message
#: (with the waits above, about two minutes).
PAIR_START_ATTEMPTS = 8


class WatchError(Exception):
    """The server answered in a way the watch cannot carry on from."""


class ServerUnreachable(WatchError):
    """The server could not be reached, or answered as no watch API does, however often asked."""


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


@dataclass(frozen=True, slots=True)
class History:
    """The answer of GET /history: how the person is getting on, in their own days."""

    time_zone: str
    today: str
    runs_this_week: int
    streak_days: int
    done_today: bool
    last_completed_ms: int | None
    #: (ISO date, runs) for each of the last days, oldest first: today is the last.
    last_days: tuple[tuple[str, int], ...]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> History:
        """The fields the watch shows, or ValueError if the answer lacks one."""
        counts = {name: body.get(name) for name in ("runs_this_week", "streak_days")}
        if not all(_is_count(value) for value in counts.values()):
            raise ValueError("no runs_this_week or streak_days in the answer")
        last = body.get("last_completed_ms")
        days = body.get("last_days")
        if not isinstance(days, list) or not all(
            isinstance(day, dict)
            and isinstance(day.get("date"), str)
            and _is_count(day.get("runs"))
            for day in days
        ):
            raise ValueError("no last_days in the answer")
        if last is not None and not _is_count(last):
            raise ValueError("no last_completed_ms in the answer")
        return cls(
            time_zone=str(body["time_zone"]),
            today=str(body["today"]),
            runs_this_week=int(body["runs_this_week"]),
            streak_days=int(body["streak_days"]),
            done_today=bool(body["done_today"]),
            last_completed_ms=last,
            last_days=tuple((day["date"], day["runs"]) for day in days),
        )


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _ignore(*_: object) -> None:
    return None


def backoff_s(failures: int, first_s: float = RETRY_S, cap_s: float = MAX_RETRY_S) -> float:
    """The wait after `failures` failed requests in a row: doubling, never past the cap."""
    return min(cap_s, first_s * 2 ** max(0, failures - 1))


def describe_failure(exc: Exception) -> str:
    """A short reason for a failed request, without requests' nested repr."""
    if isinstance(exc, ValueError | KeyError | TypeError):  # requests' JSONDecodeError too
        return "the answer was not the watch API's JSON"
    if isinstance(exc, requests.Timeout):
        return "the request timed out"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect (is the server running, and is the URL right?)"
    return f"the request failed ({type(exc).__name__})"


def _json_object(response: requests.Response) -> dict[str, Any]:
    body = response.json()  # ValueError (requests' JSONDecodeError) if it is not JSON
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body


def _pairing_start(body: dict[str, Any]) -> dict[str, Any]:
    """The answer of POST /pairings if it has every field the watch uses, else ValueError."""
    for name in ("device_code", "user_code", "user_code_spoken", "prompt"):
        if not isinstance(body.get(name), str):
            raise ValueError(f"no {name} in the answer")
    for name in ("interval", "expires_in"):
        value = body.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"no {name} in the answer")
    return body


def _detail(response: requests.Response) -> str:
    """The problem's `detail`, if the answer is a problem document at all."""
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else ""


def _retry_after_s(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


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
        retry_s: float = RETRY_S,
        max_retry_s: float = MAX_RETRY_S,
        pair_attempts: int = PAIR_START_ATTEMPTS,
        sync_burst: int = SYNC_BURST,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.token = token
        self.clock = clock
        self.on_buzz = on_buzz
        self.on_snapshot = on_snapshot
        self.long_poll_s = long_poll_s
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self.pair_attempts = pair_attempts
        self.sync_burst = sync_burst
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
        """Get a code, show it through `on_prompt`, and poll until Alexa has bound it.

        A server that is down, overloaded or answering garbage is retried with a doubling
        wait, as the poll loop does; after `pair_attempts` tries at the start, or when the
        code expires while the server stays unreachable, ServerUnreachable says why.
        """
        stop = stop or threading.Event()
        start = self._start_pairing(stop)
        on_prompt(
            PairingPrompt(
                start["user_code"], start["user_code_spoken"], start["prompt"], start["expires_in"]
            )
        )
        interval = float(start["interval"])
        deadline = time.monotonic() + float(start["expires_in"]) / self.time_scale
        failures = 0
        problem: str | None = None
        while time.monotonic() < deadline:
            wait = interval / self.time_scale
            if failures:
                wait = max(wait, self._backoff(failures))
            if stop.wait(wait):
                raise PairingFailed("stopped")
            try:
                answer = self._session.post(
                    self._url("token"),
                    data={"grant_type": DEVICE_CODE_GRANT, "device_code": start["device_code"]},
                    timeout=REQUEST_SLACK_S,
                )
                body = _json_object(answer)
                if answer.status_code == 200:
                    token = body["access_token"]
                    if not isinstance(token, str) or not token:
                        raise ValueError("no access_token in the answer")
                    self.token = token
                    self.etag = None
                    return self.token
            except (requests.RequestException, ValueError, KeyError) as exc:
                failures += 1
                problem = describe_failure(exc)
                log.warning("token poll failed (%s); trying again", problem)
                continue
            error = body.get("error")
            if error is None:  # a problem document from a proxy or an overloaded server
                failures += 1
                problem = f"HTTP {answer.status_code}"
                continue
            failures, problem = 0, None
            if error == "slow_down":
                interval += SLOW_DOWN_STEP_S  # RFC 8628 3.5
            elif error != "authorization_pending":
                raise PairingFailed(str(error))
        if problem is not None:
            raise ServerUnreachable(
                f"the pairing code expired while {self.base_url} could not be reached: {problem}"
            )
        raise PairingFailed("expired_token")

    def _start_pairing(self, stop: threading.Event) -> dict[str, Any]:
        """POST /pairings until it answers, waiting longer after each failure."""
        problem = "no attempt was made"
        for attempt in range(1, self.pair_attempts + 1):
            delay: float | None = None
            try:
                response = self._session.post(self._url("pairings"), timeout=REQUEST_SLACK_S)
                if response.status_code == 200:
                    return _pairing_start(_json_object(response))
                if response.status_code != 429 and response.status_code < 500:
                    # A 404 or 405 will not go away: most likely the URL is not a coach.
                    raise WatchError(
                        f"could not start pairing at {self.base_url}: HTTP "
                        f"{response.status_code} (is this the coach's address?)"
                    )
                problem = f"HTTP {response.status_code}"
                delay = _retry_after_s(response)
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                problem = describe_failure(exc)
            if attempt == self.pair_attempts:
                break
            wait = min(self.max_retry_s, delay) if delay is not None else self._backoff(attempt)
            log.warning("could not start pairing (%s); trying again in %.1f s", problem, wait)
            if stop.wait(wait):
                raise PairingFailed("stopped")
        raise ServerUnreachable(
            f"could not start pairing at {self.base_url} after {self.pair_attempts} tries: "
            f"{problem}"
        )

    def _backoff(self, failures: int) -> float:
        return backoff_s(failures, self.retry_s, self.max_retry_s)

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
        self._clock_sample(response, t0, t3)
        if response.status_code == 304:
            self._reschedule()  # the offset estimate may have sharpened
            return None
        self.etag = response.headers.get("ETag")
        return self._take(Snapshot.from_json(response.json()))

    def _clock_sample(self, response: requests.Response, t0: float, t3: float) -> None:
        """Feed the clock filter from an answer's stamps, if it has both."""
        received = response.headers.get("Server-Receive-Ms", "")
        sent = response.headers.get("Server-Send-Ms", "")
        if received.isdigit() and sent.isdigit():
            self.sync.add(t0, int(received) / 1000, int(sent) / 1000, t3)

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set; returns early (raising Unpaired) if the token is revoked.

        A failed poll (server down, a proxy's error page, an answer of the wrong shape) is
        retried after a wait that doubles with each failure in a row; buzzes already
        scheduled keep firing meanwhile.
        """
        self._scheduler_start()
        quick = self.sync_burst  # polls without a wait left, while the clock is uncertain
        failures = 0
        while not stop.is_set():
            try:
                self.poll(self.long_poll_s if quick <= 0 else 0)
                failures = 0
                if quick > 0 and self.sync.error_s > SYNC_TARGET_S:
                    quick -= 1
                    stop.wait(SYNC_GAP_S / self.time_scale)
                else:
                    quick = 0
            except Unpaired:
                raise
            except (WatchError, requests.RequestException, ValueError, KeyError, TypeError) as exc:
                failures += 1
                quick = self.sync_burst  # reached again, perhaps by another path: resample
                pause = self._backoff(failures)
                log.warning("poll failed (%s); retrying in %.1f s", exc, pause)
                stop.wait(pause)

    # -- control ------------------------------------------------------------------------

    def act(self, action: str) -> Snapshot:
        """Pause, resume, next, previous or repeat the run from the wrist."""
        t0 = self.clock()
        response = self._control.post(
            self._url("actions"), json={"action": action}, headers=self._auth(), timeout=10
        )
        t3 = self.clock()
        if response.status_code == 200:
            self._clock_sample(response, t0, t3)  # an action's answer is a clock sample too
        if response.status_code == 401:
            raise Unpaired("the server no longer knows this watch's token")
        if response.status_code != 200:
            detail = _detail(response)
            raise WatchError(f"{action} refused: HTTP {response.status_code} {detail}".rstrip())
        self.etag = response.headers.get("ETag")
        return self._take(Snapshot.from_json(response.json()))

    def history(self) -> History:
        """How the person is getting on: this week, the streak, the last days."""
        response = self._control.get(self._url("history"), headers=self._auth(), timeout=10)
        if response.status_code == 401:
            raise Unpaired("the server no longer knows this watch's token")
        if response.status_code != 200:
            detail = _detail(response)
            raise WatchError(f"history refused: HTTP {response.status_code} {detail}".rstrip())
        return History.from_json(_json_object(response))

    def unpair(self) -> None:
        """Revoke this watch's token on the server and forget it here.

        If the server cannot be reached or refuses, the token is kept (it still works there)
        and the error is raised; a 401 means it was already unpaired.
        """
        if self.token is not None:
            response = self._control.delete(
                self._url("devices/me"), headers=self._auth(), timeout=10
            )
            if response.status_code not in (204, 401):
                raise WatchError(f"unpair refused: HTTP {response.status_code} {_detail(response)}")
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
