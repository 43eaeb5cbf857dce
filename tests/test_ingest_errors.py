"""Bad input: every class of defect gives an InvalidInputError whose OperationOutcome
validates as FHIR R4 (R4B model), names the defect's FHIR issue type and location,
and echoes no long input text. Never a crash, a hang or a silent wrong answer."""

from __future__ import annotations

import copy
import json

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ingest_support import (
    ICD,
    PID,
    SNOMED,
    bundle,
    cc,
    condition,
    issue_codes,
    med_statement,
    observation,
    outcome_of,
    patient,
    run,
    with_patient,
)

from cds_backpain._errors import InputLimitError, InvalidInputError
from cds_backpain.ingest import Limits

LBP = cc(SNOMED, "279039007")
R4_ONLY = "cds-backpain accepts FHIR R4 only"


def only_issue(outcome: dict) -> dict:
    assert len(outcome["issue"]) == 1, outcome
    return outcome["issue"][0]


# -- not JSON / not an object ------------------------------------------------------------


def test_not_json_reports_position():
    issue = only_issue(outcome_of(b'{"resourceType": "Bundle", "type": }'))
    assert issue["code"] == "structure"
    assert "not valid JSON" in issue["diagnostics"] and "line 1, column 36" in issue["diagnostics"]


def test_invalid_utf8():
    issue = only_issue(outcome_of(b'{"resourceType": "Patient", "id": "\xff\xfe"}'))
    assert issue["code"] == "structure" and "UTF-8" in issue["diagnostics"]


@pytest.mark.parametrize("doc", ["42", '"Patient"', "null", "true"])
def test_top_level_must_be_object_or_array(doc):
    assert only_issue(outcome_of(doc))["code"] == "structure"


def test_nan_infinite_numbers_and_duplicate_keys_are_not_json():
    assert "not valid JSON" in only_issue(outcome_of('{"resourceType": NaN}'))["diagnostics"]
    assert "too large" in only_issue(outcome_of('{"resourceType": 1e400}'))["diagnostics"]
    dup = '{"resourceType": "Patient", "id": "a", "id": "b"}'
    assert "twice" in only_issue(outcome_of(dup))["diagnostics"]


# -- other FHIR versions --------------------------------------------------------------------


def test_stu3_condition_clinical_status_code():
    c = condition("c1", LBP)
    c["clinicalStatus"] = "active"
    issue = only_issue(outcome_of(with_patient(c)))
    assert issue["code"] == "not-supported"
    assert issue["expression"] == ["Bundle.entry[1].resource.clinicalStatus"]
    assert issue["diagnostics"] == (
        "This looks like FHIR STU3 (Condition.clinicalStatus is a code); " + R4_ONLY + "."
    )


@pytest.mark.parametrize(
    ("resource", "version", "where"),
    [
        ({"resourceType": "ProcedureRequest", "id": "x"}, "STU3", "resourceType"),
        ({"resourceType": "ReferralRequest", "id": "x"}, "STU3", "resourceType"),
        ({"resourceType": "MedicationOrder", "id": "x"}, "DSTU2", "resourceType"),
        ({"resourceType": "DiagnosticOrder", "id": "x"}, "DSTU2", "resourceType"),
        ({"resourceType": "MedicationUsage", "id": "x"}, "R5", "resourceType"),
        (med_statement("m", "8640") | {"taken": "y"}, "STU3", "taken"),
        (
            observation("o", LBP, valueBoolean=True) | {"triggeredBy": [{"type": "reflex"}]},
            "R5",
            "triggeredBy",
        ),
        (
            condition("c", LBP, verification=None) | {"verificationStatus": "confirmed"},
            "STU3",
            "verificationStatus",
        ),
        (
            condition("c", LBP)
            | {"meta": {"profile": ["http://hl7.org/fhir/3.0/StructureDefinition/Condition"]}},
            "STU3",
            "meta.profile[0]",
        ),
    ],
)
def test_other_fhir_versions_are_named(resource, version, where):
    issue = only_issue(outcome_of(with_patient(resource)))
    assert issue["code"] == "not-supported"
    assert f"This looks like FHIR {version}" in issue["diagnostics"]
    assert R4_ONLY in issue["diagnostics"]
    assert issue["expression"] == [f"Bundle.entry[1].resource.{where}"]


