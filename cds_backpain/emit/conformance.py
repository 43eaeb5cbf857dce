"""The conformance resources behind every URL the output uses under our canonical base.

* ``knowledge/codesystems/``: conclusion categories, override reasons, local findings
  (the card topic CodeSystem ``rules`` is generated from the rules by
  :mod:`cds_backpain.publish.fhir_package`, with the other knowledge artifacts);
* ``knowledge/structuredefinitions/``: every extension we define (on value sets and on
  Provenance entities);
* ``knowledge/valuesets/``: the value sets the rules read.

The service serves them at ``/fhir/<type>/<id>``, with the exported artifacts, under the
configured canonical base (:func:`~.canonical.canonical_base`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .canonical import rebase

if TYPE_CHECKING:
    from ..kb.knowledge import Knowledge

#: Folder of ``knowledge/`` per served resource type.
FOLDERS = {
    "CodeSystem": "codesystems",
    "StructureDefinition": "structuredefinitions",
    "ValueSet": "valuesets",
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
