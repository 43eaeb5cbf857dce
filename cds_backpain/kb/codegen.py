"""Generate the Python vocabulary that mirrors a knowledge CodeSystem.

The conclusion categories are a FHIR CodeSystem (``knowledge/codesystems/
conclusion-category.json``); the output model types them with a ``Literal`` generated from it
into ``cds_backpain/vocabulary/categories.py``, as fhir.resources generates its models.
Regenerate after editing the CodeSystem::

    python -m cds_backpain.kb.codegen          # rewrite the generated module
    python -m cds_backpain.kb.codegen --check  # exit 1 when it is stale

``tests/test_vocabulary.py`` fails while the module is stale, and the loader refuses a
knowledge base whose categories differ from the generated ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: The CodeSystem, relative to the knowledge root.
CATEGORY_CODESYSTEM = "codesystems/conclusion-category.json"
#: The generated module.
CATEGORY_MODULE = Path(__file__).resolve().parent.parent / "vocabulary" / "categories.py"


def category_codes(codesystem: dict[str, object]) -> list[tuple[str, str]]:
    """(code, display) of every concept of the conclusion-category CodeSystem, in its order."""
    concepts = codesystem.get("concept") or []
    assert isinstance(concepts, list)
    return [(str(c["code"]), str(c.get("display", c["code"]))) for c in concepts]


def render_categories(codesystem: dict[str, object]) -> str:
    """The source of the generated categories module."""
    lines = [
        f'"""Conclusion categories, generated from knowledge/{CATEGORY_CODESYSTEM}.',
        "",
        "Do not edit: regenerate with ``python -m cds_backpain.kb.codegen``.",
        '"""',
        "",
        "from typing import Literal",
        "",
        "Category = Literal[",
    ]
    codes = category_codes(codesystem)
    lines += [f"    {json.dumps(code)},  # {display}" for code, display in codes]
    lines += ["]", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knowledge", type=Path, default=None, help="knowledge root")
    parser.add_argument("--check", action="store_true", help="exit 1 if the module is stale")
    args = parser.parse_args(argv)
    from .loader import knowledge_root

    root = args.knowledge or knowledge_root()
    codesystem = json.loads((root / CATEGORY_CODESYSTEM).read_text(encoding="utf-8"))
    text = render_categories(codesystem)
    current = CATEGORY_MODULE.read_text(encoding="utf-8") if CATEGORY_MODULE.exists() else ""
    if args.check:
        if current != text:
            print(f"{CATEGORY_MODULE} is stale: run python -m cds_backpain.kb.codegen")
            return 1
        return 0
    if current != text:
        CATEGORY_MODULE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
