"""SNOMED CT qualifier values ingest reads: present/absent answers and body-site sides.

The value set index (``knowledge/valuesets``) holds concepts of the fact kinds only
(finding, measure, med, order); it has no qualifier value sets. These few codes are
therefore kept here: the SNOMED CT qualifier values for Present / Absent answers and for
the left / right / bilateral body-site side.
"""

from __future__ import annotations

from ..facts import Laterality

SNOMED = "http://snomed.info/sct"

#: Observation.valueCodeableConcept answers (SNOMED CT 52101004 Present, 2667000 Absent).
PRESENT: frozenset[tuple[str, str]] = frozenset({(SNOMED, "52101004")})
ABSENT: frozenset[tuple[str, str]] = frozenset({(SNOMED, "2667000")})

#: Condition/Observation.bodySite side qualifiers (SNOMED CT qualifier values).
BODY_SITE_SIDE: dict[tuple[str, str], Laterality] = {
    (SNOMED, "7771000"): "left",
    (SNOMED, "24028007"): "right",
    (SNOMED, "51440002"): "bilateral",
}
