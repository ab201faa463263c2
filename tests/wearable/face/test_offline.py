"""The face as an installed app, in real headless Chromium: its manifest, its service worker,
its shell with no network, and its buzzes through a network cut mid-hold.

The holds here last HOLD_S, long enough that a cut made once a hold is under way lands well
before its end however busy the machine is. Every wait is on a condition, never a fixed sleep.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Response

from shared.pairing.service import PairingService
from shared.routine.coach import Coach
from shared.routine.engine import Event
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    HOLD_END,
    HOLD_START,
    assert_buzzed_on_cue,
    cue_vibrations,
    open_face,
    page_script,
    pair_face,
    tap_to_enable,
    wait_for_state,
    wait_for_vibration,
)
from tests.support.routines import one_stretch
from tests.support.watch import WATCH_USER, serving
from wearable.face import blueprint

HOLD_S = 5.0
#: Generous: on a busy machine a worker's install, or a poll's retry, can take seconds.
SLOW_MS = 30_000
PREFIX = "/coach"
ICON_SIZES = {
    "static/icons/icon-192.png": 192,
    "static/icons/icon-512.png": 512,
    "static/icons/icon-maskable-512.png": 512,
}


@pytest.fixture
def quick_routine(tmp_path: Path) -> Path:
    """The live app's routine (tests/wearable/conftest.py), with holds of HOLD_S."""
    path = tmp_path / "quick.toml"
    path.write_text(one_stretch("quick-test", "Quick test routine", HOLD_S), "utf-8")
    return path


@pytest.fixture
def prefixed_server(live_app: Flask) -> Iterator[str]:
    """The app behind a proxy that serves it under PREFIX; yields the prefix's URL."""
    not_here = Response("not here", status=404)
    with serving(DispatcherMiddleware(not_here, {PREFIX: live_app}), "prefixed") as url:
        yield url + PREFIX


def wait_for_face(page: Any, condition: str, timeout_ms: int = SLOW_MS) -> None:
    page.wait_for_function(
        f"(f => {condition})(document.getElementById('face'))", timeout=timeout_ms
    )


