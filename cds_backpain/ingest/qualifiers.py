"""The qualifier value sets ingest reads, by key: present/absent answers, positive/negative
interpretations and body-site sides.

The codes are knowledge (``knowledge/valuesets``, fact-kind ``qualifier``:
``answer-present``, ``answer-absent``, ``interpretation-positive``,
``interpretation-negative``, ``body-site-side``, each side code with its ``laterality``), like
the medication routes and dose forms. Ingest matches them through the value-set index; the
test builders and the synthetic batch write the codings :func:`qualifier_codings` reads from
the same files, so the three can never disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

#: Observation.valueCodeableConcept answers: Present / Yes, and Absent / No.
ANSWER_PRESENT = "answer_present"
ANSWER_ABSENT = "answer_absent"
#: Observation.interpretation, read only when a finding Observation (or component) has no
#: value: positive / detected and negative / not detected.
INTERPRETATION_POSITIVE = "interpretation_positive"
INTERPRETATION_NEGATIVE = "interpretation_negative"
#: Condition/Observation.bodySite side qualifiers (each code carries its laterality).
BODY_SITE_SIDE = "body_site_side"
#: Every qualifier value set ingest needs (the loader refuses a knowledge base without one).
REQUIRED = (
    ANSWER_PRESENT,
    ANSWER_ABSENT,
    INTERPRETATION_POSITIVE,
    INTERPRETATION_NEGATIVE,
    BODY_SITE_SIDE,
)

_LATERALITY = "https://cds-backpain.example.org/fhir/StructureDefinition/laterality"


@dataclass(frozen=True)
class QualifierCode:
    """One code of a qualifier value set, in file order."""

    system: str
    code: str
    display: str
    laterality: str | None = None

    def coding(self) -> dict[str, str]:
        """The FHIR Coding."""
        return {"system": self.system, "code": self.code, "display": self.display}


def qualifier_codings(valuesets: Path, key: str) -> tuple[QualifierCode, ...]:
    """The codes of qualifier value set ``key`` (``valuesets/<key with ->.json``), in file
    order; the knowledge loader has validated the file."""
    path = Path(valuesets) / f"{key.replace('_', '-')}.json"
    vs = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for include in vs["compose"]["include"]:
        for c in include.get("concept", ()):
            side = next(
                (e["valueCode"] for e in c.get("extension", ()) if e["url"] == _LATERALITY), None
            )
            out.append(QualifierCode(include["system"], c["code"], c["display"], side))
    return tuple(out)
