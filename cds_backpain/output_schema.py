"""The JSON Schema of ``Evaluation.to_json()``: the evaluation's JSON contract.

The shipped file ``cds_backpain/schemas/evaluation.schema.json`` is generated from the
output models (:mod:`cds_backpain.evaluation`) plus the rendered ``cards`` and ``bundle``;
``tests/test_output_schema.py`` checks it is current and validates every bundled
example's output against it. Regenerate with ``python -m cds_backpain.output_schema``.
Guide: docs/output.md.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "evaluation.schema.json"

_CARD = {
    "type": "object",
    "description": "A CDS Hooks 2.0 card (docs/cards.md).",
    "required": ["summary", "indicator", "source"],
    "properties": {
        "uuid": {"type": "string"},
        "summary": {"type": "string", "maxLength": 140},
        "detail": {"type": "string"},
        "indicator": {"enum": ["info", "warning", "critical"]},
        "source": {
            "type": "object",
            "required": ["label"],
            "properties": {"label": {"type": "string"}, "url": {"type": "string"}},
        },
        "suggestions": {"type": "array", "items": {"type": "object"}},
        "selectionBehavior": {"enum": ["at-most-one", "any"]},
        "overrideReasons": {"type": "array", "items": {"type": "object"}},
        "links": {"type": "array", "items": {"type": "object"}},
    },
}

_BUNDLE = {
    "type": "object",
    "description": "A FHIR R4 Bundle: RequestGroup, DetectedIssue per red flag, Provenance "
    "(docs/integration.md).",
    "required": ["resourceType", "type"],
    "properties": {
        "resourceType": {"const": "Bundle"},
        "type": {"type": "string"},
        "entry": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["resource"],
                "properties": {
                    "resource": {"type": "object", "required": ["resourceType"]},
                },
            },
        },
    },
}


def _nullable(prop: dict[str, Any]) -> bool:
    return any(alt.get("type") == "null" for alt in prop.get("anyOf", ()))


def _drop_omitted(schema: dict[str, Any]) -> None:
    """``to_json`` leaves out ``None`` values: a nullable field is not required."""
    props = schema.get("properties", {})
    if "required" in schema:
        schema["required"] = [k for k in schema["required"] if not _nullable(props.get(k, {}))]


def evaluation_schema() -> dict[str, Any]:
    """The schema, generated from the output models (what the shipped file must equal)."""
    from .evaluation import Evaluation

    schema = Evaluation.model_json_schema(mode="serialization")
    for sub in schema.get("$defs", {}).values():
        _drop_omitted(sub)
    _drop_omitted(schema)
    schema["properties"]["cards"] = {"type": "array", "items": _CARD}
    schema["properties"]["bundle"] = _BUNDLE
    schema["required"] = sorted({*schema["required"], "urgency", "cards", "bundle"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "cds-backpain evaluation (Evaluation.to_json())",
    }


def render() -> str:
    return json.dumps(evaluation_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


@cache
def load_schema() -> dict[str, Any]:
    """The shipped JSON Schema of ``Evaluation.to_json()``."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


if __name__ == "__main__":
    SCHEMA_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}", file=sys.stderr)
