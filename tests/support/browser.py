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
from skill.spoken_code import parse_spoken_code

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
