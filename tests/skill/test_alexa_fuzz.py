"""Whatever a client changes in a real envelope, POST /alexa answers 200 or 400, never 500.

Dev mode lets the changed envelopes reach the SDK and the handlers, where a verified app
would refuse most of them at the signature; both are tried.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sciatica_coach import create_app
from sciatica_coach.app import coach_of
from sciatica_coach.demo.demo_ca import DemoCA

FIXTURES = Path(__file__).parents[1] / "fixtures" / "alexa"
TEMPLATES = {
    path.stem: json.loads(path.read_text("utf-8"))
    for path in [*FIXTURES.glob("*.json"), *FIXTURES.glob("intents/*.json")]
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON document a value sits, as a tuple of keys and indexes."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


@st.composite
def changed_envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A recorded envelope with one to three values replaced by arbitrary JSON, or removed."""
    envelope = copy.deepcopy(TEMPLATES[draw(st.sampled_from(sorted(TEMPLATES)))])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        where = draw(st.sampled_from([p for p in paths(envelope) if p]))
        parent = envelope
        for key in where[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[where[-1]]
        else:
            parent[where[-1]] = draw(json_values)
    return envelope


@pytest.fixture(params=[True, False], ids=["dev-mode", "verified"])
def lenient_app(request: pytest.FixtureRequest, app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app({**app_config, "TESTING": False, "DEV_SKIP_VERIFY": request.param})
    yield app
    coach_of(app).store.close()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(envelope=changed_envelopes())
def test_a_changed_envelope_is_answered_or_refused_never_a_500(
    lenient_app: Flask, demo_ca: DemoCA, envelope: dict[str, Any]
) -> None:
    body = json.dumps(envelope).encode()

    response = lenient_app.test_client().post("/alexa", data=body, headers=demo_ca.sign(body))

    assert response.status_code in (200, 400), response.get_data(as_text=True)
    assert response.is_json
