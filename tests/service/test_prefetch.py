"""The prefetch matrix: present, null, absent with and without a FHIR
server. The FHIR path and the prefetch path must give identical cards."""

from __future__ import annotations

import copy

import pytest
from conformance import check_outcome, check_response
from service_support import (
    FHIR_TOKEN,
    example_resources,
    fhir_authorization,
    hook_request,
    patient_id,
)

from cds_backpain.service.prefetch import PREFETCH_TEMPLATES

PV = "lbp-patient-view"
KEYS = set(PREFETCH_TEMPLATES)


@pytest.fixture(scope="module")
def case():
    return example_resources("17-")


@pytest.fixture(scope="module")
def reference_cards(service, case):
    """Cards when everything is prefetched (the reference for the other paths)."""
    r = service.call(PV, hook_request("patient-view", case))
    assert r.status_code == 200, r.text
    check_response(r.json())
    assert r.json()["cards"], "the example should produce cards"
    return r.json()["cards"]


auth = fhir_authorization


def fetched(fhir_server) -> list[dict]:
    return [r for r in fhir_server.requests() if not r["path"].startswith("/__")]


def test_present_prefetch_is_used_without_fetching(service, fhir_server, case, reference_cards):
    fhir_server.reset()
    body = hook_request(
        "patient-view", case, fhirServer=fhir_server.base("fhir"), fhirAuthorization=auth()
    )
    r = service.call(PV, body)
    assert r.status_code == 200
    assert r.json()["cards"] == reference_cards
    assert fetched(fhir_server) == []


def test_null_means_no_data_and_no_fetch(service, fhir_server, case):
    fhir_server.reset()
    body = hook_request(
        "patient-view", case, fhirServer=fhir_server.base("fhir"), fhirAuthorization=auth()
    )
    for key in KEYS - {"patient"}:
        body["prefetch"][key] = None
    r = service.call(PV, body)
    assert r.status_code == 200, r.text
    check_response(r.json())
    assert fetched(fhir_server) == []
    patient_only = hook_request("patient-view", [r for r in case if r["resourceType"] == "Patient"])
    assert r.json()["cards"] == service.call(PV, patient_only).json()["cards"]


@pytest.mark.parametrize("base", ["fhir", "paged", "open"])
def test_absent_keys_are_fetched_from_the_fhir_server(
    service, fhir_server, case, reference_cards, base
):
    fhir_server.reset()
    extra = {"fhirServer": fhir_server.base(base)}
    if base != "open":
        extra["fhirAuthorization"] = auth()
    r = service.call(PV, hook_request("patient-view", case, prefetch=None, **extra))
    assert r.status_code == 200, r.text
    check_response(r.json())
    assert r.json()["cards"] == reference_cards
    seen = fetched(fhir_server)
    pid = patient_id(case)
    paths = {s["path"].split("&_page")[0] for s in seen}
    assert f"/{base}/Patient/{pid}" in paths
    for kind in ("Condition", "Observation", "MedicationRequest", "MedicationStatement"):
        assert f"/{base}/{kind}?patient={pid}" in paths
    if base == "paged":
        assert any("_page=1" in s["path"] for s in seen)  # followed next links
    expected_auth = None if base == "open" else f"Bearer {FHIR_TOKEN}"
    assert {s["authorization"] for s in seen} == {expected_auth}


def test_partial_prefetch_fetches_only_what_is_missing(service, fhir_server, case, reference_cards):
    fhir_server.reset()
    body = hook_request(
        "patient-view", case, fhirServer=fhir_server.base("fhir"), fhirAuthorization=auth()
    )
    for key in ("observations", "medicationStatements"):
        del body["prefetch"][key]
    r = service.call(PV, body)
    assert r.status_code == 200
    assert r.json()["cards"] == reference_cards
    kinds = {s["path"].split("?")[0].split("/")[2] for s in fetched(fhir_server)}
    assert kinds == {"Observation", "MedicationStatement"}


def test_operation_outcome_prefetch_falls_back_to_the_server(
    service, fhir_server, case, reference_cards
):
    fhir_server.reset()
    body = hook_request(
        "patient-view", case, fhirServer=fhir_server.base("fhir"), fhirAuthorization=auth()
    )
    body["prefetch"]["conditions"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout", "diagnostics": "upstream timeout"}],
    }
    r = service.call(PV, body)
    assert r.status_code == 200
    assert r.json()["cards"] == reference_cards
    assert [s["path"].split("?")[0] for s in fetched(fhir_server)] == ["/fhir/Condition"]


def test_paginated_prefetch_is_followed_on_the_server(service, fhir_server, case, reference_cards):
    pid = patient_id(case)
    conditions = [r for r in case if r["resourceType"] == "Condition"]
    assert len(conditions) > 2
    body = hook_request(
        "patient-view", case, fhirServer=fhir_server.base("paged"), fhirAuthorization=auth()
    )
    body["prefetch"]["conditions"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(conditions),
        "entry": [{"resource": c} for c in conditions[:2]],
        "link": [
            {
                "relation": "next",
                "url": f"{fhir_server.base('paged')}/Condition?patient={pid}&_page=1",
            }
        ],
    }
    r = service.call(PV, body)
    assert r.status_code == 200, r.text
    assert r.json()["cards"] == reference_cards


