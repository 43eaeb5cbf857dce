"""Systemic corticosteroid exposure (issue 10, section 4): the union of a patient's courses,
systemic routes and dose forms only, oral clinical drugs as well as ingredients, counted
while current or ended within the steroid exposure window."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from test_ingest_support import (
    NOW,
    RXNORM,
    SNOMED,
    bundle,
    cc,
    condition,
    facts_of,
    med_request,
    med_statement,
    patient,
    run,
    with_patient,
)

from cds_backpain import evaluate

PREDNISONE = "8640"
PREDNISONE_10_TABLET = "198145"  # VSAC Glucocorticoids (oral only)
METHYLPRED_4_TABLET = "259966"
HYDROCORTISONE = "5492"
METHYLPRED = "6902"
LBP = cc(SNOMED, "279039007", "Low back pain")
TOPICAL = cc(SNOMED, "6064005", "Topical route")
INTRA_ARTICULAR = cc(SNOMED, "12130007", "Intra-articular route")
INHALED = cc(SNOMED, "447694001", "Respiratory tract route")
NASAL = cc(SNOMED, "46713006", "Nasal route")
EYE = cc(SNOMED, "54485002", "Ophthalmic route")
ORAL = cc(SNOMED, "26643006", "Oral route")
IM = cc(SNOMED, "78421000", "Intramuscular route")
CREAM = cc(SNOMED, "385099005", "Cream")
TABLET = cc(SNOMED, "385055001", "Tablet")
FRAGILITY = "fx-fragility-lbp"


def day(offset: int) -> str:
    """The date ``offset`` days before the evaluation instant."""
    return (NOW - dt.timedelta(days=offset)).date().isoformat()


def fired(*resources: dict) -> set[str]:
    ev = evaluate(
        bundle(patient(birth="1970-01-01"), condition("lbp", LBP, onset=day(5)), *resources),
        now=NOW,
    )
    return {r for c in ev.conclusions for r in c.rules}


def steroid(*resources: dict):
    (f,) = facts_of(run(with_patient(*resources)), "med", "systemic_corticosteroid")
    return f


def monthly(i: int, authored: int, status: str, code: str = PREDNISONE, **kw: Any) -> dict:
    return med_request(
        f"rx{i}",
        code,
        status=status,
        authoredOn=day(authored),
        dispenseRequest={"expectedSupplyDuration": {"value": 30, "unit": "d", "code": "d"}},
        **kw,
    )


# -- the union of courses ------------------------------------------------------------------


def test_monthly_repeat_prescriptions_add_up_to_prolonged_use():
    repeats = [monthly(i, 30 * (4 - i), "completed") for i in range(4)] + [monthly(4, 0, "active")]
    f = steroid(*repeats)
    assert f.days == 120 and f.current is True and f.ended_days == 0
    assert set(f.resources()) == {f"MedicationRequest/rx{i}" for i in range(5)}
    assert FRAGILITY in fired(*repeats)
    # any one of them alone is a short course
    assert all(FRAGILITY not in fired(r) for r in repeats)


def test_refill_a_few_days_late_still_one_course():
    late = [monthly(i, 34 * (3 - i), "completed") for i in range(3)] + [monthly(3, 0, "active")]
    f = steroid(*late)
    assert f.days == 90  # the days supplied; the gaps between refills do not count
    assert len(f.resources()) == 4


def test_one_request_with_repeats_allowed_covers_its_repeats():
    rx = med_request(
        "rx",
        PREDNISONE,
        status="active",
        authoredOn=day(100),
        dispenseRequest={
            "expectedSupplyDuration": {"value": 30, "unit": "days", "code": "d"},
            "numberOfRepeatsAllowed": 3,
        },
    )
    f = steroid(rx)
    assert f.days == 100 and f.ended_days == 0  # 120 days supplied, 100 so far
    assert FRAGILITY in fired(rx)


def test_statement_and_requests_of_the_same_drug_are_one_exposure():
    statement = med_statement(
        "ms", PREDNISONE, status="completed", effectivePeriod={"start": day(200), "end": day(120)}
    )
    request = monthly(1, 110, "completed")
    request["dispenseRequest"] = {"validityPeriod": {"start": day(120), "end": day(1)}}
    f = steroid(statement, request)
    # 81 days (end date whole) + 110 days valid until yesterday, 9 days apart: one episode
    assert f.days == 81 + 110
    assert set(f.resources()) == {"MedicationStatement/ms", "MedicationRequest/rx1"}


def test_overlapping_courses_count_once():
    a = med_statement("a", PREDNISONE, effectivePeriod={"start": day(60), "end": day(10)})
    b = med_statement("b", PREDNISONE_10_TABLET, effectivePeriod={"start": day(50), "end": day(0)})
    assert steroid(a, b).days == 60


def test_dosage_bounds_and_count_give_the_course_length():
    bounded = med_request(
        "b",
        PREDNISONE,
        status="completed",
        authoredOn=day(30),
        dosageInstruction=[{"timing": {"repeat": {"boundsDuration": {"value": 2, "code": "wk"}}}}],
    )
    assert steroid(bounded).days == 14
    counted = med_request(
        "c",
        PREDNISONE,
        status="completed",
        authoredOn=day(30),
        dosageInstruction=[
            {"timing": {"repeat": {"count": 20, "frequency": 2, "period": 1, "periodUnit": "d"}}}
        ],
    )
    assert steroid(counted).days == 10


@pytest.mark.parametrize(
    ("ended", "counts"),
    [(0, True), (60, True), (364, True), (366, True), (367, False), (800, False)],
)
def test_a_long_course_counts_while_current_or_recently_ended(ended, counts):
    course = med_statement(
        "ms",
        PREDNISONE,
        status="completed",
        effectivePeriod={"start": day(ended + 240), "end": day(ended)},
    )
    f = steroid(course)
    assert f.current is False and f.days >= 240
    assert (FRAGILITY in fired(course)) is counts


def test_old_long_course_does_not_add_to_a_new_short_one():
    old = med_statement(
        "old", PREDNISONE, status="completed", effectivePeriod={"start": day(900), "end": day(600)}
    )
    new = med_statement("new", PREDNISONE, effectivePeriod={"start": day(20)})
    facts = facts_of(run(with_patient(old, new)), "med", "systemic_corticosteroid")
    assert sorted((f.source, f.days) for f in facts) == [
        ("MedicationStatement/new", 20),
        ("MedicationStatement/old", 301),  # the end date counts whole
    ]
    assert FRAGILITY not in fired(old, new)


# -- codes: ingredient, clinical drug, Medication resources -----------------------------


@pytest.mark.parametrize("code", [PREDNISONE, PREDNISONE_10_TABLET, METHYLPRED_4_TABLET])
def test_ingredient_and_oral_clinical_drug_codes_are_the_same_exposure(code):
    course = med_statement("ms", code, effectivePeriod={"start": day(240)})
    assert steroid(course).days == 240
    assert FRAGILITY in fired(course)


def test_referenced_and_contained_medication_with_clinical_drug_code():
    med = {"resourceType": "Medication", "id": "pred", "code": cc(RXNORM, PREDNISONE_10_TABLET)}
    ref = med_statement("a", PREDNISONE, effectivePeriod={"start": day(240)})
    del ref["medicationCodeableConcept"]
    ref["medicationReference"] = {"reference": "Medication/pred"}
    contained = med_request("b", PREDNISONE, authoredOn=day(240))
    del contained["medicationCodeableConcept"]
    contained["contained"] = [{**med, "id": "m1", "form": TABLET}]
    contained["medicationReference"] = {"reference": "#m1"}
    for course in ([ref, med], [contained]):
        assert steroid(*course).days == 240


# -- systemic routes and dose forms only ---------------------------------------------------


@pytest.mark.parametrize("route", [TOPICAL, INTRA_ARTICULAR, INHALED, NASAL, EYE])
def test_non_systemic_routes_are_not_steroid_exposure(route):
    course = med_statement(
        "ms", HYDROCORTISONE, effectivePeriod={"start": day(400)}, dosage=[{"route": route}]
    )
    r = run(with_patient(course))
    assert facts_of(r, "med") == []
    assert any("non-systemic" in w.diagnostics for w in r.warnings)
    assert FRAGILITY not in fired(course)


def test_an_oral_dosage_beside_a_topical_one_is_systemic():
    course = med_statement(
        "ms",
        PREDNISONE,
        effectivePeriod={"start": day(200)},
        dosage=[{"route": TOPICAL}, {"route": ORAL}],
    )
    assert steroid(course).days == 200


def test_topical_dose_form_is_not_steroid_exposure():
    cream = {"resourceType": "Medication", "id": "hc", "code": cc(RXNORM, HYDROCORTISONE)}
    cream["form"] = CREAM
    course = med_request("rx", HYDROCORTISONE, authoredOn=day(300))
    del course["medicationCodeableConcept"]
    course["medicationReference"] = {"reference": "Medication/hc"}
    assert facts_of(run(with_patient(course, cream)), "med") == []
    assert FRAGILITY not in fired(course, cream)


def test_single_injection_is_not_prolonged_use():
    shot = med_request("inj", METHYLPRED, authoredOn=day(200), dosageInstruction=[{"route": IM}])
    f = steroid(shot)
    assert f.days == 1 and f.ended_days == 199
    assert FRAGILITY not in fired(shot)
    joint = med_request(
        "joint", METHYLPRED, authoredOn=day(200), dosageInstruction=[{"route": INTRA_ARTICULAR}]
    )
    assert FRAGILITY not in fired(joint)


# -- pharmacy fills -------------------------------------------------------------------------


def dispense(i: int, handed: int, status: str = "completed", **kw: Any) -> dict:
    r: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "id": f"fill{i}",
        "status": status,
        "medicationCodeableConcept": cc(RXNORM, PREDNISONE_10_TABLET),
        "subject": {"reference": "Patient/p1"},
        "whenHandedOver": day(handed),
        "daysSupply": {"value": 28, "unit": "days"},
    }
    r.update(kw)
    return r


def test_monthly_pharmacy_fills_add_up_to_prolonged_use():
    fills = [dispense(i, 28 * (4 - i)) for i in range(5)]
    f = steroid(*fills)
    assert f.days == 112 and f.current is True and len(f.resources()) == 5
    assert FRAGILITY in fired(*fills)
    assert all(FRAGILITY not in fired(d) for d in fills)


@pytest.mark.parametrize("status", ["cancelled", "declined", "entered-in-error", "preparation"])
def test_fills_the_patient_did_not_receive_are_not_exposure(status):
    assert facts_of(run(with_patient(dispense(0, 10, status=status))), "med") == []


def test_a_fill_whose_supply_ran_out_is_not_current():
    f = steroid(dispense(0, 60))
    assert f.current is False and f.days == 28 and f.ended_days == 32
