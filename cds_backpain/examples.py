"""The bundled clinical examples (``fhir_examples/``) and their expected outcomes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .evaluation import Evaluation

EXAMPLES_NOW = "2026-06-01T12:00:00Z"


def examples_root() -> Path:
    """The wheel's copy of the examples, or the checkout's ``fhir_examples/``."""
    here = Path(__file__).resolve().parent
    packaged = here / "_examples"
    return packaged if packaged.is_dir() else here.parent / "fhir_examples"


@dataclass(frozen=True)
class Example:
    name: str
    path: Path
    expected: dict[str, Any]

    @property
    def now(self) -> str:
        return str(self.expected.get("now", EXAMPLES_NOW))


def load_examples(root: Path | None = None) -> list[Example]:
    """Every ``*.json`` bundle with an ``*.expected.json`` beside it, sorted by name."""
    root = root or examples_root()
    out = []
    for path in sorted(root.glob("*.json")):
        if path.name.endswith(".expected.json"):
            continue
        exp = path.with_name(path.stem + ".expected.json")
        expected = json.loads(exp.read_text(encoding="utf-8")) if exp.is_file() else {}
        out.append(Example(path.stem, path, expected))
    return out


def mismatches(example: Example, ev: Evaluation) -> list[str]:
    """What differs between the evaluation and the example's expectation (empty when it matches)."""
    exp, out = example.expected, []
    if "urgency" in exp and ev.urgency != exp["urgency"]:
        out.append(f"urgency {ev.urgency} != expected {exp['urgency']}")
    if "imaging" in exp and ev.imaging != exp["imaging"]:
        out.append(f"imaging {ev.imaging} != expected {exp['imaging']}")
    cats = ev.categories
    for c in exp.get("categories", []):
        if c not in cats:
            out.append(f"category {c} missing (got {sorted(cats)})")
    for c in exp.get("absent_categories", []):
        if c in cats:
            out.append(f"category {c} present but must not be")
    if "red_flag" in exp and bool(ev.red_flags) != exp["red_flag"]:
        out.append(f"red flag {bool(ev.red_flags)} != expected {exp['red_flag']}")
    if "self_care" in exp:
        got = any(c.self_care for c in ev.conclusions)
        if got != exp["self_care"]:
            out.append(f"self-care advice {got} != expected {exp['self_care']}")
    seen = {f["concept"] for f in ev.facts}
    for concept in exp.get("recognised", []):
        if concept not in seen:
            out.append(f"concept {concept} not recognised in the input")
    for ref, rating in exp.get("ratings", {}).items():
        if ev.ratings.get(ref) != rating:
            out.append(f"rating of {ref} {ev.ratings.get(ref)} != expected {rating}")
    return out
