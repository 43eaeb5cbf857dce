"""Input abuse, patient identity and feedback integrity (issue 12): text that is not
Unicode, impossible instants and over-long ids are a 400; a trickled body is a 408; another
server's patient and clinical data smuggled into draftOrders never count as this patient's;
feedback is bound to the client the card was issued to and counted once."""

from __future__ import annotations

import json
import socket
import time
import uuid

import pytest
from conformance import check_outcome
from service_support import ISS_T, example_resources, hook_request, make_token, patient_id

PV = "lbp-patient-view"
SIGN = "lbp-imaging-order-sign"
FB = f"/cds-services/{PV}/feedback"
TS = "2026-06-01T12:05:00Z"


def _raw(service, path: str, text: str):
    return service.post(path, content=text.encode(), headers={"Content-Type": "application/json"})


def _400(r) -> None:
    assert r.status_code == 400, r.text
    check_outcome(r.json())


# -- input abuse ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "where", ["hook", "hookInstance", "context", "prefetch key", "fhirServer", "feedback"]
)
def test_a_lone_surrogate_escape_is_400(service, where):
    body = hook_request("patient-view", example_resources("02-"))
    text = json.dumps(body)
    lone = "\\ud800"
    path = f"/cds-services/{PV}"
    if where == "hook":
        text = text.replace('"patient-view"', f'"patient-view{lone}"', 1)
    elif where == "hookInstance":
        text = text.replace(body["hookInstance"], body["hookInstance"] + lone, 1)
    elif where == "context":
        text = text.replace('"Practitioner/dr-1"', f'"Practitioner/dr-1{lone}"', 1)
    elif where == "prefetch key":
        text = text.replace('"conditions":', f'"conditions{lone}":', 1)
    elif where == "fhirServer":
        text = text[:-1] + f', "fhirServer": "https://fhir.example.org/{lone}"}}'
    else:
        path = FB
        item = f'{{"card": "c{lone}", "outcome": "overridden", "outcomeTimestamp": "{TS}"}}'
        text = f'{{"feedback": [{item}]}}'
    _400(_raw(service, path, text))
    # A correctly paired surrogate escape is text like any other.
    paired = text.replace(lone, "\\ud83d\\ude00")
    assert _raw(service, path, paired).status_code != 500


@pytest.mark.parametrize(
    "timestamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59Z"]
)
def test_extreme_outcome_timestamps_are_400_or_stored_never_500(service, timestamp):
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": timestamp}
    r = service.post(FB, {"feedback": [item]})
    if timestamp.endswith("Z"):  # representable in UTC: a date, however odd
        assert r.status_code == 200, r.text
    else:
        _400(r)


def test_an_over_long_card_or_suggestion_uuid_is_400(service):
    long_card = {"card": "c" * 5000, "outcome": "overridden", "outcomeTimestamp": TS}
    _400(service.post(FB, {"feedback": [long_card]}))
    long_suggestion = {
        "card": "c",
        "outcome": "accepted",
        "outcomeTimestamp": TS,
        "acceptedSuggestions": [{"id": "s" * 5000}],
    }
    _400(service.post(FB, {"feedback": [long_suggestion]}))


def test_a_trickled_body_is_408(hardened):
    path = f"/cds-services/{PV}"
    token = make_token(hardened.keys.ec, hardened.url + path)
    host, port = hardened.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                "Content-Length: 1000\r\n\r\n"
            ).encode()
        )
        t0 = time.monotonic()
        answer = b""
        sock.settimeout(0.5)
        while time.monotonic() - t0 < 8 and b"\r\n\r\n" not in answer:
            try:
                sock.sendall(b" ")
                answer += sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
        took = time.monotonic() - t0
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert took < 4, took


# -- patient identity ------------------------------------------------------------------


def test_another_servers_patient_with_the_same_id_is_not_this_patient(service):
    resources = example_resources("09-")
    pid = patient_id(resources)
    body = hook_request("patient-view", resources)
    entry = body["prefetch"]["conditions"]["entry"][0]["resource"]
    entry["subject"] = {"reference": f"https://other-server.example.org/fhir/Patient/{pid}"}
    r = service.call(PV, body)
    _400(r)
    assert "other-server.example.org" in r.text


