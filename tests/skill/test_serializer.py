"""The envelope serializer builds exactly what the SDK's own would, and refuses what it refuses."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ask_sdk_core.exceptions import SerializationException
from ask_sdk_core.response_helper import ResponseFactory
from ask_sdk_core.serialize import DefaultSerializer
from ask_sdk_model import RequestEnvelope, ResponseEnvelope
from dateutil.parser import parse

from skill.serializer import EnvelopeSerializer
from tests.support.paths import FIXTURES

ENVELOPES = sorted((FIXTURES / "alexa").rglob("*.json"))


class CountingStock(DefaultSerializer):
    """The stock serializer, counting how often the quick path handed it the work."""

    def __init__(self) -> None:
        self.calls = 0

    def deserialize(self, payload: Any, obj_type: Any) -> Any:
        self.calls += 1
        return super().deserialize(payload, obj_type)


@pytest.fixture
def serializer() -> EnvelopeSerializer:
    built = EnvelopeSerializer()
    built._stock = CountingStock()
    return built


def stock_calls(serializer: EnvelopeSerializer) -> int:
    stock = serializer._stock
    assert isinstance(stock, CountingStock)
    return stock.calls


@pytest.mark.parametrize("path", ENVELOPES, ids=lambda path: path.stem)
def test_every_fixture_envelope_reads_as_the_sdk_reads_it(
    path: Path, serializer: EnvelopeSerializer
) -> None:
    text = path.read_text(encoding="utf-8")

    ours = serializer.deserialize(text, RequestEnvelope)
    theirs = DefaultSerializer().deserialize(text, RequestEnvelope)

    assert ours == theirs
    assert type(ours.request) is type(theirs.request)
    assert ours.request.timestamp == theirs.request.timestamp
    assert type(ours.request.timestamp.tzinfo) is type(theirs.request.timestamp.tzinfo)
    assert DefaultSerializer().serialize(ours) == DefaultSerializer().serialize(theirs)
    assert stock_calls(serializer) == 0  # read the quick way, not handed over


def test_fields_the_model_does_not_know_are_kept_as_the_sdk_keeps_them(
    serializer: EnvelopeSerializer,
) -> None:
    envelope = json.loads((FIXTURES / "alexa" / "launch.json").read_text(encoding="utf-8"))
    envelope["somethingNew"] = {"nested": [1, 2]}
    envelope["request"]["alsoNew"] = "x"
    text = json.dumps(envelope)

    ours = serializer.deserialize(text, RequestEnvelope)

    assert ours == DefaultSerializer().deserialize(text, RequestEnvelope)
    assert vars(ours)["somethingNew"] == {"nested": [1, 2]}


def _spoiled(spoil: str) -> str:
    envelope = json.loads((FIXTURES / "alexa" / "launch.json").read_text(encoding="utf-8"))
    if spoil == "not-json":
        return "{not json"
    if spoil == "bad-timestamp":
        envelope["request"]["timestamp"] = "yesterday at noon"
    if spoil == "month-13":
        envelope["request"]["timestamp"] = "2026-13-01T10:00:00Z"
    if spoil == "offset-timestamp":
        envelope["request"]["timestamp"] = "2026-11-25T18:03:46+01:00"
    if spoil == "unknown-request-type":
        envelope["request"]["type"] = "NoSuchRequest"
    if spoil == "session-not-object":
        envelope["session"] = ["a", "list"]
    if spoil == "number-as-string":
        envelope["session"]["new"] = "yes"
    return json.dumps(envelope)


@pytest.mark.parametrize(
    "spoil",
    [
        "not-json",
        "bad-timestamp",
        "month-13",
        "offset-timestamp",
        "unknown-request-type",
        "session-not-object",
        "number-as-string",
    ],
)
def test_an_odd_envelope_gets_the_sdks_own_answer_or_error(
    spoil: str, serializer: EnvelopeSerializer
) -> None:
    text = _spoiled(spoil)
    expected: Any
    try:
        expected = DefaultSerializer().deserialize(text, RequestEnvelope)
    except SerializationException as err:
        expected = ("refused", str(err))
    try:
        ours: Any = serializer.deserialize(text, RequestEnvelope)
    except SerializationException as err:
        ours = ("refused", str(err))

    assert ours == expected


@pytest.fixture(params=["UTC", "Europe/London", "America/New_York", "Etc/GMT-3"])
def time_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The machine's own time zone, which dateutil consults when it reads a "Z"."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    try:
        yield request.param
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-25T18:03:46Z",
        "2026-03-29T01:30:00Z",  # the hour the UK's clocks skip
        "2026-10-25T01:30:00Z",  # the hour they repeat
        "2026-11-25T18:03:46.5Z",
        "2026-11-25T18:03:46.123456Z",
    ],
)
def test_a_timestamp_reads_as_dateutil_reads_it_in_any_local_zone(
    stamp: str, time_zone: str, serializer: EnvelopeSerializer
) -> None:
    ours = serializer._timestamp(stamp)
    theirs = parse(stamp)

    assert (ours, type(ours.tzinfo), ours.tzinfo, ours.fold, ours.utcoffset()) == (
        theirs,
        type(theirs.tzinfo),
        theirs.tzinfo,
        theirs.fold,
        theirs.utcoffset(),
    )
    assert os.environ["TZ"] == time_zone


def test_every_fixture_envelope_and_a_reply_serialize_as_the_sdk_serializes_them(
    serializer: EnvelopeSerializer,
) -> None:
    built = [
        DefaultSerializer().deserialize(path.read_text("utf-8"), RequestEnvelope)
        for path in ENVELOPES
    ]
    factory = ResponseFactory()
    factory.speak("<speak>Hi</speak>").ask("<speak>Again?</speak>").set_should_end_session(False)
    built.append(
        ResponseEnvelope(
            version="1.0",
            session_attributes={"pending": None, "n": (1, 2)},
            response=factory.response,
        )
    )

    for obj in built:
        assert serializer.serialize(obj) == DefaultSerializer().serialize(obj)