def eventually(page: Any, script: str, arg: Any = None, timeout_ms: int = SLOW_MS) -> Any:
    """Evaluate `script` (awaiting its promise) until it is truthy; wait_for_function would
    take the promise itself as truthy."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not (value := page.evaluate(script, arg)):
        assert time.monotonic() < deadline, f"never true: {script}"
        page.wait_for_timeout(50)
    return value


def wait_until_controlled(page: Any) -> None:
    """The worker has installed the shell and controls the page."""
    wait_for_face(page, "f.dataset.shell === 'kept'")
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=SLOW_MS)


def network(page: Any) -> dict[str, Any]:
    return page.evaluate("window.sciaticaWatch.network()")


def cut_network(cdp: Any, offline: bool) -> None:
    """What DevTools' network panel does: the page's own requests fail while offline."""
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )


# -- the manifest --------------------------------------------------------------------------


def test_the_manifest_makes_the_face_installable_in_its_own_colours(
    playwright_driver: Any, live_server: str, tmp_path: Path
) -> None:
    # A profile on disk: Chromium never offers to install from an incognito context.
    context = playwright_driver.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
    )
    try:
        page = context.new_page()
        page.goto(f"{live_server}/watch")
        wait_until_controlled(page)
        cdp = context.new_cdp_session(page)
        got = cdp.send("Page.getAppManifest")
        assert got["url"] == f"{live_server}/watch/manifest.webmanifest"
        assert got["errors"] == []
        parsed = got["manifest"]
        face_url = f"{live_server}/watch"
        raw = json.loads(got["data"])
        assert (raw["name"], raw["short_name"]) == ("Sciatica Coach watch", "Sciatica")
        assert parsed["name"] == raw["name"]
        assert parsed["startUrl"] == parsed["scope"] == parsed["id"] == face_url
        assert parsed["display"] == "kStandalone"
        # The splash screen is the page's black, the bar the face's own colour (watch.css).
        colours = page.evaluate(
            """() => [document.body, document.getElementById('face')].map(
                el => getComputedStyle(el).backgroundColor)"""
        )
        assert colours == ["rgb(0, 0, 0)", "rgb(11, 15, 20)"]
        assert parsed["backgroundColor"] == "rgba(0,0,0,1)"
        assert parsed["themeColor"] == "rgba(11,15,20,1)"
        declared = raw["icons"]
        assert [(i["src"], i["sizes"], i.get("purpose", "any")) for i in declared] == [
            ("static/icons/icon-192.png", "192x192", "any"),
            ("static/icons/icon-512.png", "512x512", "any"),
            ("static/icons/icon-maskable-512.png", "512x512", "maskable"),
        ]
        loaded = page.evaluate(
            """urls => Promise.all(urls.map(url => new Promise((resolve, reject) => {
                const image = new Image();
                image.onload = () => resolve([image.naturalWidth, image.naturalHeight]);
                image.onerror = () => reject(new Error(url));
                image.src = url;
            })))""",
            [icon["url"] for icon in parsed["icons"]],
        )
        assert [tuple(size) for size in loaded] == [(192, 192), (512, 512), (512, 512)]
        assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
    finally:
        context.close()


# -- the service worker ---------------------------------------------------------------------


def test_the_worker_registers_and_controls_the_face_at_watch(
    browser: Any, live_server: str
) -> None:
    page = open_face(browser, live_server, page_script())
    wait_until_controlled(page)
    scope = page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.scope)")
    assert scope == f"{live_server}/watch"
    script = page.evaluate("navigator.serviceWorker.controller.scriptURL")
    assert script == f"{live_server}/watch/sw.js"


def test_under_a_path_prefix_the_worker_controls_the_prefixed_face(
    browser: Any, prefixed_server: str
) -> None:
    page = open_face(browser, prefixed_server, page_script())
    wait_until_controlled(page)
    scope = page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.scope)")
    assert scope == f"{prefixed_server}/watch"
    wait_for_face(page, "f.dataset.screen === 'pairing'")
    page.wait_for_function("/\\d/.test(document.getElementById('user-code').textContent)")


def test_the_worker_keeps_the_shell_and_never_an_api_answer(
    browser: Any, live_server: str, live_coach: Coach, live_pairing: PairingService
) -> None:
    page = open_face(browser, live_server, page_script())
    pair_face(page, live_pairing, WATCH_USER)
    wait_until_controlled(page)
    live_coach.apply(WATCH_USER, Event.START, lead_in=0.5)
    wait_for_state(page, "holding", timeout_ms=SLOW_MS)  # polls answered through the worker
    kept = page.evaluate(
        """async () => {
            const names = await caches.keys();
            const urls = [];
            for (const name of names) {
                const cache = await caches.open(name);
                for (const request of await cache.keys()) urls.push(request.url);
            }
            return { names, urls };
        }"""
    )
    version = blueprint.shell_version()
    assert kept["names"] == [f"sciatica-watch-shell {live_server}/watch {version}"]
    shell = {f"{live_server}/watch/{url}".replace("/watch/../", "/") for url, _ in blueprint.SHELL}
    assert sorted(kept["urls"]) == sorted(shell)
    assert not [url for url in kept["urls"] if "/api/" in url]


def test_a_new_shell_version_replaces_its_cache_and_spares_other_deployments(
    browser: Any, live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = open_face(browser, live_server, page_script())
    wait_until_controlled(page)
    family = f"sciatica-watch-shell {live_server}/watch "
    old = family + blueprint.shell_version()
    other = "sciatica-watch-shell http://127.0.0.1:1/elsewhere/watch 0123456789abcdef"
    page.evaluate("name => caches.open(name)", other)
    monkeypatch.setattr(blueprint, "shell_version", lambda: "next-version")
    page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
    eventually(
        page, "name => caches.keys().then(names => names.includes(name))", family + "next-version"
    )
    eventually(page, "name => caches.keys().then(names => !names.includes(name))", old)
    assert sorted(page.evaluate("caches.keys()")) == sorted([family + "next-version", other])


def test_once_loaded_the_face_opens_with_no_network(
    browser: Any, live_server: str, live_pairing: PairingService
) -> None:
    page = open_face(browser, live_server, page_script())
    pair_face(page, live_pairing, WATCH_USER)
    wait_until_controlled(page)
    page.context.set_offline(True)
    try:
        page.reload()
        wait_for_face(page, "f.dataset.screen === 'routine' && f.dataset.network === 'offline'")
        assert page.locator("#network").inner_text() == "Offline · reconnecting…"
        # The stylesheet, the scripts and the icons came from the worker's cache.
        face_colour = page.evaluate(
            "getComputedStyle(document.getElementById('face')).backgroundColor"
        )
        assert face_colour == "rgb(11, 15, 20)"
        assert page.evaluate("typeof SciaticaListening") == "object"
        assert page.evaluate("fetch('watch/static/icons/icon-192.png').then(r => r.status)") == 200
        assert (
            page.evaluate("fetch('api/v1/openapi.json').then(() => 'answered', () => 'offline')")
            == "offline"
        )  # the API is never answered from a cache
    finally:
        page.context.set_offline(False)
    # Back online, the face reaches the coach by itself.
    wait_for_face(page, "f.dataset.network === 'online'")


# -- a network cut mid-hold ----------------------------------------------------------------------


def test_a_network_cut_mid_hold_still_buzzes_the_hold_end_and_resyncs_when_back(
    browser: Any, live_server: str, live_coach: Coach, live_pairing: PairingService
) -> None:
    page = open_face(browser, live_server, page_script())
    tap_to_enable(page)
    pair_face(page, live_pairing, WATCH_USER)
    page.wait_for_function(
        "document.getElementById('step-title').textContent === 'Quick test routine'"
    )
    page.evaluate(
        """() => {
            const line = document.getElementById('network');
            window.__networkLines = [];
            new MutationObserver(() => window.__networkLines.push(line.textContent))
                .observe(line, { childList: true, characterData: true, subtree: true });
        }"""
    )
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    hold = live_coach.apply(WATCH_USER, Event.START, lead_in=0.5).view.hold
    assert hold is not None
    wait_for_vibration(page, HOLD_START, timeout_ms=SLOW_MS)  # the cues came while online
    cut_network(cdp, offline=True)
    assert time.time() < hold.end - 1  # the cut is well inside the hold
    wait_for_face(page, "f.dataset.network === 'offline'")

    wait_for_vibration(page, HOLD_END, timeout_ms=SLOW_MS)
    assert network(page)["state"] == "offline"  # buzzed with no network at all
    assert [v["pattern"] for v in cue_vibrations(page)] == [HOLD_START, HOLD_END]
    assert_buzzed_on_cue(page, [hold.start, hold.end])
    lines = page.evaluate("window.__networkLines")
    assert lines[0] == "Offline · buzzes continue"  # while the hold end was still to come
    wait_for_face(page, "f.dataset.state === 'awaiting'")
    assert page.locator("#network").inner_text() == "Offline · reconnecting…"

    # It keeps trying, waiting longer each time: about 1 s, then 2 s, then 4 s (±jitter).
    eventually(page, "() => window.sciaticaWatch.network().failures >= 2")
    for failure, wait in enumerate(network(page)["waits_ms"]):
        ceiling = 1000 * 2**failure
        assert ceiling / 2 <= wait <= ceiling

    # Meanwhile the person said "next": the watch hears of it only when it is back online.
    after = live_coach.apply(WATCH_USER, Event.NEXT, lead_in=3.0).view.hold
    assert after is not None
    eventually(page, "() => (window.sciaticaWatch.network().retry_in_ms || 0) >= 800")
    back_at = page.evaluate("Date.now()")
    cut_network(cdp, offline=False)
    wait_for_face(page, "f.dataset.network === 'online'")
    state = network(page)
    assert state["resyncs"] == 1
    assert state["woken"] == "online"  # the browser's online event, not the back-off timer
    assert page.locator("#network").inner_text() == ""
    # Read afresh: a new clock estimate from answers after the cut alone, and the new step's
    # cues in place of the old schedule.
    samples = page.evaluate("window.sciaticaWatch.clock().samples")
    assert samples
    assert all(sample["at_ms"] >= back_at for sample in samples)
    page.wait_for_function(
        "document.getElementById('step-title').textContent === 'Quick stretch, right side'"
    )
    wait_for_vibration(page, HOLD_START, count=2, timeout_ms=SLOW_MS)
    assert_buzzed_on_cue(page, [hold.start, hold.end, after.start])


def test_without_the_allowed_scope_the_worker_could_not_control_the_face(
    browser: Any, live_server: str
) -> None:
    """Why /watch/sw.js carries Service-Worker-Allowed: /watch lies outside its folder."""
    context = browser.new_context()

    def without_the_header(route: Any) -> None:
        response = route.fetch()
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower() != "service-worker-allowed"
        }
        route.fulfill(response=response, headers=headers)

    context.route("**/watch/sw.js", without_the_header)
    page = context.new_page()
    page.goto(f"{live_server}/watch")
    wait_for_face(page, "f.dataset.shell === 'failed'")
    assert page.evaluate("navigator.serviceWorker.controller") is None
    context.close()
