"""The routine core imports no web framework, Alexa SDK or network client, nor the app sides."""

from __future__ import annotations

import json

import pytest

from tests.support.interpreter import run_python
from tests.support.paths import REPO as ROOT

#: Import every module of the `shared` package in a fresh interpreter; print what got loaded.
IMPORT_ALL = """
import importlib, json, pkgutil, sys
import shared
names = [m.name for m in pkgutil.walk_packages(shared.__path__, "shared.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""

FORBIDDEN = [
    "flask",
    "werkzeug",
    "jinja2",
    "ask_sdk_core",
    "ask_sdk_model",
    "ask_sdk_runtime",
    "ask_sdk_webservice_support",
    "flask_ask_sdk",
    "requests",
    "urllib3",
    "redis",
    # The core is what both sides build on, so it must not reach back into them.
    "skill",
    "wearable",
    "sciatica_coach",
]


@pytest.fixture(scope="module")
def core_imports() -> dict[str, list[str]]:
    return json.loads(run_python(IMPORT_ALL))


def test_every_core_module_was_imported(core_imports: dict[str, list[str]]) -> None:
    on_disk = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in (ROOT / "shared").rglob("*.py")
    }
    on_disk.discard("shared")
    assert on_disk <= set(core_imports["imported"])
    assert {"shared.routine.engine", "shared.routine.coach", "shared.stores.sqlite"} <= set(on_disk)


@pytest.mark.parametrize("package", FORBIDDEN)
def test_core_does_not_load(core_imports: dict[str, list[str]], package: str) -> None:
    loaded = [
        name for name in core_imports["loaded"] if name == package or name.startswith(package + ".")
    ]
    assert loaded == []
