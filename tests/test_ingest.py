"""ingest(): real FHIR R4 JSON through fhir.resources R4B models into facts.

Status and negation follow the semantics in ``cds_backpain/facts.py`` and
docs/architecture.md ("Safety semantics in one place").
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from pathlib import Path

import pytest
from test_ingest_support import (
    CPT,
    DATA,
    ICD,
    KNOWLEDGE,
    LOINC,
    NOW,
    OWN,
    PID,
    RXNORM,
    SNOMED,
    bundle,
    cc,
    condition,
    facts_of,
    issue_codes,
    med_request,
    med_statement,
    observation,
    outcome_of,
    patient,
    quantity,
    read_json,
    run,
    service_request,
    with_patient,
)

from cds_backpain.ingest import Ingested, Limits
from cds_backpain.kb.valuesets import load_valuesets

LBP = cc(SNOMED, "279039007", "Low back pain")
RETENTION = cc(SNOMED, "267064002", "Retention of urine")
TEMP = cc(LOINC, "8310-5", "Body temperature")
WEIGHT = cc(LOINC, "29463-7", "Body weight")
DISTANCE = cc(OWN, "weekly-running-distance")
ABSENT = cc(SNOMED, "2667000", "Absent")
PRESENT = cc(SNOMED, "52101004", "Present")
PREDNISONE = "8640"


def only(result: Ingested, kind: str, concept: str):
    found = facts_of(result, kind, concept)
    assert len(found) == 1, found
    return found[0]


# -- patient ----------------------------------------------------------------------------


def test_patient_fact_age_and_sex():
    r = run(bundle(patient(birth="1990-06-01", gender="male")))
    p = only(r, "patient", "patient")
    assert (p.age, p.sex, p.source) == (36, "male", f"Patient/{PID}")
    assert r.patient_ref == f"Patient/{PID}"
    assert r.counts == {"resources": 1, "used": 1, "ignored": 0}
    # one day before the 36th birthday is still 35
    assert only(run(bundle(patient(birth="1990-06-02"))), "patient", "patient").age == 35


@pytest.mark.parametrize(
    ("birth", "age"), [("1990", 35), ("1990-05", 36), ("1990-07", 35), ("2026", 0)]
)
def test_partial_birth_date_gives_mid_period_age_with_warning(birth, age):
    r = run(bundle(patient(birth=birth)))
    assert only(r, "patient", "patient").age == age
    assert any("age is approximate" in w.diagnostics for w in r.warnings)


def test_missing_birth_date_leaves_age_unknown_with_warning():
    r = run(bundle(patient(birth=None)))
    assert only(r, "patient", "patient").age is None
    assert any("birthDate is missing" in w.diagnostics for w in r.warnings)


# -- Condition status semantics ---------------------------------------------------------


@pytest.mark.parametrize(
    ("clinical", "status"),
    [
        ("active", "active"),
        ("recurrence", "active"),
        ("relapse", "active"),
        ("inactive", "history"),
        ("remission", "history"),
        ("resolved", "history"),
        (None, "active"),
    ],
)
def test_condition_clinical_status(clinical, status):
    r = run(with_patient(condition("c1", LBP, clinical=clinical)))
    f = only(r, "finding", "low_back_pain")
    assert (f.status, f.present, f.source) == (status, True, "Condition/c1")


def test_condition_abatement_without_clinical_status_is_history():
    c = condition("c1", LBP, clinical=None, abatementDateTime="2026-05-25")
    assert only(run(with_patient(c)), "finding", "low_back_pain").status == "history"


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_refuted_and_entered_in_error_conditions_are_not_evidence(verification):
    r = run(with_patient(condition("c1", RETENTION, verification=verification)))
    assert facts_of(r, "finding") == []
    assert r.counts == {"resources": 2, "used": 1, "ignored": 1}


@pytest.mark.parametrize(
    "verification", ["unconfirmed", "provisional", "differential", "confirmed", None]
)
def test_unrefuted_conditions_are_findings(verification):
    r = run(with_patient(condition("c1", RETENTION, verification=verification)))
    f = only(r, "finding", "urinary_retention")
    assert f.present is True and f.status == "active"


def test_condition_days_from_onset_forms():
    r = run(
        with_patient(
            condition("dt", LBP, onset="2026-05-20"),
            condition("per", RETENTION, onset=None, onsetPeriod={"start": "2026-04-20"}),
            condition(
                "age",
                cc(SNOMED, "23056005"),
                onset=None,
                onsetAge={
                    "value": 36,
                    "unit": "a",
                    "system": "http://unitsofmeasure.org",
                    "code": "a",
                },
            ),
        )
    )
    assert only(r, "finding", "low_back_pain").days == 12
    assert only(r, "finding", "urinary_retention").days == 42
    # born 1990-03-15, onset at age 36 = 2026-03-15 (+/- leap days): about 78 days ago
    assert 76 <= only(r, "finding", "sciatica").days <= 79


def test_recorded_date_alone_leaves_the_condition_undated_with_a_warning():
    """recordedDate is when the entry was recorded, not when the problem began: an old problem
    re-recorded today must not look new, so the finding is undated (onset_known False)."""
    c = condition(
        "c1", LBP, onset=None, onsetString="since the marathon", recordedDate="2026-05-31"
    )
    r = run(with_patient(c))
    lbp = only(r, "finding", "low_back_pain")
    assert lbp.days is None and lbp.onset_known is False
    texts = " ".join(w.diagnostics for w in r.warnings)
    assert "undated" in texts and "onsetString" in texts


def test_condition_without_any_date_has_no_days():
    r = run(with_patient(condition("c1", LBP, onset=None)))
    assert only(r, "finding", "low_back_pain").days is None


# -- laterality -----------------------------------------------------------------------


def test_laterality_from_icd_code():
    r = run(with_patient(condition("c1", cc(ICD, "M54.41", "Lumbago with sciatica, right side"))))
    assert only(r, "finding", "sciatica").laterality == "right"
    # the value set gives the side for sciatica only (back pain has no side)
    assert only(r, "finding", "low_back_pain").laterality is None


@pytest.mark.parametrize(
    ("sites", "side"),
    [
        (["7771000"], "left"),
        (["24028007"], "right"),
        (["51440002"], "bilateral"),
        (["7771000", "24028007"], "bilateral"),
        ([], None),
    ],
)
def test_laterality_from_body_site(sites, side):
    body = [cc(SNOMED, s) for s in sites]
    c = condition("c1", cc(SNOMED, "23056005", "Sciatica"), bodySite=body)
    assert only(run(with_patient(c)), "finding", "sciatica").laterality == side


# -- Observation status and negation --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "used"),
    [
        ("final", True),
        ("amended", True),
        ("corrected", True),
        ("preliminary", True),
        ("registered", False),
        ("cancelled", False),
        ("entered-in-error", False),
        ("unknown", False),
    ],
)
def test_observation_status(status, used):
    r = run(with_patient(observation("o1", RETENTION, status=status, valueBoolean=True)))
    assert bool(facts_of(r, "finding", "urinary_retention")) is used
    assert r.counts["ignored"] == (0 if used else 1)


@pytest.mark.parametrize(
    ("value", "present"),
    [
        ({"valueCodeableConcept": ABSENT}, False),
        ({"valueBoolean": False}, False),
        ({"valueCodeableConcept": PRESENT}, True),
        ({"valueBoolean": True}, True),
    ],
)
def test_observation_answers(value, present):
    f = only(
        run(with_patient(observation("o1", RETENTION, **value))), "finding", "urinary_retention"
    )
    assert f.present is present and f.status == "active" and f.days == 2


def test_observation_with_bare_code_is_not_evidence():
    """Brief 2.5: never treat the mere presence of an Observation code as positive."""
    r = run(with_patient(observation("o1", RETENTION)))
    assert facts_of(r, "finding") == []
    assert any("bare code" in w.diagnostics for w in r.warnings)


def test_observation_with_data_absent_reason_or_other_answer_is_ignored():
    dar = {
        "dataAbsentReason": cc(
            "http://terminology.hl7.org/CodeSystem/data-absent-reason", "unknown"
        )
    }
    other = {"valueCodeableConcept": cc(SNOMED, "24484000", "Severe")}
    r = run(
        with_patient(observation("o1", RETENTION, **dar), observation("o2", RETENTION, **other))
    )
    assert facts_of(r, "finding") == []
    assert r.counts["ignored"] == 2


# -- measures and units -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "celsius"),
    [(38.5, "Cel", 38.5), (101.3, "[degF]", 38.5), (311.65, "K", 38.5), (100.4, "degF", 38.0)],
)
def test_temperature_converted_to_celsius(value, unit, celsius):
    f = only(
        run(with_patient(observation("t", TEMP, **quantity(value, unit)))),
        "measure",
        "body_temperature",
    )
    assert f.unit == "Cel" and f.value == pytest.approx(celsius, abs=1e-6)


@pytest.mark.parametrize(
    ("value", "unit", "kg"), [(176.37, "[lb_av]", 80.0), (176.37, "lb", 80.0), (80000, "g", 80.0)]
)
def test_weight_converted_to_kg(value, unit, kg):
    f = only(
        run(with_patient(observation("w", WEIGHT, **quantity(value, unit)))),
        "measure",
        "body_weight",
    )
    assert f.unit == "kg" and f.value == pytest.approx(kg, abs=0.01)


def test_distance_converted_to_km():
    f = only(
        run(with_patient(observation("d", DISTANCE, **quantity(25, "[mi_i]")))),
        "measure",
        "weekly_running_distance",
    )
    assert f.unit == "km" and f.value == pytest.approx(40.2336)


def test_unknown_unit_is_never_guessed():
    r = run(with_patient(observation("t", TEMP, **quantity(38.5, "[degR]"))))
    assert facts_of(r, "measure") == []
    assert any("cannot be converted" in w.diagnostics for w in r.warnings)


def test_every_temperature_reading_is_a_fact():
    r = run(
        with_patient(
            observation("t1", TEMP, effective="2026-05-28", **quantity(37.0, "Cel")),
            observation("t2", TEMP, effective="2026-05-30", **quantity(38.7, "Cel")),
        )
    )
    assert sorted(f.value for f in facts_of(r, "measure", "body_temperature")) == [37.0, 38.7]


def test_pain_score_integer_or_score_quantity():
    pain = cc(LOINC, "72514-3")
    r = run(
        with_patient(
            observation("a", pain, valueInteger=9),
            observation("b", pain, **quantity(5, "{score}")),
        )
    )
    assert sorted(f.value for f in facts_of(r, "measure", "pain_score")) == [5.0, 9.0]


def test_weight_loss_derived_from_series():
    weights = [
        observation("w0", WEIGHT, effective="2024-01-10", **quantity(95, "kg")),  # outside window
        observation("w1", WEIGHT, effective="2025-09-01", **quantity(80, "kg")),
        observation("w2", WEIGHT, effective="2026-01-15", **quantity(176.37, "[lb_av]")),
        observation("w3", WEIGHT, effective="2026-05-25", **quantity(72, "kg")),
    ]
    r = run(with_patient(*weights))
    latest = only(r, "measure", "body_weight")
    assert (latest.source, latest.value) == ("Observation/w3", 72.0)
    loss = only(r, "measure", "weight_loss_pct")
    assert loss.value == pytest.approx(10.0)  # (80 - 72) / 80
    assert loss.unit == "%" and loss.source == "Observation/w3"
    assert loss.also == ("Observation/w1", "Observation/w2")
    assert r.counts["used"] == 5  # patient + four weights


def test_weight_gain_gives_zero_loss_and_one_weight_gives_none():
    up = run(
        with_patient(
            observation("w1", WEIGHT, effective="2026-01-01", **quantity(70, "kg")),
            observation("w2", WEIGHT, effective="2026-05-01", **quantity(72, "kg")),
        )
    )
    assert only(up, "measure", "weight_loss_pct").value == 0
    one = run(with_patient(observation("w1", WEIGHT, **quantity(70, "kg"))))
    assert facts_of(one, "measure", "weight_loss_pct") == []


def test_running_load_change_derived_unless_observed():
    weeks = [
        observation("r1", DISTANCE, effective="2026-05-04", **quantity(20, "km")),
        observation("r2", DISTANCE, effective="2026-05-11", **quantity(20, "km")),
        observation("r3", DISTANCE, effective="2026-05-18", **quantity(20, "km")),
        observation("r4", DISTANCE, effective="2026-05-25", **quantity(30, "km")),
    ]
    r = run(with_patient(*weeks))
    change = only(r, "measure", "running_load_change")
    assert change.value == pytest.approx(50.0)
    assert change.also == ("Observation/r1", "Observation/r2", "Observation/r3")
    assert only(r, "measure", "weekly_running_distance").value == 30.0
    direct = observation("lc", cc(OWN, "running-load-change"), **quantity(10, "%"))
    r2 = run(with_patient(*weeks, direct))
    assert [f.value for f in facts_of(r2, "measure", "running_load_change")] == [10.0]


# -- medications --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "current"),
    [
        ("active", True),
        ("completed", False),
        ("stopped", False),
        ("on-hold", False),
        ("intended", False),
        ("unknown", False),
        ("entered-in-error", None),
        ("not-taken", None),
    ],
)
def test_medication_statement_status(status, current):
    ms = med_statement("m1", PREDNISONE, status=status, effectivePeriod={"start": "2025-10-01"})
    found = facts_of(run(with_patient(ms)), "med", "systemic_corticosteroid")
    if current is None:
        assert found == []
    else:
        assert [f.current for f in found] == [current]


@pytest.mark.parametrize(
    ("status", "intent", "current"),
    [
        ("active", "order", True),
        ("active", "plan", True),
        ("active", "original-order", True),
        ("active", "instance-order", True),
        ("active", "proposal", False),
        ("active", "option", False),
        ("completed", "order", False),
        ("stopped", "order", False),
        ("cancelled", "order", False),
        ("on-hold", "order", False),
        ("draft", "order", False),
        ("entered-in-error", "order", None),
    ],
)
def test_medication_request_status_and_intent(status, intent, current):
    mr = med_request("m1", PREDNISONE, status=status, intent=intent)
    found = facts_of(run(with_patient(mr)), "med", "systemic_corticosteroid")
    assert [f.current for f in found] == ([] if current is None else [current])


def test_do_not_perform_request_is_not_exposure():
    r = run(with_patient(med_request("m1", PREDNISONE, doNotPerform=True)))
    assert facts_of(r, "med") == []


def test_exposure_days():
    active = med_statement("a", PREDNISONE, effectivePeriod={"start": "2025-10-01"})
    done = med_statement(
        "b",
        "5640",
        status="completed",
        effectivePeriod={"start": "2026-03-01", "end": "2026-03-10"},
    )
    bounded = med_request(
        "c",
        "7258",
        dosageInstruction=[{"timing": {"repeat": {"boundsPeriod": {"start": "2026-05-11"}}}}],
    )
    r = run(with_patient(active, done, bounded))
    assert only(r, "med", "systemic_corticosteroid").days == 243
    nsaids = {f.source: f for f in facts_of(r, "med", "nsaid")}
    assert nsaids["MedicationStatement/b"].days == 10  # end date counts whole
    assert nsaids["MedicationStatement/b"].current is False
    assert nsaids["MedicationRequest/c"].days == 21


def _axid_valuesets(tmp_path: Path):
    """The real value set loader over a test value set holding the Axid RxNorm code."""
    vs = json.loads((KNOWLEDGE / "valuesets" / "nsaid.json").read_text())
    vs.update(
        id="h2-blocker",
        url="https://cds-backpain.example.org/fhir/ValueSet/h2-blocker",
        name="H2Blocker",
        title="H2 blocker",
    )
    vs["compose"] = {
        "include": [
            {
                "system": RXNORM,
                "concept": [
                    {
                        "code": "582620",
                        "display": "Nizatidine 15 MG/ML Oral Solution [Axid]",
                        "extension": [
                            {
                                "url": "https://cds-backpain.example.org/fhir/StructureDefinition/code-confidence",
                                "valueCode": "HIGH",
                            }
                        ],
                    }
                ],
            }
        ]
    }
    (tmp_path / "h2-blocker.json").write_text(json.dumps(vs))
    return load_valuesets(tmp_path, KNOWLEDGE / "codesystems")


def test_contained_and_referenced_medication_us_core(tmp_path):
    vs = _axid_valuesets(tmp_path)
    examples = DATA / "us-core-examples"
    amy = read_json(examples / "patient-example.json")
    contained = read_json(examples / "medicationrequest-contained-oral-axid.json")
    referenced = read_json(examples / "medicationrequest-referenced-oral-axid.json")
    medication = contained["contained"][0] | {"id": "uscore-med2"}
    r = run(
        bundle(amy, contained, referenced, {"resourceType": "Medication", **medication}),
        valuesets=vs,
    )
    meds = facts_of(r, "med", "h2_blocker")
    # the two overlapping requests are one exposure episode citing both
    assert {ref for f in meds for ref in f.resources()} == {
        "MedicationRequest/medicationrequest-contained-oral-axid",
        "MedicationRequest/medicationrequest-referenced-oral-axid",
    }
    assert all(f.current is True for f in meds)
    assert r.counts == {"resources": 4, "used": 4, "ignored": 0}
    # without the Medication the reference does not resolve: warning, no fact
    r2 = run(bundle(amy, referenced), valuesets=vs)
    assert facts_of(r2, "med") == []
    assert any("does not resolve" in w.diagnostics for w in r2.warnings)


def test_medication_ingredient_codes_count():
    med = {
        "resourceType": "Medication",
        "id": "combo",
        "code": {"text": "compounded"},
        "ingredient": [{"itemCodeableConcept": cc(RXNORM, PREDNISONE)}],
    }
    ms = med_statement("m1", PREDNISONE, effectiveDateTime="2026-05-01")
    del ms["medicationCodeableConcept"]
    ms["medicationReference"] = {"reference": "Medication/combo"}
    r = run(with_patient(ms, med))
    assert only(r, "med", "systemic_corticosteroid").days == 31


# -- orders ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ordered"),
    [("draft", True), ("active", True), ("completed", False), ("revoked", False)],
)
def test_imaging_order(status, ordered):
    r = run(with_patient(service_request("sr1", cc(CPT, "72148"), status=status)))
    if ordered:
        f = only(r, "order", "imaging_mri_lumbar")
        assert (f.modality, f.source) == ("mri", "ServiceRequest/sr1")
        assert r.orders == ("ServiceRequest/sr1",)
    else:
        assert facts_of(r, "order") == [] and r.orders == ()


def test_us_core_chest_xray_order_is_ignored_not_rejected():
    sr = read_json(DATA / "us-core-examples" / "servicerequest-chest-xray.json")
    amy = read_json(DATA / "us-core-examples" / "patient-example.json")
    r = run(bundle(amy, sr))
    assert r.orders == () and r.counts == {"resources": 2, "used": 1, "ignored": 1}


# -- unknown codes, input forms, lenient defaults ------------------------------------------


def test_unknown_codes_and_types_are_counted_not_rejected():
    r = run(
        with_patient(
            condition("c1", cc(SNOMED, "38341003", "Hypertension")),
            condition("c2", {"coding": [{}]}),
            {"resourceType": "Encounter", "id": "e1", "status": "finished"},
        )
    )
    assert [f.kind for f in r.facts] == ["patient"]
    assert r.counts == {"resources": 4, "used": 1, "ignored": 3}
    # resources no value set knows are counted and ignored, not model-validated
    assert "Encounter/e1" not in r.resources and "Condition/c2" not in r.resources


def test_same_id_in_different_types_is_fine():
    r = run(with_patient(condition("1", LBP), observation("1", RETENTION, valueBoolean=True)))
    assert {"Condition/1", "Observation/1"} <= set(r.resources)


def test_array_single_resource_bytes_and_path_inputs(tmp_path):
    resources = [patient(), condition("c1", LBP)]
    path = tmp_path / "in.json"
    path.write_text(json.dumps(resources))
    for data in (resources, json.dumps(resources), json.dumps(resources).encode(), path):
        assert only(run(data), "finding", "low_back_pain").source == "Condition/c1"
    single = run(patient())
    assert [f.kind for f in single.facts] == ["patient"]


def test_subject_by_full_url_and_absolute_url():
    p = patient()
    c1 = condition("c1", LBP, subject="urn:uuid:6b1e")
    c2 = condition(
        "c2", RETENTION, subject=f"https://ehr.example.org/fhir/Patient/{PID}/_history/3"
    )
    o = observation("o1", RETENTION, subject=None, valueBoolean=True)
    b = bundle(p, c1, c2, o)
    b["entry"][0]["fullUrl"] = "urn:uuid:6b1e"
    # An absolute reference is compared whole: on the server of the resource that makes it.
    b["entry"][2]["fullUrl"] = "https://ehr.example.org/fhir/Condition/c2"
    r = run(b)
    assert {f.source for f in facts_of(r, "finding")} == {
        "Condition/c1",
        "Condition/c2",
        "Observation/o1",
    }


def test_an_absolute_reference_to_another_server_is_another_patient():
    """``https://other-server/fhir/Patient/<same id>`` is not this patient (issue 12)."""
    other = condition("c2", RETENTION, subject=f"https://other.example.org/fhir/Patient/{PID}")
    unanchored = bundle(patient(), other)
    assert ("business-rule", "Bundle.entry[1].resource.subject") in issue_codes(
        outcome_of(unanchored)
    )
    anchored = bundle(patient(), other, full_urls=True)  # both on http://example.org/fhir
    assert ("business-rule", "Bundle.entry[1].resource.subject") in issue_codes(
        outcome_of(anchored)
    )


