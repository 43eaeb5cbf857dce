"""Generated patients (cds_backpain.testing strategies) through patient-view over HTTP:
every answer is a conformant 200, and a red flag always reaches the clinician as a card
of warning or critical urgency."""

from __future__ import annotations

import os
import uuid

from conformance import check_response
from hypothesis import HealthCheck, given, settings
from service_support import prefetch_for

from cds_backpain.testing import patient_bundles, red_flag_bundles

SETTINGS = settings(
    max_examples=int(os.environ.get("CDS_BACKPAIN_SERVICE_EXAMPLES", "12")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _request(bundle: dict) -> dict:
    resources = [e["resource"] for e in bundle.get("entry", [])]
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr-1", "patientId": pid},
        "prefetch": prefetch_for([r for r in resources if r["resourceType"] != "ServiceRequest"]),
    }


@SETTINGS
@given(bundle=patient_bundles())
def test_generated_patients_get_conformant_answers(service, bundle):
    r = service.call("lbp-patient-view", _request(bundle))
    assert r.status_code == 200, r.text
    check_response(r.json())


@SETTINGS
@given(bundle=red_flag_bundles())
def test_generated_red_flags_reach_the_clinician(service, bundle):
    r = service.call("lbp-patient-view", _request(bundle))
    assert r.status_code == 200, r.text
    body = r.json()
    check_response(body)
    assert any(c["indicator"] in ("warning", "critical") for c in body["cards"])
