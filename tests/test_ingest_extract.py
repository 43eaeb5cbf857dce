"""``cds_backpain.ingest.extract``: details of reading statuses, onset ages and course lengths.

Written against the mutants the first mutation run left alive (docs/qa.md, section 6).
"""

from __future__ import annotations

from typing import Any

from test_ingest_support import (
    CLINICAL,
    SNOMED,
    bundle,
    cc,
    condition,
    facts_of,
    med_request,
    patient,
    run,
    with_patient,
)

LBP = cc(SNOMED, "279039007", "Low back pain")
PREDNISONE = "8640"
BORN = "1981-06-01"  # 45 years old at NOW (2026-06-01)


def only_finding(data: Any, concept: str = "low_back_pain"):
    (fact,) = facts_of(run(data), "finding", concept)
    return fact


def test_the_clinical_status_is_read_from_its_own_code_system_whatever_comes_first():
    status = {
        "coding": [
            {"system": "http://example.org/local-status", "code": "resolved"},
            {"system": CLINICAL, "code": "active"},
        ]
    }
    fact = only_finding(with_patient(condition("c1", LBP, clinical=None, clinicalStatus=status)))
    assert fact.status == "active"


def test_a_clinical_status_coding_without_a_system_is_still_read():
    status = {"coding": [{"code": "resolved"}]}
    fact = only_finding(with_patient(condition("c1", LBP, clinical=None, clinicalStatus=status)))
    assert fact.status == "history"


def _onset_age(value: float, code: str) -> dict[str, Any]:
    return bundle(
        patient(birth=BORN),
        condition(
            "c1",
            LBP,
            onset=None,
            onsetAge={
                "value": value,
                "unit": code,
                "system": "http://unitsofmeasure.org",
                "code": code,
            },
        ),
    )


def test_an_onset_age_in_years_months_weeks_or_days_dates_the_onset():
    # Onset at 44.5 years in a 45-year-old: about half a year ago, whatever the unit.
    days = {
        unit: only_finding(_onset_age(value, unit)).days
        for unit, value in (
            ("a", 44.5),
            ("mo", 534),
            ("wk", 44.5 * 365.25 / 7),
            ("d", 44.5 * 365.25),
        )
    }
    assert all(181 <= d <= 184 for d in days.values()), days


def test_an_onset_age_without_a_birth_date_is_reported_where_it_was_given():
    data = bundle(
        patient(birth=None),
        condition("c1", LBP, onset=None, onsetAge={"value": 40, "unit": "a", "code": "a"}),
    )
    result = run(data)
    where = [w.expression for w in result.warnings if "onset given as an age" in w.diagnostics]
    assert where and where[0][0].endswith(".onsetAge"), where


def _course(authored: str, **bounds: Any) -> dict[str, Any]:
    dosage = [{"timing": {"repeat": {"boundsDuration": bounds}}}] if bounds else []
    return with_patient(
        med_request("m1", PREDNISONE, authoredOn=authored, dosageInstruction=dosage)
    )


def test_a_course_length_bounds_the_exposure_in_days_or_weeks():
    def days(**bounds: Any) -> int | None:
        (fact,) = facts_of(run(_course("2025-11-13", **bounds)), "med", "systemic_corticosteroid")
        return fact.days

    assert days() == 200  # an open course runs up to now
    assert days(value=30, unit="d", code="d", system="http://unitsofmeasure.org") == 30
    assert days(value=6, unit="wk", code="wk", system="http://unitsofmeasure.org") == 42


def test_an_onset_age_with_a_unit_but_no_code_is_read():
    data = bundle(
        patient(birth=BORN),
        condition("c1", LBP, onset=None, onsetAge={"value": 44.5, "unit": "a"}),
    )
    assert 181 <= only_finding(data).days <= 184


def test_a_temperature_without_any_unit_is_not_used_and_says_so():
    temperature = {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]}
    obs = {
        "resourceType": "Observation",
        "id": "t1",
        "status": "final",
        "code": temperature,
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-05-30",
        "valueQuantity": {"value": 38.5},
    }
    result = run(with_patient(obs))
    assert facts_of(result, "measure", "body_temperature") == []
    assert any("cannot be converted" in w.diagnostics for w in result.warnings)
