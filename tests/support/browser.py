"""Real headless Chromium for the watch face's tests: launch it, open the face, pair it.

Debian's chromium through Playwright for Python (never `playwright install`). Without them
a browser test skips, unless CI is set: there it must run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from shared.pairing.service import PairingService
from shared.routine.cues import CueKind
from skill.spoken_code import parse_spoken_code
from wearable.api.haptics import pattern_for, to_web_vibration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SPOKEN_CODE = re.compile(r"^\d( \d){5}$")

#: Whole-millisecond timestamps on both clocks can move an NTP estimate by this much more.
CLOCK_ROUNDING_MS = 2
#: A browser may run a timer this much before its delay (it rounds to whole milliseconds).
TIMER_EARLY_MS = 2
#: The face's own rule (watch.js LATE_TOLERANCE_MS): a cue later than this is not buzzed.
FACE_LATE_TOLERANCE_MS = 500
#: The short buzz the face gives when tapped to turn buzzing on.
ENABLE_BUZZ = [60]


def cue_vibrations(page: Any) -> list[dict[str, Any]]:
    return [v for v in page.evaluate("window.__vibrations") if v["pattern"] != ENABLE_BUZZ]


def assert_buzzed_on_cue(page: Any, cues: list[float], skew_ms: int = 0) -> list[dict[str, Any]]:
    """Each cue was aimed at its server time and buzzed then, on the true clock.

    Two claims, held apart so that neither depends on how busy the machine is. The aim: the
    face meant to buzz at the cue's server time, to within what its clock estimate can be
    wrong by (NTP's bound, half the round trip of the sample it trusts; a busy machine makes
    round trips longer and says so). The firing: never before the aim, and no later than the
    face's own late tolerance; how late a starved tab's timers run is a figure for the
    benchmarks (bench_cue_timing), not a pass mark. The vibration is that buzz.
    """
    buzzes = page.evaluate("window.sciaticaWatch.buzzes()")
    vibrations = cue_vibrations(page)
    assert [b["at_ms"] for b in buzzes] == [round(at * 1000) for at in cues]
    assert len(vibrations) == len(buzzes)
    for buzz, vibration, at in zip(buzzes, vibrations, cues, strict=True):
        assert buzz["due_ms"] == buzz["at_ms"] - buzz["offset_ms"], buzz
        aimed_true = buzz["due_ms"] - skew_ms
        assert abs(aimed_true - at * 1000) <= buzz["error_ms"] + CLOCK_ROUNDING_MS, buzz
        late = buzz["fired_ms"] - buzz["due_ms"]
        assert -TIMER_EARLY_MS <= late <= FACE_LATE_TOLERANCE_MS, buzz
        assert abs(vibration["at"] - (buzz["fired_ms"] - skew_ms)) <= CLOCK_ROUNDING_MS
    return buzzes


def wait_for_state(page: Any, state: str, timeout_ms: int = 10_000) -> None:
    page.wait_for_function(
        "s => document.getElementById('face').dataset.state === s", arg=state, timeout=timeout_ms
    )


def wait_for_vibration(
    page: Any, pattern: list[int], count: int = 1, timeout_ms: int = 10_000
) -> None:
    page.wait_for_function(
        """([p, n]) => window.__vibrations.filter(
            v => JSON.stringify(v.pattern) === JSON.stringify(p)).length >= n""",
        arg=[pattern, count],
        timeout=timeout_ms,
    )


HOLD_START = to_web_vibration(pattern_for(CueKind.HOLD_START))
HOLD_END = to_web_vibration(pattern_for(CueKind.HOLD_END))


def page_script(*, skew_ms: int = 0, vibrate: bool = True, wake_lock: bool = True) -> str:
    """An init script: the page's clock `skew_ms` off, and vibrate / wake lock recorded.

    Each vibrate call is noted with the true time (the clock before skewing), so a test can
    hold it against the server's cue times whatever the page believes the time is.
    """
    lines = [
        "const trueNow = Date.now.bind(Date);",
        "window.__trueNow = trueNow;",
        f"Date.now = () => trueNow() + {skew_ms};",
        "window.__vibrations = [];",
        "window.__wakeLocks = [];",
    ]
    if vibrate:
        lines.append(
            """Object.defineProperty(Navigator.prototype, "vibrate", {
  configurable: true,
  value: function (pattern) {
    const list = Array.isArray(pattern) ? Array.from(pattern) : [pattern];
    window.__vibrations.push({ pattern: list, at: trueNow() });
    return true;
  },
});"""
        )
    else:  # a watch (or desktop browser) that cannot vibrate at all
        lines.append("delete Navigator.prototype.vibrate;")
    if wake_lock:
        lines.append(
            """Object.defineProperty(Navigator.prototype, "wakeLock", {
  configurable: true,
  get() {
    return {
      request: async (type) => {
        window.__wakeLocks.push(type);
        const sentinel = new EventTarget();
        sentinel.release = async () => sentinel.dispatchEvent(new Event("release"));
        window.__sentinel = sentinel;
        return sentinel;
      },
    };
  },
});"""
        )
    else:
        lines.append("delete Navigator.prototype.wakeLock;")
    return "\n".join(lines)


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python (pip install playwright; never `playwright install`)"
    return None


def require_browser(environ: Mapping[str, str]) -> None:
    """Skip without a browser, except in CI (CI set, not 0 or false): there it must run."""
    missing = _missing()
    if missing is None:
        return
    if environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}:
        pytest.fail(f"the web face test must run in CI, but {missing} is missing")
    pytest.skip(f"headless browser test skipped: {missing} is missing")


def open_face(browser: Any, base_url: str, init_script: str) -> Any:
    context = browser.new_context(viewport={"width": 440, "height": 440})
    context.add_init_script(init_script)
    page = context.new_page()
    page.goto(f"{base_url}/watch")
    return page


def tap_to_enable(page: Any) -> None:
    """What a person does first: tap the face, so the browser lets it vibrate."""
    page.locator(".enable:visible").click()
    page.wait_for_function("document.getElementById('face').dataset.enabled === 'true'")


def pair_face(page: Any, pairing: PairingService, user_id: str) -> str:
    """Read the code off the face, say it (bind it as the skill hears it), and wait to be paired."""
    code = page.locator("#user-code")
    page.wait_for_function(
        "re => new RegExp(re).test(document.getElementById('user-code').textContent)",
        arg=SPOKEN_CODE.pattern,
    )
    spoken = code.inner_text()
    pairing.bind(user_id, parse_spoken_code(spoken))
    page.wait_for_function("document.getElementById('face').dataset.screen === 'routine'")
    return spoken
