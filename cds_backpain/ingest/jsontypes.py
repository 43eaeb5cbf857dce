"""Check the JSON types of FHIR primitives before model validation.

FHIR JSON fixes the JSON type of every primitive: booleans are ``true``/``false``,
integers and decimals are numbers, everything else (dates, codes, strings...) is a
string. fhir.resources validates leniently and would, for instance, read the number
``20260520`` in ``onsetDateTime`` as a Unix timestamp (1970-08-23): a silent wrong
answer. This module walks the raw JSON alongside the model's field types and reports
every primitive of the wrong JSON type.
"""

from __future__ import annotations

import datetime as dt
import decimal
import types
import typing
from functools import cache
from typing import Any

from pydantic import BaseModel

from .outcome import Problems

#: JSON kinds of FHIR primitives.
_BOOL, _INT, _DEC, _STR = "boolean", "integer", "decimal", "string"
_JSON_NAME = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}


def _kind(annotation: Any) -> tuple[str, Any] | None:
    """(kind, detail) of a field annotation: a primitive kind, ("model", cls) or a resource."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return _kind(arg)
        return None
    if origin in (list, typing.List):  # noqa: UP006 - fhir.resources uses typing.List
        return _kind(typing.get_args(annotation)[0])
    if origin is typing.Annotated:
        return _kind(typing.get_args(annotation)[0])
    if annotation is bool:
        return (_BOOL, None)
    if annotation is int:
        return (_INT, None)
    if annotation in (decimal.Decimal, float):
        return (_DEC, None)
    if annotation in (str, dt.datetime, dt.date, dt.time):
        return (_STR, None)
    getter = getattr(annotation, "get_model_klass", None)
    if getter is not None:
        klass = getter()
        if klass.__name__ in ("Resource", "DomainResource"):
            return ("resource", None)
        return ("model", klass)
    return None


@cache
def _fields(model: type[BaseModel]) -> dict[str, tuple[str, Any, bool]]:
    """JSON name -> (kind, detail, is_list) for the element fields of ``model``."""
    out: dict[str, tuple[str, Any, bool]] = {}
    for name, field in model.model_fields.items():
        alias = field.alias or name
        if alias.startswith("_") or name == "resource_type":
            continue
        kind = _kind(field.annotation)
        if kind is None:
            continue
        text = str(field.annotation)
        is_list = "List[" in text or "list[" in text
        out[alias] = (*kind, is_list)
    return out


def _json_type_ok(kind: str, value: Any) -> bool:
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _DEC:
        return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)
    return isinstance(value, str)


def check_json_types(
    raw: dict[str, Any], model: type[BaseModel], where: str, problems: Problems, resolve: Any
) -> set[str]:
    """Record a ``structure`` defect for every primitive of the wrong JSON type.

    ``resolve(resource_type)`` gives the model class of a contained resource (or None).
    Returns the expressions reported, so model errors at the same place can be skipped.
    """
    reported: set[str] = set()
    fields = _fields(model)
    for key, value in raw.items():
        spec = fields.get(key)
        if spec is None or value is None:
            continue  # unknown elements and nulls are the model's to report
        kind, detail, is_list = spec
        at = f"{where}.{key}"
        items = value if is_list and isinstance(value, list) else [value]
        for i, item in enumerate(items):
            item_at = f"{at}[{i}]" if is_list and isinstance(value, list) else at
            if kind in (_BOOL, _INT, _DEC, _STR):
                if item is not None and not _json_type_ok(kind, item):
                    got = _JSON_NAME.get(type(item), "an object or array")
                    problems.error("structure", f"{key} must be a JSON {kind}, not {got}", item_at)
                    reported.add(item_at)
            elif not isinstance(item, dict):
                if item is not None:
                    problems.error("structure", f"{key} must be a JSON object", item_at)
                    reported.add(item_at)
            else:
                if kind == "model":
                    reported |= check_json_types(item, detail, item_at, problems, resolve)
                else:
                    sub = resolve(item.get("resourceType"))
                    if sub is not None:
                        reported |= check_json_types(item, sub, item_at, problems, resolve)
    return reported