def test_lenient_defaults_missing_bundle_type_and_intent():
    b = with_patient(med_request("m1", PREDNISONE, intent=None), btype=None)
    r = run(b)
    assert only(r, "med", "systemic_corticosteroid").current is True
    texts = [w.diagnostics for w in r.warnings]
    assert any("Bundle.type is missing" in t for t in texts)
    assert any("intent is missing" in t for t in texts)
    outcome = outcome_of(b, lenient=False)
    assert ("required", "Bundle.type") in [
        (i["code"], i["expression"][0]) for i in outcome["issue"]
    ]
    assert ("required", "Bundle.entry[1].resource.intent") in issue_codes(outcome)


@pytest.mark.parametrize("btype", ["collection", "searchset", "transaction", "batch", "document"])
def test_accepted_bundle_types(btype):
    assert only(run(with_patient(condition("c1", LBP), btype=btype)), "finding", "low_back_pain")


# -- determinism --------------------------------------------------------------------------


def _mixed_resources() -> list[dict]:
    return [
        patient(),
        condition("c1", LBP),
        condition("c2", cc(ICD, "M54.42")),
        condition("c3", cc(SNOMED, "266987004"), clinical="resolved"),
        observation("o1", RETENTION, valueCodeableConcept=ABSENT),
        observation("t1", TEMP, **quantity(101.3, "[degF]")),
        observation("t2", TEMP, effective="2026-05-31", **quantity(37.2, "Cel")),
        observation("w1", WEIGHT, effective="2026-01-01", **quantity(80, "kg")),
        observation("w2", WEIGHT, effective="2026-05-01", **quantity(75, "kg")),
        med_statement("m1", PREDNISONE, effectivePeriod={"start": "2025-12-01"}),
        med_request("m2", "5640"),
        service_request("sr1", cc(CPT, "72148")),
        {"resourceType": "Encounter", "id": "e1", "status": "finished"},
    ]


