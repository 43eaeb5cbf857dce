"""Hook requests: malformed ones get 400/404/405/415 with an
OperationOutcome naming the defect, never 500; real-world quirks are tolerated."""

from __future__ import annotations

import copy
import uuid

import pytest
from conformance import check_outcome, check_response
from service_support import example_resources, hook_request

PV = "lbp-patient-view"
SELECT = "lbp-imaging-order-select"
SIGN = "lbp-imaging-order-sign"


@pytest.fixture(scope="module")
def mri_case():
    return example_resources("02-")


def expect_400(r, *expressions: str) -> dict:
    assert r.status_code == 400, r.text
    body = r.json()
    check_outcome(body)
    found = {e for i in body["issue"] for e in i.get("expression", [])}
    for expected in expressions:
        assert expected in found, (expected, body)
    return body


def test_non_json_bodies(service):
    path = f"/cds-services/{PV}"
    r = service.post(path, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    check_outcome(r.json())
    r = service.post(path, content=b"[1, 2]", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = service.post(path, content=b"hook=patient-view", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    check_outcome(r.json())


@pytest.mark.parametrize("member", ["hook", "hookInstance", "context"])
def test_missing_required_members(service, mri_case, member):
    body = hook_request("patient-view", mri_case)
    del body[member]
    expect_400(service.call(PV, body))


def test_structural_defects(service, mri_case):
    base = hook_request("patient-view", mri_case)
    cases = {
        "context not an object": ({**base, "context": "pat-02"}, "context"),
        "hookInstance not a uuid": ({**base, "hookInstance": "1"}, "hookInstance"),
        "userId not Type/id": (
            {**base, "context": {**base["context"], "userId": "dr-1"}},
            "context.userId",
        ),
        "patientId missing": ({**base, "context": {"userId": "Practitioner/1"}}, "context"),
        "patientId not a FHIR id": (
            {**base, "context": {**base["context"], "patientId": "../x"}},
            "context.patientId",
        ),
        "cds-r-1: fhirAuthorization without fhirServer": (
            {
                **base,
                "fhirAuthorization": {
                    "access_token": "t",
                    "token_type": "Bearer",
                    "expires_in": 30,
                    "scope": "patient/*.read",
                    "subject": "cds",
                },
            },
            "$",
        ),
        "prefetch not FHIR": ({**base, "prefetch": {"patient": 3}}, "prefetch.patient"),
    }
    for name, (body, expression) in cases.items():
        r = service.call(PV, body)
        assert r.status_code == 400, name
        expect_400(r, expression)


def test_hook_must_match_the_service(service, mri_case):
    body = hook_request("order-sign", mri_case)
    expect_400(service.call(PV, body), "hook")


def test_order_select_context(service, mri_case):
    body = hook_request("order-select", mri_case)
    no_sel = copy.deepcopy(body)
    del no_sel["context"]["selections"]
    expect_400(service.call(SELECT, no_sel), "context")
    empty = copy.deepcopy(body)
    empty["context"]["selections"] = []
    expect_400(service.call(SELECT, empty), "context.selections")
    dangling = copy.deepcopy(body)
    dangling["context"]["selections"] = ["ServiceRequest/not-in-draft-orders"]
    expect_400(service.call(SELECT, dangling), "context.selections[0]")
    not_bundle = copy.deepcopy(body)
    not_bundle["context"]["draftOrders"] = {"resourceType": "ServiceRequest"}
    expect_400(service.call(SELECT, not_bundle), "context.draftOrders.resourceType")


def test_order_sign_needs_draft_orders(service, mri_case):
    body = hook_request("order-sign", mri_case)
    del body["context"]["draftOrders"]
    expect_400(service.call(SIGN, body), "context")


def test_prefetched_patient_must_be_the_context_patient(service, mri_case):
    other = example_resources("09-")
    body = hook_request("patient-view", mri_case)
    body["prefetch"]["patient"] = next(r for r in other if r["resourceType"] == "Patient")
    expect_400(service.call(PV, body))


def test_unknown_service_and_wrong_methods(service):
    r = service.call("no-such-service", {})
    assert r.status_code == 404
    check_outcome(r.json())
    r = service.get(f"/cds-services/{PV}")
    assert r.status_code == 405
    check_outcome(r.json())
    r = service.post("/cds-services", {})
    assert r.status_code == 405
    check_outcome(r.json())


def test_sandbox_quirks_are_tolerated(service, mri_case):
    """Bundle without type, MedicationRequest without intent, the PAMA screen's first fire
    (``code.coding: [{}]``, ``reasonCode: []``), unknown members, null optional members."""
    pid = next(r["id"] for r in mri_case if r["resourceType"] == "Patient")
    first_fire = {
        "resourceType": "ServiceRequest",
        "id": "example-request-id",
        "status": "draft",
        "intent": "plan",
        "code": {"coding": [{}]},
        "subject": {"reference": f"Patient/{pid}"},
        "reasonCode": [],
    }
    body = hook_request("order-select", mri_case, drafts=[first_fire])
    del body["context"]["draftOrders"]["type"]
    body["context"]["somethingNew"] = {"x": 1}
    body["extension"] = {"org.example.config": {"verbose": True}}
    body["fhirAuthorization"] = None
    body["prefetch"]["medicationRequests"] = {
        "resourceType": "Bundle",
        "entry": [
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": "rx-no-intent",
                    "status": "draft",
                    "subject": {"reference": f"Patient/{pid}"},
                    "authoredOn": "2026-05-30",
                    "medicationCodeableConcept": {"text": "ibuprofen"},
                }
            }
        ],
    }
    r = service.call(SELECT, body)
    assert r.status_code == 200, r.text
    check_response(r.json())
    assert "systemActions" not in r.json()  # an order without a code is not rated


def test_random_garbage_never_500s(service):
    bodies = [
        None,
        0,
        "x",
        [],
        {"hook": None},
        {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": "p"},
            "prefetch": [],
        },
        {
            "hook": "patient-view",
            "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": "p"},
            "prefetch": {"patient": {"resourceType": "Patient", "id": "p", "birthDate": 12}},
        },
    ]
    for body in bodies:
        r = service.call(PV, body)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
        check_outcome(r.json())
