"""A call bringing more resources than the rules can read within the deadline is refused
with 413 before anything is validated, so no worker is held for seconds; a long record of
resources the rules do not read, and one at the limit, are still evaluated."""

from __future__ import annotations

import time

from conformance import check_outcome
from service_support import prefetch_for

from cds_backpain.service.limits import MAX_RELEVANT_RESOURCES
from cds_backpain.testing import builders as fhir

PV = "lbp-patient-view"
LOINC = "http://loinc.org"


def temperatures(n: int, *, code: str = "8310-5") -> list[dict]:
    """``n`` minimal temperature Observations (LOINC 8310-5, which the fever rule reads);
    another ``code`` (8867-4, heart rate) makes them readings no value set knows."""
    return [
        fhir.observation(
            f"t{i}",
            [{"system": LOINC, "code": code}],
            effective=f"2026-05-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
            value=(37.0, "Cel") if code == "8310-5" else (70, "/min"),
            category="vital-signs",
        )
        for i in range(n)
    ]


def request(observations: list[dict]) -> dict:
    pat = fhir.patient(gender="female", birth_date="1970-03-04")
    return {
        "hook": "patient-view",
        "hookInstance": "3f1c0e2a-7b5d-4c8e-9a1f-2b3c4d5e6f70",
        "context": {"userId": "Practitioner/dr-1", "patientId": pat["id"]},
        "prefetch": prefetch_for([pat, *observations]),
    }


def timed_call(service, body: dict) -> tuple[object, float]:
    t = time.perf_counter()
    r = service.call(PV, body)
    return r, time.perf_counter() - t


def test_too_many_relevant_resources_are_refused_before_evaluation(dev_service):
    at_limit, t_ok = timed_call(dev_service, request(temperatures(MAX_RELEVANT_RESOURCES - 1)))
    assert at_limit.status_code == 200, at_limit.text

    over, t_refused = timed_call(dev_service, request(temperatures(MAX_RELEVANT_RESOURCES + 1)))
    assert over.status_code == 413
    check_outcome(over.json())
    issue = over.json()["issue"][0]
    assert issue["code"] == "too-costly"
    assert f"max_relevant_resources={MAX_RELEVANT_RESOURCES}" in issue["diagnostics"]
    # Refused without validating the resources: a fraction of evaluating as many.
    assert t_refused < t_ok / 2, (t_refused, t_ok)


def test_a_long_record_of_unread_resources_is_still_evaluated(dev_service):
    body = request(temperatures(MAX_RELEVANT_RESOURCES + 500, code="8867-4"))
    r, _ = timed_call(dev_service, body)
    assert r.status_code == 200, r.text
    assert r.json()["cards"] == []
