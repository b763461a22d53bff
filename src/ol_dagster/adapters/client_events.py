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


@cache
def _fields(cls: type) -> tuple[tuple[str, str, Any], ...]:
    """(JSON key, argument name, type) of each field `cls` is built with."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (field.name, getattr(field, "alias", None) or field.name.lstrip("_"), hints[field.name])
        for field in attr.fields(cls)
        if field.init
    )


def _structure(cls: type, value: JsonDict) -> Any:
    fields = _fields(cls)
    if not set(value) <= {key for key, _, _ in fields} | {"_schemaURL", "schemaURL"}:
        return value  # fields the class lacks: kept as JSON
    arguments = {name: _value(kind, value[key]) for key, name, kind in fields if key in value}
    return cls(**arguments)


def _value(kind: Any, value: Any) -> Any:
    """`value` (JSON) as the type `kind` of the field it is for."""
    if value is None:
        return None
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        real = [a for a in arguments if a is not type(None)]
        return _value(real[0], value) if len(real) == 1 else value
    if origin is list:
        return [_value(arguments[0], item) for item in value]
    if origin is dict:
        if isinstance(arguments[1], type) and issubclass(arguments[1], BaseFacet):
            return {name: _facet(facet) for name, facet in value.items()}
        return value
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    if isinstance(kind, type) and attr.has(kind) and isinstance(value, dict):
        return _structure(kind, value)
    return value


def _facet(value: Any) -> Any:
    cls = _facet_classes().get(value.get("_schemaURL", "")) if isinstance(value, dict) else None
    return _structure(cls, value) if cls is not None else value
