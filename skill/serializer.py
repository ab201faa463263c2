"""The SDK's envelope deserializer with its reflection done once per type instead of per request.

ask-sdk-core's DefaultSerializer rebuilds every model from the type strings in its classes'
`deserialized_types` on every request: it re-parses each string, imports each class by name,
re-derives each class's attribute map and parses the timestamp with dateutil's general
parser. EnvelopeSerializer keeps, per type string and per class, what those steps found, and
reads Alexa's one timestamp spelling directly, so it builds the same objects for less.
Serializing the response walks each model class's fields from the same plan.

It only ever answers what the SDK's would: any input it was not planned for, and any error
on the way, is handed to a stock DefaultSerializer, which raises what it always raised.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from ask_sdk_core.serialize import DefaultSerializer
from dateutil import tz

#: How Alexa stamps requests: whole seconds, or a fraction, in UTC ("Z").
_ALEXA_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z", re.ASCII
)
#: What DefaultSerializer.serialize turns into JSON before it would look at a model's fields.
_NOT_MODELS = (*DefaultSerializer.PRIMITIVE_TYPES, list, tuple, date, Enum, Decimal, dict)
_LIST = re.compile(r"list\[(.*)\]")
_DICT = re.compile(r"dict\(([^,]*), (.*)\)")


class _Unplanned(Exception):
    """Input this serializer was not planned for: the stock serializer decides."""


@dataclass(frozen=True, slots=True)
class _Model:
    """What DefaultSerializer re-derives for a model class on every call, found once."""

    cls: type
    fields: tuple[tuple[str, str, Any], ...]  # (attribute, payload key, type), in map order
    written: tuple[tuple[str, str], ...]  # (attribute, payload key), in deserialized_types order
    keys: frozenset[str]
    discriminated: bool


class EnvelopeSerializer(DefaultSerializer):
    """DefaultSerializer's answers, with its per-type work remembered (per instance, bounded by
    the model's own types)."""

    def __init__(self) -> None:
        self._stock = DefaultSerializer()
        self._types: dict[str, tuple[str, Any]] = {}
        self._models: dict[type, _Model] = {}

    def deserialize(self, payload: Any, obj_type: Any) -> Any:
        """The stock serializer's result; it is asked itself whenever the quick way cannot say."""
        if payload is None:
            return None
        try:
            return self._value(json.loads(payload), obj_type)
        except Exception:
            return self._stock.deserialize(payload, obj_type)

    def serialize(self, obj: Any) -> Any:
        """The stock serializer's result for `obj`: plain JSON values, models as dicts."""
        try:
            return self._plain(obj)
        except Exception:
            return self._stock.serialize(obj)

    def _plain(self, obj: Any) -> Any:
        kind = type(obj)
        if obj is None or kind is str or kind is int or kind is float or kind is bool:
            return obj
        if kind is dict:
            return {key: self._plain(value) for key, value in obj.items()}
        if kind is list:
            return [self._plain(value) for value in obj]
        plan = None
        if hasattr(kind, "deserialized_types") and not issubclass(kind, _NOT_MODELS):
            plan = self._plan(kind)
        if plan is None:
            return self._stock.serialize(obj)  # tuples, dates, enums, numbers: its own way
        plain = {}
        for attribute, key in plan.written:
            value = getattr(obj, attribute)
            if value is not None:
                plain[key] = self._plain(value)
        return plain

    def _value(self, payload: Any, obj_type: Any) -> Any:
        if payload is None:
            return None
        if isinstance(obj_type, str):
            kind, target = self._type(obj_type)
            if kind == "list":
                return [self._value(item, target) for item in payload]
            if kind == "dict":
                return {key: self._value(item, target) for key, item in payload.items()}
            obj_type = target
        if obj_type in self.PRIMITIVE_TYPES:
            # DefaultSerializer's own cast; its ValueError goes to the stock path, which says so.
            try:
                return obj_type(payload)
            except UnicodeEncodeError:
                return str(payload)
            except TypeError:
                return payload
        if obj_type is object:
            return payload
        if obj_type is datetime:
            return self._timestamp(payload)
        if obj_type is date:
            raise _Unplanned(obj_type)
        return self._model(payload, obj_type)

    def _type(self, name: str) -> tuple[str, Any]:
        """What a type string names, as DefaultSerializer reads it: parsed once per string."""
        found = self._types.get(name)
        if found is not None:
            return found
        if name.startswith("list["):
            match = _LIST.match(name)
            if match is None or "," in match.group(1):
                raise _Unplanned(name)
            found = ("list", match.group(1).strip())
        elif name.startswith("dict("):
            match = _DICT.match(name)
            if match is None:
                raise _Unplanned(name)
            found = ("dict", match.group(2))
        elif name in self.NATIVE_TYPES_MAPPING:
            found = ("type", self.NATIVE_TYPES_MAPPING[name])
        else:
            found = ("type", self._class(name))
        self._types[name] = found
        return found

    def _class(self, name: str) -> Any:
        """The class a dotted name imports, as DefaultSerializer loads it: once per name."""
        found = self._types.get(name)
        if found is None:
            load = self._stock._DefaultSerializer__load_class_from_name  # type: ignore[attr-defined]
            found = self._types[name] = ("type", load(name))
        return found[1]

    def _model(self, payload: Any, cls: Any) -> Any:
        if not isinstance(cls, type) or issubclass(cls, Enum):
            if isinstance(cls, type) and isinstance(payload, str):
                return cls(payload)
            raise _Unplanned(cls)
        plan = self._plan(cls)
        if plan is None:
            return payload
        if not isinstance(payload, dict):
            raise _Unplanned(cls)
        if plan.discriminated:
            child = cls.get_real_child_model(payload)  # type: ignore[attr-defined]
            if not child:
                raise _Unplanned(cls)
            child_cls = self._class(child)
            plan = self._plan(child_cls)
            if plan is None:
                raise _Unplanned(child_cls)
        model = plan.cls()
        for attribute, key, kind in plan.fields:
            if key in payload:
                setattr(model, attribute, self._value(payload[key], kind))
        for key in payload:
            if key not in plan.keys:
                setattr(model, key, payload[key])
        return model

    def _plan(self, cls: type) -> _Model | None:
        """A model class's fields, as DefaultSerializer derives them; None: not a model."""
        plan = self._models.get(cls)
        if plan is not None:
            return plan
        if not hasattr(cls, "deserialized_types"):
            return None
        types = cls.deserialized_types  # type: ignore[attr-defined]
        attribute_map = cls.__dict__.get("attribute_map")
        # The stock serializer grows a class's map with any type it lacks (and a map a class
        # only inherits is shared with its parent): plan only the classes where that is a no-op.
        if "deserialized_types" not in cls.__dict__ or not isinstance(attribute_map, dict):
            raise _Unplanned(cls)
        if set(attribute_map) != set(types):
            raise _Unplanned(cls)
        plan = _Model(
            cls=cls,
            fields=tuple((name, key, types[name]) for name, key in attribute_map.items()),
            keys=frozenset(attribute_map.values()),
            written=tuple((name, attribute_map[name]) for name in types),
            discriminated=hasattr(cls, "get_real_child_model"),
        )
        self._models[cls] = plan
        return plan

    def _timestamp(self, payload: Any) -> datetime:
        """Alexa's "...Z" stamp as dateutil's parse returns it; anything else, dateutil's own."""
        match = _ALEXA_TIMESTAMP.fullmatch(payload) if isinstance(payload, str) else None
        if match is None:
            raise _Unplanned(payload)
        year, month, day, hour, minute, second, fraction = match.groups()
        naive = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int(fraction.ljust(6, "0")) if fraction else 0,
        )
        if "UTC" not in time.tzname:  # dateutil reads "Z" as local time if that is "UTC"
            return naive.replace(tzinfo=tz.UTC)
        # dateutil's own steps for a name in time.tzname (see parser._build_tzaware).
        aware = naive.replace(tzinfo=tz.tzlocal())
        if aware.tzname() != "UTC":
            folded = tz.enfold(aware, fold=1)
            if folded.tzname() == "UTC":
                aware = folded
        if aware.tzname() != "UTC":
            aware = aware.replace(tzinfo=tz.UTC)
        return aware