def test_us_core_profile_versions_are_not_fhir_versions():
    c = condition("c1", LBP)
    c["meta"] = {
        "profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-condition|9.0.0"]
    }
    assert run(with_patient(c)).counts["used"] == 2


# -- resource types and model validation ----------------------------------------------------


def test_unknown_resource_type():
    issue = only_issue(outcome_of(with_patient({"resourceType": "Symptom", "id": "s"})))
    assert issue["code"] == "invalid" and "unknown resourceType 'Symptom'" in issue["diagnostics"]
    assert issue["expression"] == ["Bundle.entry[1].resource.resourceType"]


def test_unknown_contained_resource_type_is_an_error_not_a_crash():
    ms = med_statement("m1", "8640")
    ms["contained"] = [{"resourceType": "Foo", "id": "x"}]
    issue = only_issue(outcome_of(with_patient(ms)))
    assert issue["expression"] == ["Bundle.entry[1].resource.contained[0].resourceType"]


def test_wrong_types_every_defect_with_its_location():
    c = condition("c1", LBP, onset=None, onsetDateTime=20260520)
    o = observation("o1", LBP, valueBoolean="maybe")
    m = med_statement("m1", "8640")
    del m["status"]
    outcome = outcome_of(with_patient(c, o, m))
    assert issue_codes(outcome) == [
        ("structure", "Bundle.entry[1].resource.onsetDateTime"),
        ("structure", "Bundle.entry[2].resource.valueBoolean"),
        ("required", "Bundle.entry[3].resource.status"),
    ]
    texts = [i["diagnostics"] for i in outcome["issue"]]
    assert texts[0] == "onsetDateTime must be a JSON string, not a number"
    assert texts[1] == "valueBoolean must be a JSON boolean, not a string"


@pytest.mark.parametrize(
    ("resource", "where"),
    [
        # fhir.resources alone would accept each of these by coercion
        (observation("o1", LBP, valueBoolean="true"), "valueBoolean"),
        (
            observation("o1", LBP, valueQuantity={"value": "38.5", "unit": "Cel"}),
            "valueQuantity.value",
        ),
        (observation("o1", LBP, valueInteger=7.5), "valueInteger"),
        (condition("c1", LBP, recordedDate=1.5), "recordedDate"),
        (condition("c1", LBP, bodySite=["left"]), "bodySite[0]"),
    ],
)
def test_json_types_of_primitives_are_strict(resource, where):
    issue = only_issue(outcome_of(with_patient(resource)))
    assert issue["code"] == "structure"
    assert issue["expression"] == [f"Bundle.entry[1].resource.{where}"]


def test_unknown_element_and_bad_status_code():
    o = observation("o1", LBP, status="done", valueBoolean=True)
    o["valueFlag"] = True
    found = issue_codes(outcome_of(with_patient(o)))
    assert ("value", "Bundle.entry[1].resource.status") in found
    assert ("structure", "Bundle.entry[1].resource.valueFlag") in found


def test_unknown_clinical_status_code():
    c = condition("c1", LBP, clinical="cured")
    assert issue_codes(outcome_of(with_patient(c))) == [
        ("value", "Bundle.entry[1].resource.clinicalStatus")
    ]


def test_array_item_defects_name_the_item():
    issue = only_issue(outcome_of([patient(), condition("c1", LBP, onset="yesterday")]))
    assert issue["diagnostics"].startswith("array item 1: ")
    assert issue["expression"] == ["Condition.onsetDateTime"]


def test_nested_bundle_and_unsupported_bundle_type():
    inner = bundle(patient())
    issue = only_issue(outcome_of(bundle(patient(), inner)))
    assert issue["code"] == "not-supported" and issue["expression"] == ["Bundle.entry[1].resource"]
    issue = only_issue(outcome_of(bundle(patient(), btype="history")))
    assert issue["code"] == "not-supported" and issue["expression"] == ["Bundle.type"]


# -- one patient ------------------------------------------------------------------------


def test_missing_patient():
    issue = only_issue(outcome_of(bundle(condition("c1", LBP))))
    assert issue["code"] == "required" and "missing Patient" in issue["diagnostics"]
    assert issue["expression"] == ["Bundle.entry"]
    assert "missing Patient" in only_issue(outcome_of([condition("c1", LBP)]))["diagnostics"]


def test_two_patients():
    issue = only_issue(outcome_of(bundle(patient("a"), patient("b"))))
    assert issue["code"] == "business-rule"
    assert issue["diagnostics"] == "a Bundle must describe one patient, found 2 Patients"


