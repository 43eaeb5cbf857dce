"""A worker keeps answering while it evaluates a large call: large calls are evaluated off
the event loop (small ones on it, which saves a thread hop; see ``run_evaluation``)."""

from __future__ import annotations

import json
import threading
import time

import httpx
from service_support import MAX_BODY

from cds_backpain.service.prefetch import PREFETCH_TEMPLATES

PV = "lbp-patient-view"


def large_request(limit: int) -> dict:
    """A patient-view call whose prefetch holds as many minimal coded Conditions (each one
    validated and turned into a fact) as fit in ``limit`` bytes."""
    subject = {"reference": "Patient/big"}
    conditions = []
    entry = lambda i: {  # noqa: E731
        "resource": {
            "resourceType": "Condition",
            "id": f"c{i}",
            "subject": subject,
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "279039007"}]},
        }
    }
    body = {
        "hook": "patient-view",
        "hookInstance": "5f2b9c0e-1d3a-4b6c-8e7f-0a1b2c3d4e5f",
        "context": {"userId": "Practitioner/dr-1", "patientId": "big"},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "big", "birthDate": "1980-01-01"},
            "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": conditions},
            "observations": None,  # the EHR has none
            "medicationRequests": None,
            "medicationStatements": None,
            "procedures": None,
            "medicationDispenses": None,
        },
    }
    assert set(body["prefetch"]) == set(PREFETCH_TEMPLATES)
    while len(json.dumps(body)) < limit - 400:
        conditions.append(entry(len(conditions)))
    return body


def test_health_answers_while_a_large_call_is_evaluated(service):
    body = large_request(MAX_BODY - 1000)
    t0 = time.perf_counter()
    assert service.call(PV, body).status_code == 200
    alone = time.perf_counter() - t0

    done: dict[str, object] = {}

    def big_call() -> None:
        done["status"] = service.call(PV, body).status_code

    worker = threading.Thread(target=big_call)
    worker.start()
    time.sleep(alone / 8)  # the large call is being evaluated now
    t = time.perf_counter()
    health = httpx.get(service.url + "/healthz", timeout=30)
    waited = time.perf_counter() - t
    worker.join()
    assert health.status_code == 200 and done["status"] == 200
    assert waited < alone / 2, (waited, alone)
