"""The CDS Hooks 2.0 JSON Schema (``schemas/cds-hooks-2.0.schema.json``) and its validators."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_PATH = Path(__file__).with_name("schemas") / "cds-hooks-2.0.schema.json"


@cache
def load_schema() -> dict[str, Any]:
    """The schema document (``$defs`` hold every message type)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def validator(definition: str) -> Draft202012Validator:
    """A validator for one ``$defs`` entry, e.g. ``Response`` or ``PatientViewRequest``."""
    doc = load_schema()
    if definition not in doc["$defs"]:
        raise KeyError(definition)
    return Draft202012Validator({"$defs": doc["$defs"], "$ref": f"#/$defs/{definition}"})


def expression(error: ValidationError) -> str:
    """A FHIRPath-like location of an error: ``context.selections[0]``."""
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "$"


def problems(definition: str, instance: Any, limit: int = 10) -> list[tuple[str, str]]:
    """(location, message) pairs for the first ``limit`` violations, most relevant first."""
    v = validator(definition)
    errors = sorted(v.iter_errors(instance), key=lambda e: (len(e.absolute_path), e.path))
    if not errors:
        return []
    first = best_match(errors)
    ordered = [first] + [e for e in errors if e is not first]
    out = []
    for err in ordered[:limit]:
        leaf = best_match([err]) if err.context else err
        message = leaf.message
        if len(message) > 200:
            message = message[:197] + "..."
        out.append((expression(leaf), message))
    return out
