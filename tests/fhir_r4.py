"""An independent FHIR R4 validator for the tests: the official JSON Schema and the
invariants of the published R4 StructureDefinitions, evaluated with fhirpathpy.

Both come from HL7's ``hl7.fhir.r4.core`` 4.0.1 (CC0-1.0), vendored under
``tests/data/fhir-r4/`` by ``scripts/vendor_fhir_r4.py`` (see tests/data/README.md).
fhir.resources checks structure and types but evaluates no invariant; this does.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path
from typing import Any

import fhirpathpy
import jsonschema_rs
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models
from fhirpathpy.parser import parse

DATA = Path(__file__).resolve().parent / "data" / "fhir-r4"
MODEL = models["r4"]
#: Invariants met that fhirpathpy cannot evaluate (key -> why), for the tests to report.
UNEVALUATED: dict[str, str] = {}


def _bdl_10(bundle: Any) -> bool:
    """bdl-10 (its expression uses hasValue()): a fullUrl is unique unless versions differ."""
    seen = set()
    for e in bundle.get("entry", ()):
        key = (e.get("fullUrl"), ((e.get("resource") or {}).get("meta") or {}).get("versionId"))
        if key[0] is not None and key in seen:
            return False
        seen.add(key)
    return True


#: Invariants whose R4 expression fhirpathpy cannot evaluate, checked natively.
NATIVE = {"bdl-10": _bdl_10}


@functools.cache
def _schema_validator() -> Any:
    schema = json.loads(gzip.decompress((DATA / "fhir.schema.json.gz").read_bytes()))
    return jsonschema_rs.Draft6Validator(schema)


@functools.cache
def definitions() -> dict[str, Any]:
    return json.loads(gzip.decompress((DATA / "invariants.json.gz").read_bytes()))


@functools.cache
def _elements(type_name: str) -> dict[str, dict[str, Any]]:
    return {e["path"]: e for e in definitions()["types"][type_name]["elements"]}


@functools.cache
def _parsed(expression: str) -> Any:
    return parse(expression)


def _evaluate(node: Any, base: str, expression: str, env: dict[str, Any]) -> list[Any]:
    """``expression`` on ``node`` typed as the element at ``base`` (so choice types and
    type tests resolve as they would inside the resource)."""
    typed = ResourceNode.create_node(node, base)
    return fhirpathpy.apply_parsed_path(typed, _parsed(expression), env, MODEL, None)


def schema_errors(resource: dict[str, Any]) -> list[str]:
    """What the official R4 JSON Schema says is wrong with ``resource``."""
    return [
        f"{'/'.join(map(str, e.instance_path))}: {e.message[:200]}"
        for e in _schema_validator().iter_errors(resource)
    ]


def _has_value(node: Any) -> bool:
    """ele-1: an element has a value or children other than ``id``."""
    if isinstance(node, dict):
        return any(k != "id" for k in node)
    if isinstance(node, list):
        return bool(node)
    return node is not None and node != ""


def _child(type_name: str, parent: str, key: str) -> dict[str, Any] | None:
    elements = _elements(type_name)
    found = elements.get(f"{parent}.{key}")
    if found is not None:
        return found
    for path, el in elements.items():  # a choice element: valueString -> value[x]
        if path.endswith("[x]") and path.rsplit(".", 1)[0] == parent:
            stem = path.rsplit(".", 1)[1][:-3]
            if key.startswith(stem) and key[len(stem) :][:1].isupper():
                suffix = key[len(stem) :]
                code = next((t for t in el["types"] if t[:1].upper() + t[1:] == suffix), None)
                if code is not None:
                    return {**el, "types": [code]}
    return None


def invariant_errors(resource: dict[str, Any]) -> list[str]:
    """Every error-severity invariant of R4 that ``resource`` breaks, with where."""
    out: list[str] = []
    _walk(resource, resource["resourceType"], resource["resourceType"], resource, "", out)
    return list(dict.fromkeys(out))


def _check(node: Any, element: dict[str, Any], base: str, root: dict, where: str, out: list):
    # ele-1 natively: fhirpathpy has no hasValue().
    if not _has_value(node):
        out.append(f"{where or root['resourceType']}: ele-1 (no value and no children)")
    env = {"resource": root, "rootResource": root}
    for c in element.get("constraints", ()):
        if c["severity"] != "error":
            continue
        if c["key"] in NATIVE:
            if not NATIVE[c["key"]](node):
                out.append(f"{where or root['resourceType']}: {c['key']} ({c['human']})")
            continue
        try:
            result = _evaluate(node, base, c["expression"], env)
        except Exception as exc:  # fhirpathpy lacks a function (hasValue, ...)
            UNEVALUATED.setdefault(c["key"], str(exc)[:120])
            continue
        if result and result != [True]:  # empty: not applicable, as validators read it
            out.append(f"{where or root['resourceType']}: {c['key']} ({c['human']})")


def _walk(node: Any, type_name: str, path: str, root: dict, where: str, out: list) -> None:
    element = _elements(type_name).get(path, {})
    _check(node, element, path, root, where, out)
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in ("resourceType",) or key.startswith("_"):
            continue
        child = _child(type_name, path, key)
        if child is None:
            out.append(f"{where}.{key}: not an element of {path}")
            continue
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            at = f"{where}.{key}[{i}]" if isinstance(value, list) else f"{where}.{key}"
            _walk_element(item, type_name, child, root, at.lstrip("."), out)


def _walk_element(node: Any, type_name: str, el: dict, root: dict, where: str, out: list) -> None:
    types = el.get("types") or []
    if el.get("contentReference"):
        _walk(node, type_name, el["contentReference"], root, where, out)
    elif types and types[0] in ("BackboneElement", "Element") and isinstance(node, dict):
        _walk(node, type_name, el["path"], root, where, out)
    elif types and types[0] == "Resource" and isinstance(node, dict):
        _walk(node, node["resourceType"], node["resourceType"], node, where, out)
    elif types and types[0] in definitions()["types"] and isinstance(node, dict):
        _check(node, el, types[0], root, where, out)  # the element's own constraints
        _walk(node, types[0], types[0], root, where, out)
    else:
        _check(node, el, el["path"], root, where, out)


def problems(resource: dict[str, Any]) -> list[str]:
    """JSON Schema errors and invariant errors of ``resource`` (empty when valid)."""
    return schema_errors(resource) + invariant_errors(resource)
