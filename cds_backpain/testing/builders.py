"""Plain builders of the FHIR R4 JSON this domain reads (public: use them to pin a case).

Every builder returns a JSON dict that validates with the ``fhir.resources`` R4B
models. Times are written as FHIR ``dateTime`` values in UTC (``...Z``).
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..ingest.qualifiers import ANSWER_ABSENT, ANSWER_PRESENT, BODY_SITE_SIDE, qualifier_codings
from ..kb.loader import knowledge_root

__all__ = [
    "ABSENT",
    "CLINICAL_STATUSES",
    "EXAMPLE_NOW",
    "MED_REQUEST_STATUSES",
    "MED_STATEMENT_STATUSES",
    "OBSERVATION_STATUSES",
    "PRESENT",
    "SIDE_QUALIFIERS",
    "VERIFICATION_STATUSES",
    "birth_date_for_age",
    "bundle",
    "condition",
    "fhir_datetime",
    "medication_request",
    "medication_statement",
    "observation",
    "patient",
    "reference",
    "service_request",
    "with_patient_id",
    "with_resource",
    "without_resource",
]

#: The fixed evaluation instant of every bundled example (fhir_examples/README.md).
EXAMPLE_NOW = dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=dt.UTC)

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
CLINICAL_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-category"
OBS_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"

#: FHIR R4 Condition.clinicalStatus codes (required binding).
CLINICAL_STATUSES = ("active", "recurrence", "relapse", "inactive", "remission", "resolved")
#: FHIR R4 Condition.verificationStatus codes (required binding).
VERIFICATION_STATUSES = (
    "unconfirmed",
    "provisional",
    "differential",
    "confirmed",
    "refuted",
    "entered-in-error",
)
#: FHIR R4 Observation.status codes (required binding).
OBSERVATION_STATUSES = (
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
)
#: FHIR R4 MedicationStatement.status codes.
MED_STATEMENT_STATUSES = (
    "active",
    "completed",
    "entered-in-error",
    "intended",
    "stopped",
    "on-hold",
    "unknown",
    "not-taken",
)
#: FHIR R4 MedicationRequest.status codes.
MED_REQUEST_STATUSES = (
    "active",
    "on-hold",
    "cancelled",
    "completed",
    "entered-in-error",
    "stopped",
    "draft",
    "unknown",
)
_VALUESETS = knowledge_root() / "valuesets"
#: Observation answers: the first codes of knowledge/valuesets answer-present / answer-absent
#: (SNOMED CT qualifier values Present / Absent).
PRESENT = qualifier_codings(_VALUESETS, ANSWER_PRESENT)[0].coding()
ABSENT = qualifier_codings(_VALUESETS, ANSWER_ABSENT)[0].coding()
#: bodySite side qualifiers (knowledge/valuesets/body-site-side.json): side -> Coding.
SIDE_QUALIFIERS = {
    str(q.laterality): q.coding() for q in qualifier_codings(_VALUESETS, BODY_SITE_SIDE)
}
_LOWER_LIMB = {"system": SNOMED, "code": "61685007", "display": "Lower limb structure"}
_NAMESPACE = uuid.UUID("6f1c2a43-0d7e-5b9a-9c3e-2b1f0c7d4e55")


def fhir_datetime(when: dt.datetime) -> str:
    """A FHIR ``dateTime`` in UTC with second precision (``2026-06-01T12:00:00Z``)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def birth_date_for_age(age: int, now: dt.datetime, days_before_birthday: int = 0) -> dt.date:
    """A birth date giving exactly ``age`` whole years at ``now``.

    ``days_before_birthday`` (0-364) moves the date back from the latest such date.
    """
    today = now.astimezone(dt.UTC).date()
    year = today.year - age
    try:
        latest = today.replace(year=year)
    except ValueError:  # 29 February in a non-leap year
        latest = today.replace(year=year, day=28)
    return latest - dt.timedelta(days=max(0, min(days_before_birthday, 364)))


def reference(resource: Mapping[str, Any]) -> str:
    """``Type/id`` of a resource."""
    return f"{resource['resourceType']}/{resource['id']}"


