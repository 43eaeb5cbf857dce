"""Builders shared by the ingest tests (no tests here): FHIR R4 resources as JSON dicts,
the real value sets and parameters from ``knowledge/``, and an OperationOutcome check."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from fhir.resources.R4B.operationoutcome import OperationOutcome

from cds_backpain import ingest as ingest_pkg
from cds_backpain._errors import InvalidInputError
from cds_backpain.kb.models import ParameterFile
from cds_backpain.kb.valuesets import ValueSetIndex, load_valuesets

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
# third-party FHIR R4 data vendored with its licence (tests/data/README.md)
DATA = ROOT / "tests" / "data"

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
PID = "p1"
SNOMED = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"
UCUM = "http://unitsofmeasure.org"
OWN = "https://cds-backpain.example.org/fhir/CodeSystem/findings"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


@cache
def valuesets() -> ValueSetIndex:
    return load_valuesets(KNOWLEDGE / "valuesets", KNOWLEDGE / "codesystems")


@cache
def parameters() -> dict[str, Any]:
    data = yaml.safe_load((KNOWLEDGE / "parameters.yaml").read_text(encoding="utf-8"))
    return dict(ParameterFile.model_validate(data).parameters)


def run(data: Any, **kw: Any) -> ingest_pkg.Ingested:
    kw.setdefault("valuesets", valuesets())
    kw.setdefault("parameters", parameters())
    kw.setdefault("now", NOW)
    return ingest_pkg.ingest(data, **kw)


def outcome_of(data: Any, error: type[InvalidInputError] = InvalidInputError, **kw: Any) -> dict:
    """Ingest ``data`` expecting an error; return its OperationOutcome after checking it
    validates as an R4B OperationOutcome and echoes no long input text."""
    with pytest.raises(error) as info:
        run(data, **kw)
    outcome = info.value.outcome
    OperationOutcome.model_validate(outcome)
    assert outcome["issue"], "an error must carry at least one issue"
    for issue in outcome["issue"]:
        assert issue["severity"] == "error"
        assert len(issue["diagnostics"]) <= 300
    return outcome


def issue_codes(outcome: dict) -> list[tuple[str, str | None]]:
    return [(i["code"], (i.get("expression") or [None])[0]) for i in outcome["issue"]]


def cc(system: str, code: str, display: str | None = None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def patient(pid: str = PID, birth: str | None = "1990-03-15", gender: str = "female", **kw) -> dict:
    r: dict[str, Any] = {"resourceType": "Patient", "id": pid, "gender": gender}
    if birth is not None:
        r["birthDate"] = birth
    r.update(kw)
    return r


def condition(
    rid: str,
    code: dict,
    *,
    clinical: str | None = "active",
    verification: str | None = "confirmed",
    onset: str | None = "2026-05-20",
    subject: str = f"Patient/{PID}",
    **kw: Any,
) -> dict:
    r: dict[str, Any] = {
        "resourceType": "Condition",
        "id": rid,
        "code": code,
        "subject": {"reference": subject},
    }
    if clinical is not None:
        r["clinicalStatus"] = cc(CLINICAL, clinical)
    if verification is not None:
        r["verificationStatus"] = cc(VERIFICATION, verification)
    if onset is not None:
        r["onsetDateTime"] = onset
    r.update(kw)
    return r


def observation(
    rid: str,
    code: dict,
    *,
    status: str = "final",
    effective: str | None = "2026-05-30",
    subject: str | None = f"Patient/{PID}",
    **value: Any,
) -> dict:
    r: dict[str, Any] = {"resourceType": "Observation", "id": rid, "status": status, "code": code}
    if subject is not None:
        r["subject"] = {"reference": subject}
    if effective is not None:
        r["effectiveDateTime"] = effective
    r.update(value)
    return r


def quantity(value: float, code: str, unit: str | None = None) -> dict:
    return {"valueQuantity": {"value": value, "unit": unit or code, "system": UCUM, "code": code}}


def med_statement(rid: str, rxcui: str, *, status: str = "active", **kw: Any) -> dict:
    r = {
        "resourceType": "MedicationStatement",
        "id": rid,
        "status": status,
        "medicationCodeableConcept": cc(RXNORM, rxcui),
        "subject": {"reference": f"Patient/{PID}"},
    }
    r.update(kw)
    return r


def med_request(
    rid: str, rxcui: str, *, status: str = "active", intent: str | None = "order", **kw: Any
) -> dict:
    r: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "medicationCodeableConcept": cc(RXNORM, rxcui),
        "subject": {"reference": f"Patient/{PID}"},
        "authoredOn": "2026-05-01",
    }
    if intent is not None:
        r["intent"] = intent
    r.update(kw)
    return r


def service_request(rid: str, code: dict, *, status: str = "draft", **kw: Any) -> dict:
    r = {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "code": code,
        "subject": {"reference": f"Patient/{PID}"},
    }
    r.update(kw)
    return r


def bundle(*resources: dict, btype: str | None = "collection", full_urls: bool = False) -> dict:
    entries = []
    for r in resources:
        e: dict[str, Any] = {"resource": r}
        if full_urls:
            e["fullUrl"] = f"http://example.org/fhir/{r['resourceType']}/{r['id']}"
        entries.append(e)
    b: dict[str, Any] = {"resourceType": "Bundle", "entry": entries}
    if btype is not None:
        b["type"] = btype
    return b


def with_patient(*resources: dict, **kw: Any) -> dict:
    return bundle(patient(), *resources, **kw)


def facts_of(result: ingest_pkg.Ingested, kind: str | None = None, concept: str | None = None):
    return [
        f
        for f in result.facts
        if (kind is None or f.kind == kind) and (concept is None or f.concept == concept)
    ]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
