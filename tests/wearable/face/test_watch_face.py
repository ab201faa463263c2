"""The web watch face in real headless Chromium: it pairs, counts down, and buzzes on time.

Runs Debian's chromium through Playwright for Python (never `playwright install`). Without
them it skips, unless CI is set: there it must run. Screenshots go to test-output/.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.pairing.service import PairingService
from shared.routine.coach import Coach
from shared.routine.engine import Event
from shared.routine.settings import Flow
from tests.support import browser as browser_support
from tests.support.browser import (
    ENABLE_BUZZ,
    FACE_LATE_TOLERANCE_MS,
    HOLD_END,
    HOLD_START,
    TIMER_EARLY_MS,
    assert_buzzed_on_cue,
    cue_vibrations,
    open_face,
    page_script,
    pair_face,
    require_browser,
    tap_to_enable,
    wait_for_state,
    wait_for_vibration,
)
from tests.support.core import finished_at
from tests.support.paths import REPO
from tests.support.watch import OTHER_USER, WATCH_USER

#: The tests' output folder at the repo root (git-ignored), where the screenshots go.
SCREENSHOTS = REPO / "test-output"
#: How far the skewed page's clock runs ahead of the server's.
PAGE_FAST_BY_MS = 7_000


def test_the_face_pairs_counts_down_and_buzzes_at_the_end_of_a_hold(
    browser: Any, live_server: str, live_coach: Coach, live_pairing: PairingService
) -> None:
    page = open_face(browser, live_server, page_script())
    SCREENSHOTS.mkdir(exist_ok=True)
    page.wait_for_function("document.getElementById('face').dataset.screen === 'pairing'")
    page.wait_for_function("/\\d/.test(document.getElementById('user-code').textContent)")
    page.screenshot(path=str(SCREENSHOTS / "web_face_pairing.png"))
    tap_to_enable(page)
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

    wait_for_vibration(page, HOLD_END)
    vibrations = cue_vibrations(page)
    assert [v["pattern"] for v in vibrations] == [HOLD_START, HOLD_END]
    assert_buzzed_on_cue(page, [hold.start, hold.end])
    wait_for_state(page, "awaiting")
    page.screenshot(path=str(SCREENSHOTS / "web_face_done.png"))


def test_the_screenshots_go_to_the_git_ignored_output_folder() -> None:
    root = REPO
    assert root / "test-output" == SCREENSHOTS
    ignored = (root / ".gitignore").read_text("utf-8").split()
    assert "test-output/" in ignored


def test_a_page_clock_seconds_fast_still_buzzes_on_the_servers_cue_time(
    browser: Any, live_server: str, live_coach: Coach, live_pairing: PairingService
) -> None:
    page = open_face(browser, live_server, page_script(skew_ms=PAGE_FAST_BY_MS))
    skew = page.evaluate("Date.now() - window.__trueNow()")
    assert skew == pytest.approx(PAGE_FAST_BY_MS, abs=1)  # the page's clock really is off
    tap_to_enable(page)
    pair_face(page, live_pairing, WATCH_USER)
    page.wait_for_function(
        "document.getElementById('step-title').textContent === 'Quick test routine'"
    )
    hold = live_coach.apply(WATCH_USER, Event.START, lead_in=1.0).view.hold
    assert hold is not None
    wait_for_vibration(page, HOLD_END)
    vibrations = cue_vibrations(page)
    assert [v["pattern"] for v in vibrations] == [HOLD_START, HOLD_END]
    # Without the offset estimate these would be aimed seven seconds early (or be skipped).
    buzzes = assert_buzzed_on_cue(page, [hold.start, hold.end], skew_ms=PAGE_FAST_BY_MS)
    assert all(b["offset_ms"] == pytest.approx(-PAGE_FAST_BY_MS, abs=500) for b in buzzes)


def test_a_sharper_clock_estimate_right_after_a_buzz_does_not_buzz_it_again(
    browser: Any, live_server: str, live_coach: Coach, live_pairing: PairingService
) -> None:
    """A poll answered just after a buzz moves the offset estimate; the cue must not repeat.

    The face reschedules every cue when its offset estimate moves by more than 5 ms. The poll
    held here is answered (304) right after the hold-start buzz, with timestamps that make the
    quickest sample yet and put the server 200 ms behind: the hold start, 0 to 200 ms old,
    would fall inside the 500 ms a late cue still buzzes in, had the face not kept it as fired.
    """
    page = open_face(browser, live_server, page_script())
    tap_to_enable(page)
    pair_face(page, live_pairing, WATCH_USER)
    page.wait_for_function(
        "document.getElementById('step-title').textContent === 'Quick test routine'"
    )
    held: list[Any] = []
    hold_polls = {"on": True}

    def hold_the_next_long_poll(route: Any) -> None:
        if hold_polls["on"] and route.request.headers.get("if-none-match"):
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/v1/cues?*", hold_the_next_long_poll)
    hold = live_coach.apply(WATCH_USER, Event.START, lead_in=0.8).view.hold
    assert hold is not None
    wait_for_state(page, "announcing")  # the start's answer went by; its next poll is held
    page.wait_for_function("true")  # let the held route be dispatched
    wait_for_vibration(page, HOLD_START)
    hold_polls["on"] = False
    assert len(held) == 1
    route = held[0]
    sent = int(parse_qs(urlsplit(route.request.url).query)["client_send_ms"][0])
    now = page.evaluate("Date.now()")
    shift, spread = -200, 5_000  # server 200 ms behind; a "negative" delay makes it the best
    route.fulfill(
        status=304,
        headers={
            "ETag": route.request.headers["if-none-match"],
            "Server-Receive-Ms": str(sent + shift - spread),
            "Server-Send-Ms": str(now + shift + spread),
        },
    )
    wait_for_vibration(page, HOLD_END, timeout_ms=10_000)
    page.wait_for_timeout(300)
    vibrations = cue_vibrations(page)
    assert [v["pattern"] for v in vibrations] == [HOLD_START, HOLD_END]
    # The estimate did move: the server now seems 200 ms behind (a little more, by half of
    # however long the fulfilled answer took to arrive), so the hold end is aimed that late.
    end = page.evaluate("window.sciaticaWatch.buzzes()")[1]
    assert shift - FACE_LATE_TOLERANCE_MS < end["offset_ms"] <= shift
    assert (
        end["due_ms"]
        == end["at_ms"] - end["offset_ms"]
        == round(hold.end * 1000) - end["offset_ms"]
    )
    assert -TIMER_EARLY_MS <= end["fired_ms"] - end["due_ms"] <= FACE_LATE_TOLERANCE_MS


def test_one_tap_turns_buzzing_on_and_keeps_the_screen_awake(
    browser: Any, live_server: str
) -> None:
    page = open_face(browser, live_server, page_script())
    page.wait_for_function("document.getElementById('face').dataset.screen === 'pairing'")
    assert page.locator("#pairing .enable").is_visible()
    assert page.evaluate("window.__wakeLocks") == []
    tap_to_enable(page)
    assert page.evaluate("window.__vibrations")[0]["pattern"] == ENABLE_BUZZ
    assert page.evaluate("window.__wakeLocks") == ["screen"]
    assert not page.locator(".enable").first.is_visible()
    page.wait_for_function("document.getElementById('face').dataset.wakeLock === 'held'")
    # The browser drops the lock when the page is hidden; coming back takes it again.
    page.evaluate("window.__sentinel.release()")
    page.wait_for_function("document.getElementById('face').dataset.wakeLock === 'released'")
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_function("window.__wakeLocks.length === 2")


def test_a_paired_face_still_offers_the_tap_on_its_routine_screen(
    browser: Any, live_server: str, live_pairing: PairingService
) -> None:
    page = open_face(browser, live_server, page_script())
    pair_face(page, live_pairing, WATCH_USER)
    page.reload()  # paired already: the face opens on the routine screen
    page.wait_for_function("document.getElementById('face').dataset.screen === 'routine'")
    assert page.locator("#routine .enable").is_visible()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "web_face_routine_tap.png"))
    tap_to_enable(page)
    assert page.evaluate("window.__wakeLocks") == ["screen"]


def test_a_face_that_cannot_vibrate_flashes_instead(
    browser: Any, live_server: str, live_coach: Coach, live_pairing: PairingService
) -> None:
    page = open_face(browser, live_server, page_script(vibrate=False, wake_lock=False))
    tap_to_enable(page)  # no vibration, no wake lock: the tap must still work
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
    page = open_face(browser, live_server, page_script())
    tap_to_enable(page)
    pair_face(page, live_pairing, WATCH_USER)
    live_coach.apply(WATCH_USER, Event.START, lead_in=0.5)
    wait_for_state(page, "holding")
    page.locator("button[data-action='next']").click()
    page.wait_for_function(
        "document.getElementById('step-title').textContent === 'Quick stretch, right side'"
    )
    assert live_coach.view(WATCH_USER).step_index == 1
    wait_for_state(page, "announcing")  # the wrist's lead-in before the hold


def test_unpairing_while_the_coach_is_unreachable_keeps_the_face_paired(
    browser: Any, live_server: str, live_pairing: PairingService
) -> None:
    page = open_face(browser, live_server, page_script())
    pair_face(page, live_pairing, WATCH_USER)
    page.route("**/api/v1/devices/me", lambda route: route.abort("connectionrefused"))
    page.locator("#unpair").click()
    page.wait_for_function(
        "document.getElementById('status').textContent.startsWith(\"Can't reach the coach\")"
    )
    assert page.evaluate("document.getElementById('face').dataset.screen") == "routine"
    token = page.evaluate("localStorage.getItem('sciatica-coach.watch-token')")
    assert live_pairing.authenticate(token) == WATCH_USER  # still works, so still kept


# -- progress and settings ----------------------------------------------------------------------

DAY_S = 86_400.0


def shown_days(page: Any) -> list[tuple[str, int, bool]]:
    """Each day the face shows: its date, its runs, whether it is marked as today."""
    days = page.evaluate(
        """[...document.querySelectorAll('#days .day')].map(
            d => [d.dataset.date, Number(d.dataset.runs), d.dataset.today === 'true'])"""
    )
    return [(date, runs, today) for date, runs, today in days]


def wait_for_runs_today(page: Any, runs: int) -> None:
    page.wait_for_function(
        """n => { const d = document.querySelector('#days .day[data-today="true"]');
                  return d && Number(d.dataset.runs) === n; }""",
        arg=runs,
        timeout=15_000,
    )


def test_the_face_shows_the_last_seven_days_and_reads_them_again_only_when_a_run_ends(
    browser: Any, live_server: str, live_coach: Coach, live_pairing: PairingService
) -> None:
    now = time.time()
    # Yesterday, the day before, and four days ago, in UTC days (the person keeps no zone).
    finished_at(live_coach, WATCH_USER, now - DAY_S, now - 2 * DAY_S, now - 4 * DAY_S)
    page = open_face(browser, live_server, page_script())
    reads: list[str] = []
    page.on(
        "request",
        lambda request: (
            reads.append(urlsplit(request.url).path.rsplit("/", 1)[-1])
            if "/api/v1/" in request.url
            else None
        ),
    )
    tap_to_enable(page)
    pair_face(page, live_pairing, WATCH_USER)
    page.wait_for_function("document.getElementById('face').dataset.history === 'shown'")
    expected = live_coach.progress(WATCH_USER)
    assert shown_days(page) == [
        (day.day.isoformat(), day.runs, index == 6) for index, day in enumerate(expected.last_days)
    ]
    assert [runs for _, runs, _ in shown_days(page)] == [0, 0, 1, 0, 1, 1, 0]
    week = expected.runs_this_week
    streak = f"2-day streak · {week} run{'s' if week != 1 else ''} this week"
    assert page.locator("#streak").inner_text() == streak
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "web_face_days.png"))

    live_coach.apply(WATCH_USER, Event.START, lead_in=0.2)
    live_coach.apply(WATCH_USER, Event.NEXT, lead_in=0.2)  # on to the last step: it ends by itself
    wait_for_runs_today(page, 1)
    assert page.locator("#streak").inner_text().startswith("3-day streak · ")
    assert reads.count("history") == 2  # on opening, and once the run completed
    assert reads.count("cues") > reads.count("history")
    page.screenshot(path=str(SCREENSHOTS / "web_face_days_done.png"))


def test_the_face_shows_the_persons_settings_and_switches_hands_free(
    browser: Any, live_server: str, live_coach: Coach, live_pairing: PairingService
) -> None:
    live_coach.change_settings(
        WATCH_USER, hold_seconds=45, holds_per_side=2, first_side="right", warning_buzz=False
    )
    page = open_face(browser, live_server, page_script())
    pair_face(page, live_pairing, WATCH_USER)
    page.locator("#open-settings").click()
    page.wait_for_function("document.getElementById('face').dataset.settings === 'shown'")
    shown = {
        name: page.locator(f"#set-{name}").inner_text()
        for name in ("hold", "per-side", "first-side", "warning", "flow")
    }
    assert shown == {
        "hold": "45 s",
        "per-side": "2",
        "first-side": "Right",
        "warning": "Off",
        "flow": "Not chosen yet",
    }
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "web_face_settings.png"))
    toggle = page.locator("#hands-free")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    page.wait_for_function(
        "document.getElementById('hands-free').getAttribute('aria-pressed') === 'true'"
    )
    assert live_coach.settings(WATCH_USER).flow is Flow.HANDS_FREE
    assert page.locator("#set-flow").inner_text() == "Carries on by itself"
    toggle.click()
    page.wait_for_function(
        "document.getElementById('hands-free').getAttribute('aria-pressed') === 'false'"
    )
    assert live_coach.settings(WATCH_USER).flow is Flow.ON_NEXT
    assert live_coach.settings(WATCH_USER).hold_seconds == 45  # only the flow was sent
    page.locator("#settings-close").click()
    page.wait_for_function("document.getElementById('face').dataset.screen === 'routine'")


def test_another_persons_days_never_show_on_this_face(
    browser: Any, live_server: str, live_coach: Coach, live_pairing: PairingService
) -> None:
    finished_at(live_coach, OTHER_USER, time.time() - DAY_S)
    page = open_face(browser, live_server, page_script())
    pair_face(page, live_pairing, WATCH_USER)
    page.wait_for_function("document.getElementById('face').dataset.history === 'shown'")
    assert [runs for _, runs, _ in shown_days(page)] == [0] * 7
    assert page.locator("#streak").inner_text() == "0 runs this week"


# -- without a browser --------------------------------------------------------------------------


@pytest.mark.parametrize("ci", ["1", "true"])
def test_in_ci_a_missing_browser_fails_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str
) -> None:
    monkeypatch.setattr(browser_support, "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match="must run in CI"):
        require_browser({"CI": ci})


@pytest.mark.parametrize("environ", [{}, {"CI": ""}, {"CI": "0"}, {"CI": "false"}])
def test_outside_ci_a_missing_browser_skips_with_a_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, environ: dict[str, str]
) -> None:
    monkeypatch.setattr(browser_support, "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        require_browser(environ)
