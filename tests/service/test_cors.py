"""CORS: preflight on the three endpoint kinds, allowlisted origin only."""

from __future__ import annotations

import pytest
from conformance import check_outcome
from service_support import CORS_ORIGIN

PATHS = (
    "/cds-services",
    "/cds-services/lbp-patient-view",
    "/cds-services/lbp-patient-view/feedback",
)


def preflight(service, path: str, origin: str, method: str, headers: str):
    return service.client.options(
        service.url + path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


@pytest.mark.parametrize("path", PATHS)
def test_preflight_allows_the_configured_origin_without_a_token(service, path):
    method = "GET" if path == "/cds-services" else "POST"
    r = preflight(service, path, CORS_ORIGIN, method, "authorization,content-type")
    assert 200 <= r.status_code < 300
    assert r.headers["access-control-allow-origin"] == CORS_ORIGIN
    methods = {m.strip() for m in r.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "OPTIONS"} <= methods
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed


def test_preflight_refuses_other_origins(service):
    r = preflight(service, "/cds-services", "https://evil.example.com", "GET", "authorization")
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers
    check_outcome(r.json())


def test_actual_responses_carry_the_origin_even_when_refused(service):
    ok = service.get("/cds-services", headers={"Origin": CORS_ORIGIN})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == CORS_ORIGIN
    denied = service.get("/cds-services", token=False, headers={"Origin": CORS_ORIGIN})
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == CORS_ORIGIN
    other = service.get("/cds-services", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in other.headers
