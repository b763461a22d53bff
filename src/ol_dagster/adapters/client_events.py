"""The JSON of an event (`event_json`) as openlineage-python's own objects, for `client.emit`.

ol-dagster maps its events to OpenLineage once, as JSON (`event_json`). A transport other than
HTTP (Kafka, file, composite, a user's own), and the client's filters, tags and dataset
reduction, take the client's `event_v2` objects: this module builds them from that JSON by the
client's own class definitions, never by a second mapping. Each facet becomes the class whose
schema URL it carries (found among the client's generated facets); a facet the client has no
class for, or one with fields its class lacks (a user's facet), stays a JSON object, which the
client's Serde writes as it is. A round trip gives back the same JSON, byte for byte
(`tests/contract/test_event_json_contract.py`).
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any

import attr
from openlineage.client import generated
from openlineage.client.event_v2 import DatasetEvent, RunEvent
from openlineage.client.generated.base import BaseFacet

JsonDict = dict[str, Any]


def client_event(event: JsonDict) -> RunEvent | DatasetEvent:
    """The client's object of a run event or a dataset event written as JSON."""
    built = _structure(DatasetEvent if "dataset" in event else RunEvent, event)
    assert isinstance(built, RunEvent | DatasetEvent)
    return built


def client_facet(facet: JsonDict) -> Any:
    """The client's object of a facet written as JSON (the JSON itself for one it has no class
    for)."""
    return _facet(facet)


@cache
def _facet_classes() -> dict[str, type[BaseFacet]]:
    """Every facet class of the client, by the schema URL its JSON carries."""
    found: dict[str, type[BaseFacet]] = {}
    for module_info in pkgutil.iter_modules(generated.__path__):
        module = importlib.import_module(f"{generated.__name__}.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and attr.has(value) and issubclass(value, BaseFacet):
                found.setdefault(value._get_schema(), value)
    return found


_Convert = Callable[[Any], Any]


@cache
def _plan(cls: type) -> tuple[frozenset[str], tuple[tuple[str, str, _Convert], ...]]:
    """The JSON keys `cls` takes, and (JSON key, argument name, converter) of each field it is
    built with: worked out once per class from its attrs fields and type hints."""
    hints = typing.get_type_hints(cls)
    fields = tuple(
        (
            field.name,
            getattr(field, "alias", None) or field.name.lstrip("_"),
            _converter(hints[field.name]),
        )
        for field in attr.fields(cls)
        if field.init
    )
    return frozenset(key for key, _, _ in fields) | {"_schemaURL", "schemaURL"}, fields


def _structure(cls: type, value: JsonDict) -> Any:
    keys, fields = _plan(cls)
    if not keys.issuperset(value):
        return value  # fields the class lacks: kept as JSON
    return cls(**{name: convert(value[key]) for key, name, convert in fields if key in value})


def _same(value: Any) -> Any:
    return value


@cache
def _converter(kind: Any) -> _Convert:
    """How a JSON value becomes the type `kind` of the field it is for (None stays None)."""
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        real = [a for a in arguments if a is not type(None)]
        if len(real) != 1:
            return _same
        inner = _converter(real[0])
        return lambda value: None if value is None else inner(value)
    if origin is list:
        item = _converter(arguments[0])
        return lambda value: [item(v) for v in value]
    if origin is dict:
        if isinstance(arguments[1], type) and issubclass(arguments[1], BaseFacet):
            return lambda value: {name: _facet(facet) for name, facet in value.items()}
        each = _converter(arguments[1])  # column lineage's fields, say
        return lambda value: {name: each(item) for name, item in value.items()}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind
    if isinstance(kind, type) and attr.has(kind):
        return lambda value: _structure(kind, value) if isinstance(value, dict) else value
    return _same


def _facet(value: Any) -> Any:
    cls = _facet_classes().get(value.get("_schemaURL", "")) if isinstance(value, dict) else None
    return _structure(cls, value) if cls is not None else value
