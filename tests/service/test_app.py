"""``cds_backpain.service.app`` in process (httpx's ASGI transport over the real ASGI app).

The subprocess tests prove the service as deployed; these drive the same app object
through a few routes without a socket, and show that our bug is a 500 with a log line
while the client's mistake is a 400.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_support import example_resources, hook_request

from cds_backpain.ingest import extract
from cds_backpain.service.app import create_app
from cds_backpain.service.config import ServiceConfig

NOW = "2026-06-01T12:00:00Z"
PATIENT_VIEW = "/cds-services/lbp-patient-view"


class Client:
    """Requests to the app in this process, with its lifespan (start-up checks) around each."""

    def __init__(self, config: ServiceConfig):
        self.app = create_app(config)

    def __call__(self, method: str, path: str, **kw: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            async with self.app.router.lifespan_context(self.app):
                transport = httpx.ASGITransport(app=self.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
                    return await c.request(method, path, **kw)

        return asyncio.run(go())

    def get(self, path: str) -> httpx.Response:
        return self("GET", path)

    def post(self, path: str, json: Any) -> httpx.Response:
        return self("POST", path, json=json)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Client:
    db = Path(tmp_path_factory.mktemp("app")) / "feedback.sqlite3"
    return Client(ServiceConfig(insecure_dev=True, database_url=f"sqlite:///{db}", now=NOW))


def test_healthz_answers(client: Client):
    r = client.get("/healthz")
    assert r.status_code == 200


def test_discovery_lists_the_patient_view_service(client: Client):
    r = client.get("/cds-services")
    assert r.status_code == 200
    assert "lbp-patient-view" in {s["id"] for s in r.json()["services"]}


def test_patient_view_returns_the_red_flag_card(client: Client):
    body = hook_request("patient-view", example_resources("09-cauda-equina-classic"))
    r = client.post(PATIENT_VIEW, json=body)
    assert r.status_code == 200
    cards = r.json()["cards"]
    assert cards and cards[0]["indicator"] == "critical"


def test_an_unknown_service_is_404_with_an_operation_outcome(client: Client):
    r = client.post("/cds-services/no-such-service", json={})
    assert r.status_code == 404
    assert r.json()["resourceType"] == "OperationOutcome"


def test_input_that_is_not_fhir_is_a_400_that_names_the_defect(client: Client):
    body = hook_request("patient-view", example_resources("09-cauda-equina-classic"))
    conditions = body["prefetch"]["conditions"]["entry"]
    conditions[0]["resource"]["clinicalStatus"] = "active"  # a code where R4 wants a concept
    r = client.post(PATIENT_VIEW, json=body)
    assert r.status_code == 400
    issues = r.json()["issue"]
    assert issues and all(i["code"] != "exception" for i in issues)


def test_a_defect_of_ours_is_a_500_with_a_log_line_not_a_400(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    def broken(self, entry):
        raise KeyError("planted defect")

    monkeypatch.setattr(extract.Extractor, "condition", broken)
    body = hook_request("patient-view", example_resources("09-cauda-equina-classic"))
    with caplog.at_level(logging.ERROR):
        r = client.post(PATIENT_VIEW, json=body)
    assert r.status_code == 500
    assert r.json()["resourceType"] == "OperationOutcome"
    assert "planted defect" not in r.text  # no exception text in the body
    assert any(getattr(rec, "event", None) == "evaluation_failed" for rec in caplog.records)
