"""The /fhir endpoint of the real service: CapabilityStatement, read access to the exported
knowledge artifacts, and PlanDefinition/$apply answering like evaluate() on every example."""

from __future__ import annotations

import json

import pytest
from conformance import check_outcome
from fhir.resources.R4B import get_fhir_model_class

from cds_backpain import evaluate
from cds_backpain.examples import EXAMPLES_NOW, load_examples
from cds_backpain.kb.loader import load_knowledge
from cds_backpain.publish.fhir_package import TOP_ID, build_resources, pathway_id

EXAMPLES = load_examples()
FHIR_JSON = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def valid(resource: dict) -> dict:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def parameters(subject: str, data: dict | None, **extra) -> dict:
    params = [{"name": "subject", "valueString": subject}]
    if data is not None:
        params.append({"name": "data", "resource": data})
    params += [{"name": k, "valueString": v} for k, v in extra.items()]
    return {"resourceType": "Parameters", "parameter": params}


def apply(service, plan: str, body: dict):
    return service.post(f"/fhir/PlanDefinition/{plan}/$apply", body, headers=FHIR_JSON)


def bundle_of(example) -> dict:
    return json.loads(example.path.read_text(encoding="utf-8"))


def subject_of(bundle: dict) -> str:
    pid = next(
        e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    return f"Patient/{pid}"


def request_group(care_plan: dict) -> dict:
    valid(care_plan)
    assert care_plan["activity"] == [{"reference": {"reference": "#request-group"}}]
    (rg,) = care_plan["contained"]
    assert rg["resourceType"] == "RequestGroup"
    return rg


def test_metadata_is_a_capability_statement_offering_read_and_apply(service, kb):
    r = service.get("/fhir/metadata")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    cs = valid(r.json())
    assert cs["fhirVersion"] == "4.0.1" and kb.digest in cs["description"]
    by_type = {res["type"]: res for res in cs["rest"][0]["resource"]}
    assert set(by_type) >= {
        "PlanDefinition",
        "ActivityDefinition",
        "Library",
        "ValueSet",
        "CodeSystem",
    }
    assert by_type["PlanDefinition"]["operation"][0]["name"] == "apply"


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/fhir/metadata"),
        ("get", f"/fhir/PlanDefinition/{TOP_ID}"),
        ("get", "/fhir/Library"),
        ("post", f"/fhir/PlanDefinition/{TOP_ID}/$apply"),
    ],
)
def test_fhir_endpoints_need_the_same_jwt_as_the_hooks(service, method, path):
    r = (
        getattr(service, method)(path, token=False)
        if method == "get"
        else service.post(path, {"resourceType": "Parameters"}, token=False)
    )
    assert r.status_code == 401
    check_outcome(r.json())


def test_every_exported_artifact_can_be_read_as_exported(service, kb):
    exported = build_resources(kb)
    for res in exported:
        r = service.get(f"/fhir/{res['resourceType']}/{res['id']}")
        assert r.status_code == 200, (res["id"], r.text)
        assert r.json() == res
    r = service.get("/fhir/PlanDefinition")
    bundle = valid(r.json())
    plans = [e["resource"]["id"] for e in bundle["entry"]]
    assert plans == [p["id"] for p in exported if p["resourceType"] == "PlanDefinition"]
    url = next(p["url"] for p in exported if p["id"] == TOP_ID)
    search = "/fhir/PlanDefinition"  # the JWT audience is the URL without its query
    hits = service.client.get(
        f"{service.url}{search}",
        params={"url": f"{url}|{kb.version}"},
        headers=service.auth(search),
    ).json()
    assert [e["resource"]["id"] for e in hits["entry"]] == [TOP_ID]


def test_unknown_types_and_ids_are_404_operation_outcomes(service):
    for path in ("/fhir/Patient/1", "/fhir/PlanDefinition/nope", "/fhir/Observation"):
        r = service.get(path)
        assert r.status_code == 404, path
        check_outcome(r.json())
    r = apply(service, "nope", parameters("Patient/1", None))
    assert r.status_code == 404
    check_outcome(r.json())


def test_apply_concludes_what_evaluate_concludes_on_every_example(service, kb):
    for ex in EXAMPLES:
        bundle = bundle_of(ex)
        subject = subject_of(bundle)
        r = apply(service, TOP_ID, parameters(subject, bundle))
        assert r.status_code == 200, (ex.name, r.text)
        care_plan = r.json()
        rg = request_group(care_plan)
        assert care_plan["subject"] == {"reference": subject}
        ev = evaluate(bundle, now=EXAMPLES_NOW)
        expected = next(
            e["resource"]
            for e in ev.bundle["entry"]
            if e["resource"]["resourceType"] == "RequestGroup"
        )
        got = [(a["id"], a["priority"], a["code"]) for a in rg.get("action", [])]
        assert got == [(a["id"], a["priority"], a["code"]) for a in expected.get("action", [])], (
            ex.name
        )
        assert rg.get("priority") == expected.get("priority"), ex.name
        assert rg["identifier"] == [
            {
                "system": "https://cds-backpain.example.org/fhir/knowledge-digest",
                "value": f"sha256:{kb.digest}",
            }
        ]
        if ex.expected.get("categories"):
            categories = {c["code"] for a in rg["action"] for cc in a["code"] for c in cc["coding"]}
            assert set(ex.expected["categories"]) <= categories, ex.name


def test_a_pathway_applies_only_its_rules_and_never_self_care_beside_a_red_flag(service, kb):
    ces = next(e for e in EXAMPLES if e.name.startswith("09-"))
    bundle = bundle_of(ces)
    body = parameters(subject_of(bundle), bundle)
    rg = request_group(apply(service, pathway_id("cauda_equina"), body).json())
    assert [a["id"] for a in rg["action"]] == ["ces-established"]
    assert rg["instantiatesCanonical"][0].endswith(
        f"/PlanDefinition/{pathway_id('cauda_equina')}|{kb.version}"
    )
    mech = request_group(apply(service, pathway_id("mechanical"), body).json())
    self_care = {rid for rid, r in kb.rules.items() if r.recommend and r.recommend.self_care}
    assert not {a["id"] for a in mech.get("action", [])} & self_care


def test_bad_apply_requests_get_operation_outcomes(service):
    ex = next(e for e in EXAMPLES if e.name.startswith("01-"))
    bundle = bundle_of(ex)
    subject = subject_of(bundle)
    cases = {
        "not Parameters": bundle,
        "no subject": {
            "resourceType": "Parameters",
            "parameter": [{"name": "data", "resource": bundle}],
        },
        "no data": parameters(subject, None),
        "subject not a patient": parameters("Group/1", bundle),
        "data not a Bundle": {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "subject", "valueString": subject},
                {"name": "data", "resource": {"resourceType": "Patient"}},
            ],
        },
        "unknown parameter": parameters(subject, bundle, colour="blue"),
        "another patient": parameters("Patient/someone-else", bundle),
        "invalid FHIR data": parameters(
            subject,
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": {"resourceType": "Patient", "id": 5}}],
            },
        ),
    }
    for name, body in cases.items():
        r = apply(service, TOP_ID, body)
        assert r.status_code == 400, (name, r.text)
        check_outcome(r.json())
    r = service.post(
        f"/fhir/PlanDefinition/{TOP_ID}/$apply",
        content=b"subject=Patient/1",
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 415
    check_outcome(r.json())
    r = service.get(f"/fhir/PlanDefinition/{TOP_ID}/$apply")
    assert r.status_code in (404, 405)
    check_outcome(r.json())
