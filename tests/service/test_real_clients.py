"""What real CDS clients (the CDS Hooks sandbox first) send and expect.

Resources the rules never read and draft orders that cannot be parsed do not fail the
call; defects are named where the client put them; both URL forms are served; a CORS
refusal says which origin; an http FHIR server is refused only when it would be used;
an untrusted certificate is named as such.
"""

from __future__ import annotations

import asyncio
import copy
import http.server
import json
import ssl
import threading

import httpx
import pytest
from conformance import check_outcome, check_response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import example_resources, hook_request, patient_id, self_signed_cert

from cds_backpain.service.config import load_config
from cds_backpain.service.prefetch import FhirAccess, FhirFetcher, _Unavailable

PV = "lbp-patient-view"
SELECT = "lbp-imaging-order-select"
SIGN = "lbp-imaging-order-sign"
WARNINGS = "cds-backpain.warnings"


@pytest.fixture(scope="module")
def ces():
    return example_resources("09-")


def _sandbox_medication_draft(pid: str, **extra) -> dict:
    """The sandbox's Rx View before a pick: no ``medication[x]``; ``category`` an object."""
    return {
        "resourceType": "MedicationRequest",
        "id": "request-123",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        "category": {"coding": [{"code": "outpatient"}]},
        **extra,
    }


def test_an_unparseable_medication_draft_leaves_red_flag_cards_intact(service, ces):
    pid = patient_id(ces)
    plain = service.call(PV, hook_request("patient-view", ces)).json()["cards"]
    body = hook_request("order-sign", ces, drafts=[_sandbox_medication_draft(pid)])
    r = service.call(SIGN, body)
    assert r.status_code == 200, r.text
    out = r.json()
    check_response(out)
    assert [c["summary"] for c in out["cards"]] == [c["summary"] for c in plain]
    # A medication draft is not an imaging order: it is not evaluated, so it cannot fail.


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
MEDICATION_FIELDS = st.sampled_from(
    [
        "category",
        "dosageInstruction",
        "medicationCodeableConcept",
        "note",
        "authoredOn",
        "reasonCode",
    ]
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fields=st.dictionaries(MEDICATION_FIELDS, JUNK, min_size=1, max_size=3))
def test_no_medication_draft_ever_hides_a_red_flag(service, ces, fields):
    """Whatever a medication screen sends as a draft, the call answers with the red flag."""
    pid = patient_id(ces)
    draft = {**_sandbox_medication_draft(pid), **fields}
    r = service.call(SIGN, hook_request("order-sign", ces, drafts=[draft]))
    assert r.status_code == 200, r.text
    assert any(c["indicator"] == "critical" for c in r.json()["cards"])


def test_an_unparseable_imaging_draft_is_not_rated(service, ces):
    mri_case = example_resources("02-")
    draft = copy.deepcopy(next(r for r in mri_case if r["resourceType"] == "ServiceRequest"))
    draft["authoredOn"] = "not a date"
    r = service.call(SIGN, hook_request("order-sign", mri_case, drafts=[draft]))
    assert r.status_code == 200, r.text
    assert "systemActions" not in r.json()
    (item,) = r.json()["extension"][WARNINGS]["issue"]
    assert item["expression"] == ["context.draftOrders.entry[0]"]
    assert "not rated" in item["diagnostics"]


def test_an_unread_prefetched_resource_is_skipped_and_reported(service, ces):
    pid = patient_id(ces)
    body = hook_request("patient-view", ces)
    broken = _sandbox_medication_draft(pid, id="rx-unknown", status="active")
    body["prefetch"]["medicationRequests"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": broken}],
    }
    r = service.call(PV, body)
    assert r.status_code == 200, r.text
    (item,) = r.json()["extension"][WARNINGS]["issue"]
    assert item["expression"] == ["prefetch.medicationRequests.entry[0]"]
    assert any(c["indicator"] == "critical" for c in r.json()["cards"])


def test_a_defect_in_a_resource_the_rules_read_is_named_in_the_clients_terms(service, ces):
    body = copy.deepcopy(hook_request("patient-view", ces))
    entries = body["prefetch"]["conditions"]["entry"]
    entries[0]["resource"]["onsetDateTime"] = "yesterday"
    r = service.call(PV, body)
    assert r.status_code == 400, r.text
    check_outcome(r.json())
    (item,) = r.json()["issue"]
    assert item["expression"] == ["prefetch.conditions.entry[0].resource.onsetDateTime"]
    assert item["diagnostics"].startswith("prefetch.conditions.entry[0] (Condition/")
    assert "array item" not in r.text


