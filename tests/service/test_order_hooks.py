"""The order hooks answer the orders (PAMA): the selected orders' cards and the red
flags; no suggestion to order what an open draft rated appropriate already orders; an
order without indication that could only be rated "no criteria apply" is not rated and
gets a card asking for the indication; orders are named, never by FHIR id."""

from __future__ import annotations

import copy

import fhir_r4
import pytest
from conformance import check_response
from service_support import example_resources, hook_request, patient_id

SELECT = "lbp-imaging-order-select"
SIGN = "lbp-imaging-order-sign"
PV = "lbp-patient-view"


@pytest.fixture(scope="module")
def mri_draft():
    (draft,) = [r for r in example_resources("06-") if r["resourceType"] == "ServiceRequest"]
    return draft


def _draft_for(draft: dict, pid: str, **changes) -> dict:
    out = copy.deepcopy(draft)
    out["subject"] = {"reference": f"Patient/{pid}"}
    out.update(changes)
    return out


def _topics(body: dict) -> list[str]:
    return [((c.get("source") or {}).get("topic") or {}).get("code") for c in body["cards"]]


def test_order_select_answers_the_selected_order_not_every_patient_view_card(service):
    case = example_resources("02-")  # mechanical pain, MRI rated not appropriate
    pv = service.call(PV, hook_request("patient-view", case)).json()
    r = service.call(SELECT, hook_request("order-select", case))
    assert r.status_code == 200, r.text
    check_response(r.json())
    assert len(_topics(pv)) > 1
    assert _topics(r.json()) == ["imaging-order-not-indicated-early"]
    card = r.json()["cards"][0]
    assert card["indicator"] == "warning"
    (remove,) = [s for s in card["suggestions"] if s["actions"][0]["type"] == "delete"]
    assert "ServiceRequest/" not in remove["label"]
    assert remove["label"].startswith("Remove the draft order: MRI")
    assert "ServiceRequest/" not in r.json()["systemActions"][0]["description"]
    # The rated draft validates as FHIR R4 (schema and invariants), as every suggestion does.
    assert fhir_r4.problems(r.json()["systemActions"][0]["resource"]) == []
    for s in card["suggestions"]:
        for action in s["actions"]:
            if "resource" in action:
                assert fhir_r4.problems(action["resource"]) == []


def test_a_red_flag_card_offers_no_second_mri_beside_an_appropriate_mri_draft(service, mri_draft):
    case = example_resources("09-")  # cauda equina
    pid = patient_id(case)
    alone = service.call(PV, hook_request("patient-view", case)).json()
    offered = [s["label"] for c in alone["cards"] for s in c.get("suggestions", ())]
    assert any("MRI" in label for label in offered)
    draft = _draft_for(mri_draft, pid, priority="stat")
    r = service.call(SELECT, hook_request("order-select", case, drafts=[draft]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["systemActions"][0]["resource"]["extension"][0]["valueCodeableConcept"]["coding"][
        0
    ]["code"] == ("appropriate")
    ces = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "ces-established")
    assert ces["indicator"] == "critical"
    labels = [s["label"] for s in ces.get("suggestions", ())]
    assert labels and not any("MRI" in label for label in labels)


def test_an_order_without_indication_is_not_rated_and_asks_for_it(service, mri_draft):
    patient = next(r for r in example_resources("09-") if r["resourceType"] == "Patient")
    draft = _draft_for(mri_draft, patient["id"])
    draft.pop("reasonCode")
    body = hook_request("order-sign", [patient], drafts=[draft])
    r = service.call(SIGN, body)
    assert r.status_code == 200, r.text
    check_response(r.json())
    assert "systemActions" not in r.json()
    (card,) = r.json()["cards"]
    assert card["summary"].startswith("Add the indication to the draft MRI lumbar spine")
    assert card["indicator"] == "warning"
    with_reason = _draft_for(mri_draft, patient["id"], reasonCode=[{"text": "back pain"}])
    r = service.call(SIGN, hook_request("order-sign", [patient], drafts=[with_reason]))
    rating = r.json()["systemActions"][0]["resource"]["extension"][0]
    assert rating["valueCodeableConcept"]["coding"][0]["code"] == "no-criteria-apply"


def test_the_service_asks_what_the_library_asks(service, mri_draft):
    from cds_backpain import evaluate
    from cds_backpain.examples import EXAMPLES_NOW

    patient = next(r for r in example_resources("09-") if r["resourceType"] == "Patient")
    draft = _draft_for(mri_draft, patient["id"])
    draft.pop("reasonCode")
    r = service.call(SIGN, hook_request("order-sign", [patient], drafts=[draft]))
    library = evaluate([patient, draft], now=EXAMPLES_NOW)
    assert library.missing_indication == (f"ServiceRequest/{draft['id']}",)
    assert [(c["summary"], c["indicator"], c["detail"]) for c in r.json()["cards"]] == [
        (c["summary"], c["indicator"], c["detail"]) for c in library.cards
    ]


def test_order_select_asks_the_indication_of_the_selected_orders_only(service, mri_draft):
    patient = next(r for r in example_resources("09-") if r["resourceType"] == "Patient")
    asked = _draft_for(mri_draft, patient["id"], id="mri-no-reason")
    asked.pop("reasonCode")
    given = _draft_for(mri_draft, patient["id"], id="mri-reason", reasonCode=[{"text": "pain"}])
    drafts = [asked, given]

    def summaries(selected: str) -> list[str]:
        body = hook_request("order-select", [patient], drafts=drafts, selections=[selected])
        r = service.call(SELECT, body)
        assert r.status_code == 200, r.text
        check_response(r.json())
        return [c["summary"] for c in r.json()["cards"]]

    assert not any(
        s.startswith("Add the indication") for s in summaries("ServiceRequest/mri-reason")
    )
    (only,) = summaries("ServiceRequest/mri-no-reason")
    assert only.startswith("Add the indication to the draft MRI lumbar spine")