def test_an_absolute_reference_on_the_calls_fhir_server_is_this_patient(service, fhir_server):
    resources = example_resources("09-")
    pid = patient_id(resources)
    reference = service.call(PV, hook_request("patient-view", resources)).json()["cards"]
    base = fhir_server.base("open")
    body = hook_request("patient-view", resources, fhirServer=base)
    for e in body["prefetch"]["conditions"]["entry"]:
        e["resource"]["subject"] = {"reference": f"{base}/Patient/{pid}"}
    r = service.call(PV, body)
    assert r.status_code == 200, r.text
    assert r.json()["cards"] == reference


def test_clinical_resources_in_draft_orders_are_refused(service):
    red_flags = example_resources("09-")  # cauda equina: an emergency if read
    calm = example_resources("02-")
    pid = patient_id(calm)
    smuggled = [
        {**r, "id": f"smuggled-{r['id']}", "subject": {"reference": f"Patient/{pid}"}}
        for r in red_flags
        if r["resourceType"] == "Condition"
    ]
    body = hook_request("order-sign", calm, drafts=smuggled)
    r = service.call(SIGN, body)
    _400(r)
    assert "orders only" in r.text


def test_only_service_requests_of_draft_orders_are_evaluated(service):
    calm = example_resources("02-")
    pid = patient_id(calm)
    med = {
        "resourceType": "MedicationRequest",
        "id": "draft-med",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        "medicationCodeableConcept": {"text": "something"},
    }
    orders = [r for r in calm if r["resourceType"] == "ServiceRequest"]
    plain = service.call(SIGN, hook_request("order-sign", calm))
    with_med = service.call(SIGN, hook_request("order-sign", calm, drafts=[*orders, med]))
    assert plain.status_code == with_med.status_code == 200, with_med.text

    def summaries(r):
        return [c["summary"] for c in r.json()["cards"]]

    assert summaries(with_med) == summaries(plain)


# -- feedback integrity -----------------------------------------------------------------


@pytest.fixture(scope="module")
def issued(service) -> dict:
    """A card with a suggestion, issued to the default client (ISS_A)."""
    r = service.call(PV, hook_request("patient-view", example_resources("08-")))
    assert r.status_code == 200, r.text
    return next(c for c in r.json()["cards"] if c.get("suggestions"))


def _from_tenant_client(service, body):
    token = make_token(service.keys.tenant, service.url + FB, iss=ISS_T, tenant="clinic-1")
    return service.post(FB, body, token=False, headers={"Authorization": f"Bearer {token}"})


def test_feedback_from_another_client_is_refused(service, issued):
    item = {"card": issued["uuid"], "outcome": "overridden", "outcomeTimestamp": TS}
    r = _from_tenant_client(service, {"feedback": [item]})
    assert r.status_code == 403, r.text
    check_outcome(r.json())
    assert service.post(FB, {"feedback": [item]}).status_code == 200  # the issuing client


def test_the_same_outcome_counts_once_however_often_it_is_sent(service, issued):
    items = [
        {
            "card": issued["uuid"],
            "outcome": "accepted",
            "outcomeTimestamp": f"2026-06-01T12:{i % 60:02d}:00Z",
            "acceptedSuggestions": [{"id": issued["suggestions"][0]["uuid"]}],
        }
        for i in range(100)
    ]
    first = service.post(FB, {"feedback": items[:1]}).json()
    rest = service.post(FB, {"feedback": items[1:]}).json()
    assert first["stored"] + rest["stored"] <= 1
    assert rest == {"stored": 0, "duplicates": 99}


def test_unknown_suggestion_ids_are_refused(service, issued):
    item = {
        "card": issued["uuid"],
        "outcome": "accepted",
        "outcomeTimestamp": TS,
        "acceptedSuggestions": [{"id": "never-a-suggestion-of-this-card"}],
    }
    _400(service.post(FB, {"feedback": [item]}))
    unknown_card = {**item, "card": "not-a-card-of-ours"}
    _400(service.post(FB, {"feedback": [unknown_card]}))


def test_too_many_feedback_items_are_400_not_a_database_error(service):
    items = [
        {"card": f"card-{i}", "outcome": "overridden", "outcomeTimestamp": TS} for i in range(1001)
    ]
    r = service.post(FB, {"feedback": items})
    _400(r)
    assert "at most 1000" in r.text