def test_other_patients_subject_is_refused():
    c = condition("c1", LBP, subject="Patient/someone-else")
    o = observation(
        "o1", LBP, subject="https://ehr.example.org/fhir/Patient/p10", valueBoolean=True
    )
    outcome = outcome_of(with_patient(c, o))
    assert issue_codes(outcome) == [
        ("business-rule", "Bundle.entry[1].resource.subject"),
        ("business-rule", "Bundle.entry[2].resource.subject"),
    ]
    assert "someone-else" not in json.dumps(outcome)  # the other patient's id is not echoed


def test_duplicate_ids_within_a_type():
    outcome = outcome_of(
        with_patient(condition("c1", LBP), condition("c1", LBP, onset="2026-05-01"))
    )
    issue = only_issue(outcome)
    assert issue["code"] == "duplicate" and issue["expression"] == ["Bundle.entry[2].resource.id"]


def test_full_url_must_match_id():
    b = with_patient(condition("c1", LBP), full_urls=True)
    b["entry"][1]["fullUrl"] = "http://example.org/fhir/Condition/c2"
    issue = only_issue(outcome_of(b))
    assert issue["code"] == "invalid" and issue["expression"] == ["Bundle.entry[1].fullUrl"]


# -- impossible ages and times ------------------------------------------------------------------


@pytest.mark.parametrize(("birth", "text"), [("1826-01-01", "over 130"), ("2027-01-01", "after")])
def test_absurd_age(birth, text):
    issue = only_issue(outcome_of(bundle(patient(birth=birth))))
    assert issue["code"] == "value" and text in issue["diagnostics"]
    assert issue["expression"] == ["Bundle.entry[0].resource.birthDate"]


def test_future_onset_and_effective_time():
    c = condition("c1", LBP, onset="2026-06-10")
    o = observation("o1", cc(SNOMED, "267064002"), effective="2026-07-01", valueBoolean=True)
    found = outcome_of(with_patient(c, o))["issue"]
    assert [(i["expression"][0], i["diagnostics"]) for i in found] == [
        ("Bundle.entry[1].resource.onsetDateTime", "onset is in the future"),
        ("Bundle.entry[2].resource.effectiveDateTime", "effective time is in the future"),
    ]


def test_onset_tomorrow_is_within_clock_slack():
    assert run(with_patient(condition("c1", LBP, onset="2026-06-02T08:00:00Z"))).facts


def test_negative_durations():
    c = condition("c1", LBP, onset=None, onsetPeriod={"start": "2026-05-10", "end": "2026-05-01"})
    m = med_statement("m1", "8640", effectivePeriod={"start": "2026-05-10", "end": "2026-05-01"})
    found = issue_codes(outcome_of(with_patient(c, m)))
    assert found == [
        ("value", "Bundle.entry[1].resource.onsetPeriod"),
        ("value", "Bundle.entry[2].resource.effectivePeriod"),
    ]


def test_abatement_before_onset():
    c = condition("c1", LBP, clinical="resolved", abatementDateTime="2026-05-01")
    assert issue_codes(outcome_of(with_patient(c))) == [
        ("value", "Bundle.entry[1].resource.abatementDateTime")
    ]


# -- limits -----------------------------------------------------------------------------------


def test_deep_nesting_is_a_limit_not_a_recursion_error():
    deep = "[" * 100_000 + "]" * 100_000
    issue = only_issue(outcome_of(deep, InputLimitError))
    assert issue["code"] == "too-costly" and "max_depth=64" in issue["diagnostics"]
    nested: list = []
    for _ in range(200):
        nested = [nested]
    assert "max_depth" in only_issue(outcome_of(nested, InputLimitError))["diagnostics"]


def test_too_many_entries():
    b = with_patient(*[condition(f"c{i}", LBP) for i in range(10)])
    issue = only_issue(outcome_of(b, InputLimitError, limits=Limits(max_entries=5)))
    assert "max_entries=5" in issue["diagnostics"] and issue["expression"] == ["Bundle.entry"]
    assert (
        "max_entries=5"
        in only_issue(outcome_of([patient()] * 6, InputLimitError, limits=Limits(max_entries=5)))[
            "diagnostics"
        ]
    )