def _concept(codings: Sequence[Mapping[str, Any]], text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": [dict(c) for c in codings]}
    if text:
        out["text"] = text
    return out


def patient(
    id: str = "pat",
    *,
    gender: str | None = None,
    birth_date: dt.date | str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """A Patient (``gender`` male/female/other/unknown; ``birth_date`` a date or FHIR date)."""
    out: dict[str, Any] = {"resourceType": "Patient", "id": id, "active": True}
    if name:
        out["name"] = [{"text": name}]
    if gender is not None:
        out["gender"] = gender
    if birth_date is not None:
        out["birthDate"] = (
            birth_date.isoformat() if isinstance(birth_date, dt.date) else str(birth_date)
        )
    return out


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def condition(
    id: str,
    codings: Sequence[Mapping[str, Any]],
    *,
    subject: str = "Patient/pat",
    clinical: str | None = "active",
    verification: str | None = "confirmed",
    onset: dt.datetime | str | None = None,
    side: str | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    """A Condition. ``clinical`` is dropped for entered-in-error (FHIR invariant con-5)."""
    out: dict[str, Any] = {"resourceType": "Condition", "id": id}
    if clinical is not None and verification != "entered-in-error":
        out["clinicalStatus"] = _status(CLINICAL_SYSTEM, clinical)
    if verification is not None:
        out["verificationStatus"] = _status(VERIFICATION_SYSTEM, verification)
    out["category"] = [_status(CATEGORY_SYSTEM, "encounter-diagnosis")]
    out["code"] = _concept(codings, text)
    if side is not None:
        out["bodySite"] = [_concept([_LOWER_LIMB]), _concept([SIDE_QUALIFIERS[side]])]
    out["subject"] = {"reference": subject}
    if onset is not None:
        out["onsetDateTime"] = onset if isinstance(onset, str) else fhir_datetime(onset)
    return out


def observation(
    id: str,
    codings: Sequence[Mapping[str, Any]],
    *,
    subject: str = "Patient/pat",
    status: str = "final",
    effective: dt.datetime | str | None = None,
    value: bool | Mapping[str, Any] | tuple[float, str] | None = True,
    side: str | None = None,
    category: str = "exam",
    text: str | None = None,
) -> dict[str, Any]:
    """An Observation valued ``value``.

    ``value`` is a boolean (``valueBoolean``), a Coding such as :data:`ABSENT`
    (``valueCodeableConcept``), a ``(number, UCUM unit)`` pair (``valueQuantity``) or None.
    """
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "id": id,
        "status": status,
        "category": [_status(OBS_CATEGORY_SYSTEM, category)],
        "code": _concept(codings, text),
        "subject": {"reference": subject},
    }
    if effective is not None:
        out["effectiveDateTime"] = (
            effective if isinstance(effective, str) else fhir_datetime(effective)
        )
    if isinstance(value, bool):
        out["valueBoolean"] = value
    elif isinstance(value, tuple):
        number, unit = value
        out["valueQuantity"] = {"value": number, "unit": unit, "system": UCUM, "code": unit}
    elif value is not None:
        out["valueCodeableConcept"] = _concept([value])
    if side is not None:
        out["bodySite"] = _concept([SIDE_QUALIFIERS[side]])
    return out


def medication_statement(
    id: str,
    codings: Sequence[Mapping[str, Any]],
    *,
    subject: str = "Patient/pat",
    status: str = "active",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> dict[str, Any]:
    """A MedicationStatement over ``effectivePeriod`` [start, end]."""
    out: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": id,
        "status": status,
        "medicationCodeableConcept": _concept(codings),
        "subject": {"reference": subject},
    }
    period = {}
    if start is not None:
        period["start"] = fhir_datetime(start)
    if end is not None:
        period["end"] = fhir_datetime(end)
    if period:
        out["effectivePeriod"] = period
    return out


def medication_request(
    id: str,
    codings: Sequence[Mapping[str, Any]],
    *,
    subject: str = "Patient/pat",
    status: str = "active",
    intent: str = "order",
    authored: dt.datetime | None = None,
) -> dict[str, Any]:
    """A MedicationRequest authored at ``authored``."""
    out: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": id,
        "status": status,
        "intent": intent,
        "medicationCodeableConcept": _concept(codings),
        "subject": {"reference": subject},
    }
    if authored is not None:
        out["authoredOn"] = fhir_datetime(authored)
    return out


def service_request(
    id: str,
    codings: Sequence[Mapping[str, Any]],
    *,
    subject: str = "Patient/pat",
    status: str = "draft",
    intent: str = "order",
    authored: dt.datetime | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """An imaging ServiceRequest (a draft order by default); ``reason`` is the indication
    it records (``reasonCode`` text; none by default: such an order is asked for one
    rather than rated "no criteria apply")."""
    out: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": id,
        "status": status,
        "intent": intent,
        "code": _concept(codings),
        "subject": {"reference": subject},
    }
    if authored is not None:
        out["authoredOn"] = fhir_datetime(authored)
    if reason is not None:
        out["reasonCode"] = [{"text": reason}]
    return out


def bundle(
    resources: Iterable[Mapping[str, Any]],
    *,
    id: str | None = None,
    timestamp: dt.datetime | None = None,
) -> dict[str, Any]:
    """A ``collection`` Bundle of ``resources`` with ``urn:uuid`` fullUrls (stable per id)."""
    entries = [
        {"fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, reference(r))}", "resource": dict(r)}
        for r in resources
    ]
    out: dict[str, Any] = {"resourceType": "Bundle", "type": "collection"}
    if id is not None:
        out["id"] = id
    if timestamp is not None:
        out["timestamp"] = fhir_datetime(timestamp)
    out["entry"] = entries
    return out


def with_resource(data: Mapping[str, Any], resource: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of bundle ``data`` with ``resource`` appended as a new entry."""
    out = copy.deepcopy(dict(data))
    entry = {
        "fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, reference(resource))}",
        "resource": copy.deepcopy(dict(resource)),
    }
    out["entry"] = [*out.get("entry", []), entry]
    return out


def without_resource(data: Mapping[str, Any], ref: str) -> dict[str, Any]:
    """A copy of bundle ``data`` without the entry whose resource is ``ref`` (``Type/id``)."""
    out = copy.deepcopy(dict(data))
    out["entry"] = [e for e in out.get("entry", []) if reference(e["resource"]) != ref]
    return out


def with_patient_id(data: Mapping[str, Any], pid: str) -> dict[str, Any]:
    """A copy of bundle ``data`` whose Patient is ``pid`` (every subject follows)."""
    out = copy.deepcopy(dict(data))
    for e in out.get("entry", []):
        res = e.get("resource", {})
        if res.get("resourceType") == "Patient":
            res["id"] = pid
            e["fullUrl"] = f"urn:uuid:{uuid.uuid5(_NAMESPACE, reference(res))}"
        elif isinstance(res.get("subject"), dict):
            res["subject"] = {"reference": f"Patient/{pid}"}
    return out