def test_an_unparseable_draft_is_named_by_its_draft_orders_entry(service, ces):
    pid = patient_id(ces)
    (mri,) = [r for r in example_resources("06-") if r["resourceType"] == "ServiceRequest"]
    drafts = [
        {**copy.deepcopy(mri), "id": f"mri-{i}", "subject": {"reference": f"Patient/{pid}"}}
        for i in range(3)
    ]
    drafts[2]["authoredOn"] = "soon"
    r = service.call(SIGN, hook_request("order-sign", ces, drafts=drafts))
    assert r.status_code == 200, r.text
    (item,) = r.json()["extension"][WARNINGS]["issue"]
    assert item["expression"] == ["context.draftOrders.entry[2]"]


@pytest.mark.parametrize("path", ["/cds-services/", f"/cds-services/{PV}/"])
def test_trailing_slash_urls_are_served_directly(service, ces, path):
    if path == "/cds-services/":
        r = service.get(path)
    else:
        r = service.post(path, hook_request("patient-view", ces))
    assert r.status_code == 200, r.text
    assert r.headers.get("location") is None


def test_a_refused_cors_preflight_names_the_origin_in_the_log(service):
    r = service.client.options(
        service.url + "/cds-services",
        headers={"Origin": "http://localhost:9999", "Access-Control-Request-Method": "GET"},
    )
    assert r.status_code == 403
    assert "http://localhost:9999" in r.json()["issue"][0]["diagnostics"]
    lines = [json.loads(x) for x in service.log.read_text().splitlines() if x.startswith("{")]
    refused = [x for x in lines if x.get("event") == "cors_refused"]
    assert refused and refused[-1]["origin"] == "http://localhost:9999"
    assert refused[-1]["level"] == "warning"


def test_cors_origins_may_be_given_as_one_list():
    cfg = load_config(
        overrides={"cors_origins": ["http://localhost:8080, http://127.0.0.1:8080/", "https://a"]},
        environ={},
    )
    assert cfg.cors_origins == ("http://localhost:8080", "http://127.0.0.1:8080", "https://a")


def test_a_refused_call_is_logged_as_a_warning(service):
    r = service.call(PV, {"hook": "patient-view"})
    assert r.status_code == 400
    lines = [json.loads(x) for x in service.log.read_text().splitlines() if x.startswith("{")]
    refused = [x for x in lines if x.get("event") == "hook_refused"]
    assert refused and refused[-1]["level"] == "warning" and refused[-1]["status"] == 400


# -- certificates --------------------------------------------------------------------


def test_an_untrusted_fhir_server_certificate_is_named(tmp_path):
    cert, key = self_signed_cert(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"https://127.0.0.1:{server.server_address[1]}/fhir"

    async def read() -> str:
        async with httpx.AsyncClient(timeout=5) as client:
            fetcher = FhirFetcher(client, max_pages=1, max_resources=10)
            try:
                await fetcher.read("Patient/x", FhirAccess(server=base))
            except _Unavailable as exc:
                return str(exc)
        return "no error"

    try:
        message = asyncio.run(read())
    finally:
        server.shutdown()
        server.server_close()
    assert "TLS certificate is not trusted" in message
    assert "SSL_CERT_FILE" in message


def test_a_long_order_name_is_cut_at_a_word_in_the_remove_suggestion_label():
    """The sandbox's PAMA screen sends the CPT display as the order's name ("Magnetic
    resonance (eg, proton) imaging, spinal canal and contents, lumbar; without contrast
    material"): the button label was cut mid-word ("... spinal canal an")."""
    from cds_backpain.emit.markdown import ELLIPSIS
    from cds_backpain.kb.loader import load_knowledge
    from cds_backpain.service.pama import remove_order_suggestion

    display = (
        "Magnetic resonance (eg, proton) imaging, spinal canal and contents, lumbar; "
        "without contrast material"
    )
    draft = {
        "resourceType": "ServiceRequest",
        "id": "example-request-id",
        "status": "draft",
        "intent": "plan",
        "code": {
            "coding": [
                {"system": "http://www.ama-assn.org/go/cpt", "code": "72148", "display": display}
            ],
            "text": display,
        },
        "subject": {"reference": "Patient/pat-02"},
    }
    label = remove_order_suggestion("card-1", draft, load_knowledge())["label"]
    assert len(label) <= 80
    assert label.endswith(ELLIPSIS), label
    words = label.removesuffix(ELLIPSIS).split()
    assert words[-1] in display.split(), label  # a whole word before the ellipsis
