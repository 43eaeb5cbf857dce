"""Qualifier codes ingest reads: present/absent answers, positive/negative
interpretations and body-site sides.

These are answer and structure codes (SNOMED CT qualifier values, LOINC answer codes) that
every FHIR record uses the same way, kept here. Medication route and dose-form
qualifiers are clinical judgement and live in ``knowledge/valuesets`` (fact-kind
``qualifier``).
"""

from __future__ import annotations

from ..facts import Laterality

SNOMED = "http://snomed.info/sct"

LOINC = "http://loinc.org"

#: Observation.valueCodeableConcept answers: SNOMED CT 52101004 Present / 2667000
#: Absent, and the yes/no answers EHR forms send: SNOMED 373066001 Yes / 373067005 No
#: (qualifier values) and the LOINC answer codes LA33-6 Yes / LA32-8 No, as public FHIR
#: implementation-guide examples send them (e.g. MDS assessment Observations).
PRESENT: frozenset[tuple[str, str]] = frozenset(
    {(SNOMED, "52101004"), (SNOMED, "373066001"), (LOINC, "LA33-6")}
)
ABSENT: frozenset[tuple[str, str]] = frozenset(
    {(SNOMED, "2667000"), (SNOMED, "373067005"), (LOINC, "LA32-8")}
)

#: Condition/Observation.bodySite side qualifiers (SNOMED CT qualifier values).
BODY_SITE_SIDE: dict[tuple[str, str], Laterality] = {
    (SNOMED, "7771000"): "left",
    (SNOMED, "24028007"): "right",
    (SNOMED, "51440002"): "bilateral",
}

#: Observation.interpretation (FHIR R4 required-extensible binding, HL7 v3
#: ObservationInterpretation): positive / detected and negative / not detected. Read only
#: when a finding Observation (or component) has no value.
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
INTERPRETATION_POSITIVE: frozenset[tuple[str, str]] = frozenset(
    {(V3_INTERPRETATION, "POS"), (V3_INTERPRETATION, "DET")}
)
INTERPRETATION_NEGATIVE: frozenset[tuple[str, str]] = frozenset(
    {(V3_INTERPRETATION, "NEG"), (V3_INTERPRETATION, "ND")}
)
