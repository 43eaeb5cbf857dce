"""Every valid FHIR shape of a finding reaches the rules (issue 10, section 2).

Each test writes the same clinical fact in two or more shapes real EHRs send and checks that
the triage (urgency, imaging, rules fired) or the facts do not depend on the shape.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_ingest_support import (
    ICD,
    LOINC,
    NOW,
    PID,
    SNOMED,
    bundle,
    cc,
    condition,
    facts_of,
    observation,
    patient,
    quantity,
    run,
    with_patient,
)

from cds_backpain import InvalidInputError, evaluate
from cds_backpain.evaluation import Evaluation

V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DAR = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
LBP = cc(SNOMED, "279039007", "Low back pain")
RETENTION = cc(SNOMED, "267064002", "Retention of urine")
IVDU = cc(SNOMED, "228388006", "Intravenous drug user")
TEMP = cc(LOINC, "8310-5", "Body temperature")
PRESENT = cc(SNOMED, "52101004", "Present")
ABSENT = cc(SNOMED, "2667000", "Absent")
TRIAGE = cc("http://example.org/local-codes", "ED-TRIAGE-1", "ED triage panel")
VITALS = cc(LOINC, "85353-1", "Vital signs panel")
SYSTOLIC = cc(SNOMED, "271649006", "Systolic blood pressure")  # no value set knows it


def triage(ev: Evaluation) -> tuple[Any, ...]:
    """What a clinician sees: urgency, imaging, categories and the rules behind them."""
    return (
        ev.urgency,
        ev.imaging,
        tuple(sorted(c.category for c in ev.conclusions)),
        tuple(sorted(r for c in ev.conclusions for r in c.rules)),
    )


def judged(*resources: dict, **patient_kw: Any) -> Evaluation:
    return evaluate(bundle(patient(**patient_kw), *resources), now=NOW)


def panel(rid: str, code: dict, *components: dict, **kw: Any) -> dict:
    return observation(rid, code, component=list(components), **kw)


# -- Observation.component ----------------------------------------------------------------


def test_triage_panel_component_urinary_retention_raises_the_emergency():
    pain = condition("c1", LBP)
    top = judged(pain, observation("o1", RETENTION, valueCodeableConcept=PRESENT))
    comp = judged(pain, panel("o1", TRIAGE, {"code": RETENTION, "valueCodeableConcept": PRESENT}))
    assert top.urgency == "emergency"
    assert triage(comp) == triage(top)
    ces = next(c for c in comp.conclusions if c.category == "cauda_equina")
    assert "Observation/o1" in ces.evidence  # the evidence is the Observation resource


def test_vital_signs_panel_temperature_component_gives_the_infection_card():
    pain, ivdu = condition("c1", LBP), condition("c2", IVDU)
    top = judged(pain, ivdu, observation("t1", TEMP, **quantity(38.6, "Cel")))
    comp = judged(
        pain, ivdu, panel("t1", VITALS, {"code": TEMP, **quantity(101.5, "[degF]", "°F")})
    )
    assert "inf-fever-with-risk" in triage(top)[3]
    assert triage(comp) == triage(top)


@pytest.mark.parametrize(
    ("answer", "present"),
    [
        ({"valueCodeableConcept": PRESENT}, True),
        ({"valueCodeableConcept": ABSENT}, False),
        ({"valueBoolean": True}, True),
        ({"valueBoolean": False}, False),
        ({"interpretation": [cc(V3, "POS")]}, True),
        ({"interpretation": [cc(V3, "DET")]}, True),
        ({"interpretation": [cc(V3, "NEG")]}, False),
        ({"interpretation": [cc(V3, "ND")]}, False),
        ({"valueCodeableConcept": cc(SNOMED, "373066001", "Yes")}, True),
        ({"valueCodeableConcept": cc(SNOMED, "373067005", "No")}, False),
        ({"valueCodeableConcept": cc(LOINC, "LA33-6", "Yes")}, True),
        ({"valueCodeableConcept": cc(LOINC, "LA32-8", "No")}, False),
        ({"valueCodeableConcept": cc("urn:oid:2.16.840.1.113883.6.96", "52101004")}, True),
        ({"valueCodeableConcept": cc("http://example.org/local", "Y")}, None),
        ({"dataAbsentReason": cc(DAR, "asked-unknown")}, None),
        ({}, None),
    ],
)
def test_component_answers_read_like_top_level_answers(answer, present):
    comp = run(with_patient(panel("o1", TRIAGE, {"code": RETENTION, **answer})))
    top = run(with_patient(observation("o1", RETENTION, **answer)))
    for r in (comp, top):
        found = facts_of(r, "finding", "urinary_retention")
        assert [f.present for f in found] == ([] if present is None else [present])
        assert all(f.source == "Observation/o1" for f in found)


def test_one_fact_per_component_with_the_component_code():
    r = run(
        with_patient(
            panel(
                "o1",
                TRIAGE,
                {"code": RETENTION, "valueBoolean": True},
                {"code": LBP, "valueBoolean": True},
                {"code": TEMP, **quantity(37.0, "Cel")},
                {"code": SYSTOLIC, **quantity(120, "mm[Hg]")},
            )
        )
    )
    got = sorted((f.kind, f.concept, f.source) for f in r.facts if f.kind != "patient")
    assert got == [
        ("finding", "low_back_pain", "Observation/o1"),
        ("finding", "urinary_retention", "Observation/o1"),
        ("measure", "body_temperature", "Observation/o1"),
    ]


def test_panel_status_and_effective_time_apply_to_components():
    cancelled = panel(
        "o1", TRIAGE, {"code": RETENTION, "valueBoolean": True}, status="entered-in-error"
    )
    assert facts_of(run(with_patient(cancelled)), "finding") == []
    dated = panel("o1", TRIAGE, {"code": RETENTION, "valueBoolean": True}, effective="2026-05-02")
    assert facts_of(run(with_patient(dated)), "finding", "urinary_retention")[0].days == 30


def test_relevance_screen_reads_component_codes():
    known = panel("o1", TRIAGE, {"code": RETENTION, "valueBoolean": True})
    unknown = panel("o2", TRIAGE, {"code": SYSTOLIC, **quantity(120, "mm[Hg]")})
    r = run(with_patient(known, unknown))
    assert r.counts == {"resources": 3, "used": 2, "ignored": 1}
    assert "Observation/o1" in r.resources and "Observation/o2" not in r.resources


def test_malformed_component_is_reported_not_screened_out():
    bad = panel("o1", TRIAGE, {"code": RETENTION, "valueBoolean": "yes"})
    with pytest.raises(InvalidInputError) as info:
        run(with_patient(bad))
    assert "component" in str(info.value.outcome)


@pytest.mark.parametrize("component", ["oops", [{"code": "oops"}], ["oops"]])
def test_odd_component_list_is_validated_and_refused(component):
    odd = observation("o1", TRIAGE, component=component)
    with pytest.raises(InvalidInputError):
        run(with_patient(odd))


def test_conflicting_interpretations_are_not_an_answer():
    both = {"interpretation": [cc(V3, "POS"), cc(V3, "NEG")]}
    r = run(with_patient(observation("o1", RETENTION, **both)))
    assert facts_of(r, "finding") == []


# -- the other shapes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        condition("x", RETENTION),
        condition("x", cc(ICD, "R33.9", "Retention of urine, unspecified")),
        condition("x", cc(ICD, "r339")),
        condition("x", {"coding": [*RETENTION["coding"], {"system": ICD, "code": "R33.9"}]}),
        condition(
            "x",
            {
                "coding": [
                    {"system": "http://example.org/local", "code": "URO-17"},
                    {"system": SNOMED, "code": "999999999"},
                    *RETENTION["coding"],
                ],
                "text": "cannot pass urine",
            },
        ),
        condition("x", cc("urn:oid:2.16.840.1.113883.6.96", "267064002")),
        observation("x", RETENTION, valueBoolean=True),
        observation("x", RETENTION, valueCodeableConcept=PRESENT),
        observation("x", cc(ICD, "R33.9"), valueCodeableConcept=PRESENT),
        observation("x", TRIAGE, component=[{"code": RETENTION, "valueBoolean": True}]),
    ],
    ids=[
        "condition-snomed",
        "condition-icd",
        "condition-icd-undotted-lowercase",
        "condition-snomed-and-icd",
        "condition-local-and-unknown-codings-first",
        "condition-snomed-oid",
        "observation-valueBoolean",
        "observation-present",
        "observation-icd-present",
        "observation-component",
    ],
)
def test_every_shape_of_urinary_retention_gives_the_same_triage(shape):
    reference = judged(condition("c1", LBP), condition("x", RETENTION))
    assert reference.urgency == "emergency"
    assert triage(judged(condition("c1", LBP), shape)) == triage(reference)


@pytest.mark.parametrize(
    ("value", "unit", "code"),
    [
        (38.6, "Cel", "Cel"),
        (38.6, "°C", None),
        (38.6, "degC", None),
        (101.48, "[degF]", "[degF]"),
        (101.48, "°F", None),
        (311.75, "K", "K"),
    ],
)
def test_temperature_unit_variants_convert(value, unit, code):
    q: dict[str, Any] = {"value": value, "unit": unit}
    if code is not None:
        q |= {"system": "http://unitsofmeasure.org", "code": code}
    r = run(with_patient(observation("t", TEMP, valueQuantity=q)))
    (f,) = facts_of(r, "measure", "body_temperature")
    assert f.value == pytest.approx(38.6, abs=0.01) and f.unit == "Cel"


@pytest.mark.parametrize(
    ("value", "code"),
    [(70.0, "kg"), (154.32358, "[lb_av]"), (70000, "g"), (154.32358, "lb"), (154.32358, "lbs")],
)
def test_weight_unit_variants_convert(value, code):
    weight = cc(LOINC, "29463-7", "Body weight")
    r = run(with_patient(observation("w", weight, **quantity(value, code))))
    (f,) = facts_of(r, "measure", "body_weight")
    assert f.value == pytest.approx(70.0, abs=0.01) and f.unit == "kg"


# -- Patient.gender --------------------------------------------------------------------------


def _older(**patient_kw: Any) -> Evaluation:
    return judged(condition("c1", LBP, onset="2026-05-20"), **patient_kw)


def test_absent_gender_is_unknown_and_takes_the_lower_fracture_age():
    no_gender = patient(birth="1956-01-10")
    del no_gender["gender"]
    absent = evaluate(bundle(no_gender, condition("c1", LBP, onset="2026-05-20")), now=NOW)
    unknown = _older(birth="1956-01-10", gender="unknown")
    male = _older(birth="1956-01-10", gender="male")
    female = _older(birth="1956-01-10", gender="female")
    assert "fx-older-age-lbp" in triage(male)[3]  # 70 > 65 (men)
    assert "fx-older-age-lbp" not in triage(female)[3]  # 70 <= 75 (women)
    assert triage(absent) == triage(unknown) == triage(male)
    (pf,) = facts_of(run(bundle(no_gender)), "patient")
    assert pf.sex == "unknown"


def test_patient_without_gender_is_not_refused():
    bare = {"resourceType": "Patient", "id": PID}
    r = run(bundle(bare, condition("c1", LBP)))
    assert facts_of(r, "patient")[0].sex == "unknown"
