"""Every bundled example through the hooks: conformant cards, red-flag suggestions,
and the Argonaut PAMA rating for draft imaging orders."""

from __future__ import annotations

import copy
import re
import uuid

import pytest
from conformance import check_response
from service_support import example_resources, hook_request, patient_id

from cds_backpain.examples import load_examples
from cds_backpain.service.pama import (
    CONSULT_ID_URL,
    PAMA_URLS,
    QCDSM_URL,
    RATING_SYSTEM,
    RATING_URL,
)

EXAMPLES = load_examples()
RATED = [e for e in EXAMPLES if e.expected.get("ratings")]


def test_every_example_gives_conformant_cards(service):
    for ex in EXAMPLES:
        r = service.call(
            "lbp-patient-view", hook_request("patient-view", example_resources(ex.name))
        )
        assert r.status_code == 200, (ex.name, r.text)
        body = r.json()
        check_response(body)
        assert "systemActions" not in body
        if ex.expected.get("red_flag"):
            flagged = [c for c in body["cards"] if c["indicator"] in ("warning", "critical")]
            assert flagged, ex.name
            if ex.expected.get("urgency") in ("urgent", "emergency"):
                # An urgent red flag comes with an action the clinician can accept.
                assert any(c.get("suggestions") for c in flagged), f"{ex.name}: no suggestion"
            for card in flagged:
                assert card["source"]["label"] and card["source"].get("topic")
                assert "**Sources**" in card["detail"] or "Sources" in card["detail"]


def _rating(action: dict) -> str:
    ext = {e["url"]: e for e in action["resource"]["extension"]}
    return ext[RATING_URL]["valueCodeableConcept"]["coding"][0]["code"]


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
@pytest.mark.parametrize("example", RATED, ids=lambda e: e.name)
def test_draft_orders_get_the_pama_rating(service, hook, example):
    resources = example_resources(example.name)
    drafts = [r for r in resources if r["resourceType"] == "ServiceRequest"]
    service_id = "lbp-imaging-order-select" if hook == "order-select" else "lbp-imaging-order-sign"
    r = service.call(service_id, hook_request(hook, resources))
    assert r.status_code == 200, r.text
    body = r.json()
    check_response(body)
    actions = body["systemActions"]
    assert body["extension"]["systemActions"] == actions  # mirrored for the sandbox
    ratings = {f"ServiceRequest/{a['resource']['id']}": _rating(a) for a in actions}
    assert ratings == example.expected["ratings"]
    for action in actions:
        assert action["type"] == "update"
        updated = action["resource"]
        original = next(d for d in drafts if d["id"] == updated["id"])
        # Only the rating extensions were added: the order's meaning is unchanged.
        stripped = copy.deepcopy(updated)
        stripped["extension"] = [e for e in stripped["extension"] if e["url"] not in PAMA_URLS]
        if not stripped["extension"]:
            del stripped["extension"]
        assert stripped == original
        ext = {e["url"]: e for e in updated["extension"]}
        assert ext[RATING_URL]["valueCodeableConcept"]["coding"][0]["system"] == RATING_SYSTEM
        assert ext[QCDSM_URL]["valueString"]
        assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", ext[CONSULT_ID_URL]["valueUri"])
    for ref, rating in ratings.items():
        removing = [
            s
            for c in body["cards"]
            for s in c.get("suggestions", [])
            if any(a["type"] == "delete" and a.get("resourceId") == ref for a in s["actions"])
        ]
        if rating == "not-appropriate":
            assert len(removing) == 1, "a not-appropriate order needs a remove suggestion"
            card = next(c for c in body["cards"] if removing[0] in c.get("suggestions", []))
            assert card["indicator"] in ("warning", "critical", "info")
            assert card["detail"]
        else:
            assert not removing


def test_order_select_rates_only_the_selected_orders(service):
    example = next(e for e in RATED if "not-appropriate" in e.expected["ratings"].values())
    resources = example_resources(example.name)
    draft = next(r for r in resources if r["resourceType"] == "ServiceRequest")
    other = copy.deepcopy(draft) | {"id": "other-draft"}
    body = hook_request(
        "order-select",
        resources,
        drafts=[draft, other],
        selections=[f"ServiceRequest/{other['id']}"],
    )
    r = service.call("lbp-imaging-order-select", body)
    assert r.status_code == 200, r.text
    check_response(r.json())
    rated = {a["resource"]["id"] for a in r.json().get("systemActions", [])}
    assert rated == {"other-draft"}


def test_patient_view_answers_well_within_500_ms(service):
    """With prefetch present, answer "on the order of 500 ms"."""
    body = hook_request("patient-view", example_resources("09-"))
    times = []
    for _ in range(5):
        r = service.call("lbp-patient-view", body | {"hookInstance": str(uuid.uuid4())})
        assert r.status_code == 200
        times.append(r.elapsed.total_seconds())
    assert sorted(times)[2] < 0.5


def test_the_sandbox_pama_scenario(service):
    """The PAMA screen of the CDS Hooks sandbox: CT lumbar spine (CPT 72133) for low back
    pain (SNOMED 279039007), draftOrders Bundle without ``type``: rated not-appropriate
    where the sandbox reads it (``extension.systemActions``)."""
    resources = example_resources("02-")
    pid = patient_id(resources)
    order = {
        "resourceType": "ServiceRequest",
        "id": "example-request-id",
        "status": "draft",
        "intent": "plan",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {
            "coding": [
                {
                    "system": "http://www.ama-assn.org/go/cpt",
                    "code": "72133",
                    "display": "CT lumbar spine without then with contrast",
                }
            ],
            "text": "CT lumbar spine",
        },
        "reasonCode": [
            {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "279039007",
                        "display": "Low back pain",
                    }
                ],
                "text": "Low back pain",
            }
        ],
    }
    body = hook_request("order-select", resources, drafts=[order])
    del body["context"]["draftOrders"]["type"]
    r = service.call("lbp-imaging-order-select", body)
    assert r.status_code == 200, r.text
    check_response(r.json())
    [action] = r.json()["extension"]["systemActions"]
    assert _rating(action) == "not-appropriate"
