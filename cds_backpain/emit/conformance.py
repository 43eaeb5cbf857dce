"""The conformance resources behind every URL the output uses under our canonical base.

* ``knowledge/codesystems/``: conclusion categories, override reasons, local findings,
  and ``rules`` (the card topic codes: one per recommending rule, generated from the
  rules by :func:`rules_codesystem`; a test keeps the file in step);
* ``knowledge/structuredefinitions/``: every extension we define (on value sets and on
  Provenance entities);
* ``knowledge/valuesets/``: the value sets the rules read.

The service serves them at ``/fhir/<type>/<id>`` under the configured canonical base
(:func:`~._shared.canonical_base`). Regenerate the rules CodeSystem after changing rules::

    python -m cds_backpain.emit.conformance
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._shared import BASE, RULES_SYSTEM, rebase

if TYPE_CHECKING:
    from ..kb.knowledge import Knowledge

#: Folder of ``knowledge/`` per served resource type.
FOLDERS = {
    "CodeSystem": "codesystems",
    "StructureDefinition": "structuredefinitions",
    "ValueSet": "valuesets",
}
RULES_FILE = "codesystems/rules.json"


def rules_codesystem(knowledge: Knowledge) -> dict[str, Any]:
    """The CodeSystem of card topics: one code per rule that recommends (its id)."""
    concepts = [
        {"code": rule.id, "display": rule.title, "definition": " ".join(rule.description.split())}
        for rule in knowledge.rules.values()
        if rule.recommend is not None
    ]
    return {
        "resourceType": "CodeSystem",
        "id": "rules",
        "url": RULES_SYSTEM,
        "name": "Rules",
        "title": "cds-backpain recommendation rules",
        "status": "active",
        "content": "complete",
        "caseSensitive": True,
        "description": (
            "The recommendation rules of the cds-backpain knowledge base: the topic of each "
            "CDS Hooks card (card.source.topic) and the feedback records. Generated from "
            "knowledge/rules by `python -m cds_backpain.emit.conformance`."
        ),
        "count": len(concepts),
        "concept": sorted(concepts, key=lambda c: c["code"]),
    }


def conformance_resources(knowledge: Knowledge) -> dict[tuple[str, str], dict[str, Any]]:
    """``(type, id)`` -> the resource as served (URLs under the configured base)."""
    root = Path(knowledge.root)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for rtype, folder in FOLDERS.items():
        for path in sorted((root / folder).glob("*.json")):
            res = json.loads(path.read_text(encoding="utf-8"))
            if res.get("resourceType") == rtype and isinstance(res.get("id"), str):
                out[rtype, res["id"]] = rebase(res)
    return out


def canonical_urls(knowledge: Knowledge) -> set[str]:
    """Every canonical URL the knowledge defines (as written, under :data:`BASE`)."""
    root = Path(knowledge.root)
    urls = set()
    for folder in FOLDERS.values():
        for path in (root / folder).glob("*.json"):
            url = json.loads(path.read_text(encoding="utf-8")).get("url")
            if isinstance(url, str) and url.startswith(BASE + "/"):
                urls.add(url)
    return urls


def write_rules_codesystem(knowledge: Knowledge) -> Path:
    """(Re)write ``knowledge/codesystems/rules.json`` from the rules."""
    path = Path(knowledge.root) / RULES_FILE
    text = json.dumps(rules_codesystem(knowledge), indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


if __name__ == "__main__":  # pragma: no cover - maintenance command
    from ..kb.loader import load_knowledge

    print(write_rules_codesystem(load_knowledge()))