def test_input_order_never_changes_facts():
    resources = _mixed_resources()
    expected = run(bundle(*resources))
    assert len(expected.facts) >= 12
    rng = random.Random(7)
    for _ in range(5):
        shuffled = resources[:]
        rng.shuffle(shuffled)
        got = run(bundle(*shuffled))
        assert got.facts == expected.facts
        assert got.counts == expected.counts and got.orders == expected.orders


# -- real data ----------------------------------------------------------------------------


def _synthea_by_patient() -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for path in sorted((DATA / "synthea-bulk-10pt").glob("*.ndjson")):
        if path.name == "log.ndjson":
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if r["resourceType"] == "Patient":
                groups[r["id"]].append(r)
                continue
            ref = (r.get("subject") or r.get("patient") or {}).get("reference", "")
            if ref.startswith("Patient/"):
                groups[ref.removeprefix("Patient/")].append(r)
    return groups


SYNTHEA_LBP = "ca15b832-01e4-41dd-6a52-97bd3e5510cb"


def test_synthea_patient_with_chronic_low_back_pain():
    resources = _synthea_by_patient()[SYNTHEA_LBP]
    b = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }
    r = run(json.dumps(b).encode())
    assert r.patient_ref == f"Patient/{SYNTHEA_LBP}"
    lbp = only(r, "finding", "low_back_pain")
    assert lbp.status == "active" and lbp.present is True and lbp.days > 84
    assert r.counts["resources"] == len(resources) > 300
    assert r.counts["used"] + r.counts["ignored"] == r.counts["resources"]
    # the Patient, every medication and every resource a value set knows was validated into
    # an R4B model; Conditions and Procedures with unknown codes were screened out, unvalidated
    assert lbp.source in r.resources
    meds = [x for x in resources if x["resourceType"] == "MedicationRequest"]
    assert all(f"MedicationRequest/{m['id']}" in r.resources for m in meds)
    assert len(r.resources) < sum(
        x["resourceType"] in ("Patient", "Condition", "MedicationRequest", "Procedure")
        for x in resources
    )