def expect_412(r, *keys: str) -> list[str]:
    assert r.status_code == 412, r.text
    body = r.json()
    check_outcome(body)
    named = {e.removeprefix("prefetch.") for i in body["issue"] for e in i.get("expression", [])}
    assert set(keys) <= named, (keys, body)
    return [i["diagnostics"] for i in body["issue"]]


def test_absent_without_a_fhir_server_is_412_naming_the_keys(service, case):
    expect_412(service.call(PV, hook_request("patient-view", case, prefetch=None)), *KEYS)
    body = hook_request("patient-view", case)
    del body["prefetch"]["observations"]
    diagnostics = expect_412(service.call(PV, body), "observations")
    assert len(diagnostics) == 1 and "fhirServer" in diagnostics[0]


def test_null_patient_is_412(service, case):
    body = hook_request("patient-view", case)
    body["prefetch"]["patient"] = None
    expect_412(service.call(PV, body), "patient")


@pytest.mark.parametrize(
    ("base", "token", "why"),
    [
        ("slow", FHIR_TOKEN, "in time"),
        ("error", FHIR_TOKEN, "500"),
        ("fhir", "wrong-token", "401"),
        ("evil", FHIR_TOKEN, "outside fhirServer"),
    ],
)
def test_fhir_server_failures_are_412(service, fhir_server, case, base, token, why):
    body = hook_request(
        "patient-view", case, fhirServer=fhir_server.base(base), fhirAuthorization=auth(token)
    )
    del body["prefetch"]["conditions"]
    diagnostics = expect_412(service.call(PV, body), "conditions")
    assert why in diagnostics[0]
    assert token not in " ".join(diagnostics)


def test_unknown_patient_on_the_server_is_412(service, fhir_server):
    case = example_resources("17-")
    body = hook_request("patient-view", case, prefetch=None, fhirServer=fhir_server.base("open"))
    body["context"]["patientId"] = "nobody-here"
    expect_412(service.call(PV, body), "patient")


def test_server_not_on_the_allowlist_is_not_contacted(dev_service, fhir_server, case):
    fhir_server.reset()
    body = hook_request("patient-view", case, prefetch=None, fhirServer="http://127.0.0.2:9/fhir")
    diagnostics = expect_412(dev_service.call(PV, body), *KEYS)
    assert "allowlist" in diagnostics[0]
    ok = hook_request("patient-view", case, prefetch=None, fhirServer=fhir_server.base("open"))
    assert dev_service.call(PV, ok).status_code == 200


def test_context_tokens_are_url_encoded(service, fhir_server):
    fhir_server.reset()
    body = hook_request(
        "patient-view", example_resources("17-"), prefetch=None, fhirServer=fhir_server.base("open")
    )
    body["context"] = copy.deepcopy(body["context"]) | {"patientId": "a.b-1"}
    expect_412(service.call(PV, body), "patient")
    assert any(s["path"] == "/open/Patient/a.b-1" for s in fetched(fhir_server))


def test_the_access_token_is_never_logged(service):
    assert FHIR_TOKEN not in service.log.read_text()


@pytest.mark.parametrize("bad", [1, None, "x", [], {"resource": 5}])
def test_a_searchset_entry_that_is_not_an_object_is_400_never_dropped(service, case, bad):
    body = hook_request("patient-view", case)
    conditions = body["prefetch"]["conditions"]
    conditions["entry"] = [*(conditions.get("entry") or []), bad]
    r = service.call(PV, body)
    assert r.status_code == 400, r.text
    check_outcome(r.json())
    where = r.json()["issue"][0]["expression"]
    assert where == [f"prefetch.conditions.entry[{len(conditions['entry']) - 1}]"]


def test_data_about_another_patient_is_400_even_in_a_resource_the_rules_do_not_read(service, case):
    body = hook_request("patient-view", case)
    foreign = {
        "resourceType": "Observation",
        "id": "foreign-1",
        "status": "final",
        "subject": {"reference": "Patient/someone-else"},
        "code": {"coding": [{"system": "http://example.org/none", "code": "nothing"}]},
    }
    observations = body["prefetch"]["observations"]
    observations["entry"] = [*(observations.get("entry") or []), {"resource": foreign}]
    r = service.call(PV, body)
    assert r.status_code == 400, r.text
    check_outcome(r.json())
    text = r.json()["issue"][0]["diagnostics"]
    assert "prefetch.observations.entry[" in text and "Observation/foreign-1" in text
    assert "does not reference the Patient" in text


def test_a_prefetched_patient_other_than_context_patient_id_is_400(service, case):
    body = hook_request("patient-view", case)
    body["context"]["patientId"] = "not-this-one"
    r = service.call(PV, body)
    assert r.status_code == 400, r.text
    check_outcome(r.json())
    assert "not the expected patient Patient/not-this-one" in r.text


def test_service_errors_are_package_errors():
    from cds_backpain import CdsBackpainError
    from cds_backpain.service.errors import ServiceError

    assert issubclass(ServiceError, CdsBackpainError)