def test_huge_string_is_refused_without_echo():
    c = condition("c1", LBP, note=[{"text": "A" * 100_001}])
    outcome = outcome_of(json.dumps(with_patient(c)), InputLimitError)
    issue = only_issue(outcome)
    assert "max_string=100000" in issue["diagnostics"]
    assert issue["expression"] == ["$.entry[1].resource.note[0].text"]
    assert "AAAA" not in json.dumps(outcome)


def test_too_many_bytes():
    data = json.dumps(with_patient(condition("c1", LBP))).encode()
    issue = only_issue(outcome_of(data, InputLimitError, limits=Limits(max_bytes=100)))
    assert issue["code"] == "too-costly" and "max_bytes=100" in issue["diagnostics"]


def test_limit_error_is_an_invalid_input_error():
    assert issubclass(InputLimitError, InvalidInputError)


def test_long_ids_are_clipped_in_diagnostics():
    bad = "X" * 500
    issue = only_issue(outcome_of(with_patient({"resourceType": bad})))
    assert len(issue["diagnostics"]) < 120 and bad not in issue["diagnostics"]


def test_icd_laterality_codes_unknown_elsewhere_do_not_error():
    # a coded but unmatched condition is ignored, never rejected
    r = run(with_patient(condition("c1", cc(ICD, "Z99.99")), condition("c2", {"coding": [{}]})))
    assert r.counts == {"resources": 3, "used": 1, "ignored": 2}
    assert PID in r.patient_ref


def test_explicit_other_fhir_version_on_bundle_meta():
    b = with_patient()
    b["meta"] = {"fhirVersion": "3.0.1"}
    issue = only_issue(outcome_of(b))
    assert issue["expression"] == ["Bundle.meta.fhirVersion"]
    assert issue["diagnostics"].startswith("This looks like FHIR 3.0.1")


def test_unreadable_path(tmp_path):
    issue = only_issue(outcome_of(tmp_path / "missing.json"))
    assert issue["code"] == "not-found" and "missing.json" in issue["diagnostics"]


# -- robustness: damaged input never crashes ------------------------------------------------

_GOOD = with_patient(
    condition("c1", LBP),
    observation("o1", cc(SNOMED, "267064002"), valueBoolean=True),
    med_statement("m1", "8640", effectivePeriod={"start": "2026-01-01"}),
)


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*path, i))


_PATHS = [p for p in _paths(_GOOD) if p]
_VALUES = [None, True, 0, -1, 1.5, "", "x", "2026-13-01", "2030-01-01", "2026-05", [], {}, [{}],
           {"coding": [{}]}, {"reference": "Patient/other"}, {"resourceType": "Foo"},
           {"start": "2026-05-02", "end": "2026-05-01"}, "entered-in-error"]  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(_PATHS), st.sampled_from(_VALUES), st.booleans()),
        min_size=1,
        max_size=3,
    )
)
def test_damaged_bundles_give_facts_or_an_operation_outcome(edits):
    doc = copy.deepcopy(_GOOD)
    for path, value, delete in edits:
        node = doc
        try:
            for k in path[:-1]:
                node = node[k]
            if delete and isinstance(node, dict):
                node.pop(path[-1], None)
            else:
                node[path[-1]] = copy.deepcopy(value)
        except (KeyError, IndexError, TypeError):
            continue
    try:
        result = run(doc)
    except InvalidInputError as exc:
        OperationOutcome.model_validate(exc.outcome)
        assert all(i.get("diagnostics") for i in exc.outcome["issue"])
    else:
        assert result.patient_ref == f"Patient/{PID}"
        assert result.counts["used"] + result.counts["ignored"] == result.counts["resources"]


def test_unknown_coded_resources_are_not_validated_but_their_subject_and_version_are_checked():
    """Resources no value set knows are ignored unvalidated, yet never about another patient."""
    hypertension = cc(SNOMED, "38341003")
    foreign = condition("c9", hypertension, subject="Patient/someone-else")
    assert issue_codes(outcome_of(bundle(patient(), foreign))) == [
        ("business-rule", "Bundle.entry[1].resource.subject")
    ]
    stu3 = condition("c8", hypertension)
    stu3["clinicalStatus"] = "active"
    assert "STU3" in json.dumps(outcome_of(bundle(patient(), stu3)))
    # an invalid element in an irrelevant resource is not a reason to refuse the patient
    odd = condition("c7", hypertension)
    odd["note"] = [{"text": "x", "unknownElement": 1}]
    r = run(bundle(patient(), odd))
    assert r.counts == {"resources": 2, "used": 1, "ignored": 1}
