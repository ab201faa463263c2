"""The face as an installed app, in real headless Chromium: its manifest, its service worker,
its shell with no network, and its buzzes through a network cut mid-hold.

The holds here last HOLD_S, long enough that a cut made once a hold is under way lands well
before its end however busy the machine is. Every wait is on a condition, never a fixed sleep.
"""

from __future__ import annotations

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
                for (const request of await (await caches.open(name)).keys()) urls.push(request.url);
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
