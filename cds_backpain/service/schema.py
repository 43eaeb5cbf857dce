"""The CDS Hooks 2.0 JSON Schema (``schemas/cds-hooks-2.0.schema.json``) and its validators.

Two validators per definition: jsonschema-rs (compiled, about 1 µs per hook request)
answers "valid?" on every request; python-jsonschema, the reference, words the errors
and has the last word whenever the fast one says no. The fast validator is trusted only
to say yes, and a differential property test (``tests/service/test_schema.py``) checks
that it never says yes where the reference says no.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_PATH = Path(__file__).with_name("schemas") / "cds-hooks-2.0.schema.json"


@cache
def load_schema() -> dict[str, Any]:
    """The schema document (``$defs`` hold every message type)."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))  # an object
    return schema


@cache
def validator(definition: str) -> Draft202012Validator:
    """A validator for one ``$defs`` entry, e.g. ``Response`` or ``PatientViewRequest``."""
    doc = load_schema()
    if definition not in doc["$defs"]:
        raise KeyError(definition)
    return Draft202012Validator({"$defs": doc["$defs"], "$ref": f"#/$defs/{definition}"})


@cache
def fast_validator(definition: str) -> jsonschema_rs.Draft202012Validator:
    """The compiled validator of one ``$defs`` entry (formats are annotations, as in the
    reference)."""
    doc = load_schema()
    if definition not in doc["$defs"]:
        raise KeyError(definition)
    return jsonschema_rs.Draft202012Validator(
        {"$defs": doc["$defs"], "$ref": f"#/$defs/{definition}"}, validate_formats=False
    )


def expression(error: ValidationError) -> str:
    """A FHIRPath-like location of an error: ``context.selections[0]``."""
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "$"


def problems(definition: str, instance: Any, limit: int = 10) -> list[tuple[str, str]]:
    """(location, message) pairs for the first ``limit`` violations, most relevant first."""
    if fast_validator(definition).is_valid(instance):
        return []
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
