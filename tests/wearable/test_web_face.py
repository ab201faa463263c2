"""The web watch face in real headless Chromium: it pairs, counts down, and buzzes on time.

Runs Debian's chromium through Playwright for Python (never `playwright install`). Without
them it skips, unless CI is set: there it must run. Screenshots go to test-output/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from watch_support import OTHER_USER, WATCH_USER

from shared.coach import Coach
from shared.cues import CueKind
from shared.engine import Event
from shared.pairing import PairingService
from wearable.haptics import pattern_for, to_web_vibration

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
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output"
SPOKEN_CODE = re.compile(r"^\d( \d){5}$")
#: How far a buzz in the browser may land from its cue: timers in a busy headless tab.
BROWSER_SLACK_MS = 250

# Records every navigator.vibrate call with the page's clock, and reports success.
RECORD_VIBRATIONS = """
window.__vibrations = [];
Object.defineProperty(Navigator.prototype, "vibrate", {
  configurable: true,
  value: function (pattern) {
    window.__vibrations.push({ pattern: Array.from(pattern), at: Date.now() });
    return true;
  },
});
"""
# A watch (or desktop browser) that cannot vibrate at all.
NO_VIBRATION = "delete Navigator.prototype.vibrate;"


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python (pip install playwright; never `playwright install`)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the web face test must run in CI, but {missing} is missing")
        pytest.skip(f"headless browser test skipped: {missing} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_face(browser: Any, base_url: str, init_script: str) -> Any:
    context = browser.new_context(viewport={"width": 440, "height": 440})
    context.add_init_script(init_script)
    page = context.new_page()
    page.goto(f"{base_url}/watch")
    return page


def pair_face(page: Any, pairing: PairingService, user_id: str) -> str:
    """Read the code off the face, say it (bind it in the core), and wait to be paired."""
    code = page.locator("#user-code")
    page.wait_for_function(
        "re => new RegExp(re).test(document.getElementById('user-code').textContent)",
        arg=SPOKEN_CODE.pattern,
    )
    spoken = code.inner_text()
    pairing.bind(user_id, spoken)
    page.wait_for_function("document.getElementById('face').dataset.screen === 'routine'")
    return spoken


def wait_for_state(page: Any, state: str, timeout_ms: int = 10_000) -> None:
    page.wait_for_function(
        "s => document.getElementById('face').dataset.state === s", arg=state, timeout=timeout_ms
    )


def test_the_face_pairs_counts_down_and_buzzes_at_the_end_of_a_hold(
    browser: Any, live_server: str, live_coach: Coach, live_pairing: PairingService
) -> None:
    page = open_face(browser, live_server, RECORD_VIBRATIONS)
    SCREENSHOTS.mkdir(exist_ok=True)
    page.wait_for_function("document.getElementById('face').dataset.screen === 'pairing'")
    page.wait_for_function("/\\d/.test(document.getElementById('user-code').textContent)")
    page.screenshot(path=str(SCREENSHOTS / "web_face_pairing.png"))
    pair_face(page, live_pairing, WATCH_USER)
    page.wait_for_function(
        "document.getElementById('step-title').textContent === 'Quick test routine'"
    )  # first poll answered: the run is idle

    outcome = live_coach.apply(WATCH_USER, Event.START, lead_in=1.0)
    hold = outcome.view.hold
    assert hold is not None
    wait_for_state(page, "holding")
    assert page.locator("#step-title").inner_text() == "Quick stretch, left side"
    assert page.locator("#step-count").inner_text() == "Step 1 of 2"
    assert page.locator("#countdown").inner_text() in {"1", "2"}
    offset = float(page.locator("#ring").get_attribute("stroke-dashoffset") or "nan")
    assert 0 <= offset < 100  # the ring shows time left
    page.screenshot(path=str(SCREENSHOTS / "web_face_holding.png"))

    hold_end = to_web_vibration(pattern_for(CueKind.HOLD_END))
    page.wait_for_function(
        "p => window.__vibrations.some(v => JSON.stringify(v.pattern) === JSON.stringify(p))",
        arg=hold_end,
        timeout=10_000,
    )
    vibrations = page.evaluate("window.__vibrations")
    patterns = [v["pattern"] for v in vibrations]
    assert patterns[0] == to_web_vibration(pattern_for(CueKind.HOLD_START))
    end = next(v for v in vibrations if v["pattern"] == hold_end)
    assert abs(end["at"] - hold.end * 1000) < BROWSER_SLACK_MS
    wait_for_state(page, "awaiting")
    page.screenshot(path=str(SCREENSHOTS / "web_face_done.png"))


def test_a_face_that_cannot_vibrate_flashes_instead(
    browser: Any, live_server: str, live_coach: Coach, live_pairing: PairingService
) -> None:
    page = open_face(browser, live_server, NO_VIBRATION)
    pair_face(page, live_pairing, OTHER_USER)
    page.wait_for_function(
        "document.getElementById('step-title').textContent === 'Quick test routine'"
    )
    live_coach.apply(OTHER_USER, Event.START, lead_in=0.5)
    page.wait_for_function(
        "document.getElementById('face').dataset.flashed === 'hold_start'", timeout=10_000
    )
    assert "on" in (page.locator("#flash").get_attribute("class") or "")


def test_next_on_the_face_moves_the_run_the_voice_reads(
    browser: Any, live_server: str, live_coach: Coach, live_pairing: PairingService
) -> None:
    page = open_face(browser, live_server, RECORD_VIBRATIONS)
    pair_face(page, live_pairing, WATCH_USER)
    live_coach.apply(WATCH_USER, Event.START, lead_in=0.5)
    wait_for_state(page, "holding")
    page.locator("button[data-action='next']").click()
    page.wait_for_function(
        "document.getElementById('step-title').textContent === 'Quick stretch, right side'"
    )
    assert live_coach.view(WATCH_USER).step_index == 1
    wait_for_state(page, "announcing")  # the wrist's lead-in before the hold
