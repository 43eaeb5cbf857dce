"""Discovery, on the real server."""

from __future__ import annotations

import re

from conformance import empty_values, schema_errors

EXPECTED = {
    "lbp-patient-view": "patient-view",
    "lbp-imaging-order-select": "order-select",
    "lbp-imaging-order-sign": "order-sign",
}
TOKEN = re.compile(r"\{\{\s*(.*?)\s*\}\}")
ALLOWED_TOKENS = {
    "context.patientId",
    "context.userId",
    "context.encounterId",
    "userPractitionerId",
    "userPractitionerRoleId",
    "userPatientId",
    "userRelatedPersonId",
}


def test_discovery_lists_the_three_services(service):
    r = service.get("/cds-services")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert not schema_errors("Discovery", body)
    assert not list(empty_values(body))
    assert {s["id"]: s["hook"] for s in body["services"]} == EXPECTED
    assert len({(s["id"], s["hook"]) for s in body["services"]}) == 3
    for s in body["services"]:
        assert s["title"] and s["description"]
        assert s["hookVersion"] == "1.0"


def test_prefetch_templates_cover_the_data_and_use_only_allowed_tokens(service):
    for s in service.get("/cds-services").json()["services"]:
        templates = s["prefetch"]
        types = {t.split("?")[0].split("/")[0] for t in templates.values()}
        assert {
            "Patient",
            "Condition",
            "Observation",
            "MedicationRequest",
            "MedicationStatement",
        } <= types
        for template in templates.values():
            tokens = set(TOKEN.findall(template))
            assert tokens <= ALLOWED_TOKENS, template
            assert "draftOrders" not in template and "selections" not in template


def test_every_listed_service_is_postable(service):
    for s in service.get("/cds-services").json()["services"]:
        r = service.call(s["id"], {})
        assert r.status_code == 400  # reachable and validating, not 404/405
