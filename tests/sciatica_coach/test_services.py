"""One accessor for the app's services: create_app keeps them in one place, and only the
accessors of each side look there."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from sciatica_coach.app import coach_of, services_of
from shared.services import AppServices
from tests.support.paths import REPO

AppFactory = Callable[..., Flask]
ROOT = REPO
#: The one lookup besides the services: the voice side's own HTTP mount (flask-ask-sdk).
OWN_MOUNTS = {("skill/endpoint.py", "ADAPTER")}


def test_create_app_keeps_one_set_of_services(
    make_app: AppFactory, app_config: dict[str, Any]
) -> None:
    app = make_app(app_config)
    services = services_of(app)
    assert isinstance(services, AppServices)
    assert coach_of(app) is services.coach
    assert services.tuning.voices is services.voices
    assert services.voices.store is services.coach.store is services.pairing.store
    # The services once had a key each; one place now.
    assert {"sciatica_coach", "sciatica_pairing", "sciatica_voices", "sciatica_tuning"}.isdisjoint(
        app.extensions
    )


def test_the_watch_api_and_health_use_the_same_services(
    make_app: AppFactory, app_config: dict[str, Any]
) -> None:
    app = make_app(app_config)
    client = app.test_client()
    started = client.post("/api/v1/pairings").get_json()
    assert started["user_code"]
    assert services_of(app).coach.store.live_pairings(services_of(app).coach.clock.now()) == 1
    assert client.get("/healthz").get_json()["routine"] == services_of(app).coach.routine.id


def extension_lookups(path: Path) -> list[str]:
    """Where a module reads or writes `<something>.extensions[...]` or `.extensions.get(...)`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Subscript) and _is_extensions(node.value):
            key = node.slice.id if isinstance(node.slice, ast.Name) else ast.unparse(node.slice)
            found.append(key)
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in {"get", "setdefault", "pop"}
            and _is_extensions(node.value)
        ):
            found.append(f".{node.attr}")
    return found


def _is_extensions(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "extensions"


def test_no_view_or_handler_looks_a_service_up_by_name() -> None:
    strays = []
    for package in ("skill", "wearable", "sciatica_coach"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            strays += [
                f"{name}: {key}" for key in extension_lookups(path) if (name, key) not in OWN_MOUNTS
            ]
    assert strays == []
