"""The service serves the CodeSystems and StructureDefinitions its output names, under
the configured canonical base (``--canonical-base``)."""

from __future__ import annotations

import httpx
import pytest
from service_support import example_resources, hook_request, start_service, stop

OTHER_BASE = "https://cds.hospital.test/fhir"


@pytest.fixture(scope="module")
def rebased_service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("canonical")
    proc, url, _log, _db = start_service(
        tmp, ["--insecure-dev", "--canonical-base", OTHER_BASE], {}
    )
    yield url
    stop(proc)


def test_the_service_serves_what_its_cards_name(rebased_service):
    body = hook_request("patient-view", example_resources("09-"))
    r = httpx.post(f"{rebased_service}/cds-services/lbp-patient-view", json=body, timeout=30)
    assert r.status_code == 200, r.text
    card = r.json()["cards"][0]
    for system in (card["source"]["topic"]["system"], card["overrideReasons"][0]["system"]):
        assert system.startswith(OTHER_BASE + "/CodeSystem/")
        path = system.removeprefix(OTHER_BASE)
        served = httpx.get(f"{rebased_service}/fhir{path}", timeout=10)
        assert served.status_code == 200
        assert served.headers["content-type"].startswith("application/fhir+json")
        assert served.json()["url"] == system
    sd = httpx.get(f"{rebased_service}/fhir/StructureDefinition/source-passage", timeout=10)
    assert sd.json()["url"] == f"{OTHER_BASE}/StructureDefinition/source-passage"
    missing = httpx.get(f"{rebased_service}/fhir/CodeSystem/nope", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"