def test_us_core_resolved_condition_is_history():
    amy = read_json(DATA / "us-core-examples" / "patient-example.json")
    ulcer = read_json(DATA / "us-core-examples" / "condition-duodenal-ulcer-resolved.json")
    r = run(bundle(amy, ulcer))
    assert r.counts == {"resources": 2, "used": 1, "ignored": 1}
    # a duodenal ulcer is not back-pain data: ignored without validation (R4 shape checked)
    assert f"Condition/{ulcer['id']}" not in r.resources


# -- timing -------------------------------------------------------------------------------


def _bundle_of_size(n: int) -> dict:
    base = _mixed_resources()
    extra = []
    i = 0
    while len(base) + len(extra) < n:
        i += 1
        extra.append(condition(f"x{i}", cc(SNOMED, "38341003")))
        extra.append(
            observation(f"y{i}", TEMP, effective="2026-05-20", **quantity(37 + i % 10 / 10, "Cel"))
        )
    return bundle(*(base + extra)[:n])


@pytest.mark.parametrize("size", [20, 200])
def test_ingest_time_is_small_and_mostly_validation(size, capsys):
    data = json.dumps(_bundle_of_size(size)).encode()
    run(data)  # warm caches (model classes)
    best = None
    for _ in range(3):
        t = time.perf_counter()
        result = run(data)
        elapsed = time.perf_counter() - t
        if best is None or elapsed < best[0]:
            best = (elapsed, result.timings)
    elapsed, timings = best
    with capsys.disabled():
        print(
            f"\ningest {size} resources: {elapsed * 1000:.1f} ms "
            f"(validate {timings['validate'] * 1000:.1f} ms, "
            f"parse {timings['parse'] * 1000:.1f} ms, "
            f"extract {timings['extract'] * 1000:.1f} ms)"
        )
    assert elapsed < (0.5 if size == 20 else 2.0)
    assert timings["validate"] <= timings["total"]


def test_limits_are_configurable():
    small = Limits(max_entries=3)
    assert run(with_patient(condition("c1", LBP)), limits=small)
    now_naive = NOW.replace(tzinfo=None)
    with pytest.raises(ValueError, match="timezone-aware"):
        run(with_patient(), now=now_naive)


def test_a_finding_knows_whether_its_onset_is_dated():
    """onset_known follows days: rules read an undated finding as possibly recent."""
    dated = condition("dated", LBP, onset="2026-05-20")
    undated = condition("undated", cc(SNOMED, "203095000"), onset=None)
    r = run(with_patient(dated, undated))
    assert only(r, "finding", "low_back_pain").onset_known is True
    spasm = only(r, "finding", "muscle_spasm")
    assert spasm.days is None and spasm.onset_known is False
