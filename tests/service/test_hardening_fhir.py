"""The FHIR-server fallback under attack (issue 12): the access token goes only to servers
the client is bound to, dot segments cannot escape an allowlisted path, slow, huge, deep
and malformed answers are a 412 with the reason within the deadlines, and one slow server
cannot starve calls to a healthy one. Development mode refuses cross-site requests."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conformance import check_outcome
from service_support import (
    FHIR_TOKEN,
    ISS_BOUND,
    example_resources,
    fhir_authorization,
    hook_request,
    make_token,
    serve_command,
)

PV = "lbp-patient-view"
PATH = f"/cds-services/{PV}"


auth = fhir_authorization


@pytest.fixture(scope="module")
def case():
    return example_resources("17-")


def _fetched(server) -> list[dict]:
    return [r for r in server.requests() if not r["path"].startswith("/__")]


def _call(svc, body, *, key=None, iss=None, timeout=30.0) -> httpx.Response:
    kw = {"iss": iss} if iss else {}
    token = make_token(key or svc.keys.ec, svc.url + PATH, **kw)
    return httpx.post(
        svc.url + PATH, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
    )


def _412(r: httpx.Response, text: str) -> None:
    assert r.status_code == 412, r.text
    check_outcome(r.json())
    assert text in r.text, r.text
    assert FHIR_TOKEN not in r.text


def test_a_client_bound_to_its_fhir_servers_cannot_send_the_token_elsewhere(
    service, fhir_server, case
):
    fhir_server.reset()
    elsewhere = hook_request(
        "patient-view",
        case,
        prefetch=None,
        fhirServer=fhir_server.base("fhir"),
        fhirAuthorization=auth(),
    )
    r = _call(service, elsewhere, key=service.keys.tenant, iss=ISS_BOUND)
    _412(r, "FHIR servers of this client")
    assert _fetched(fhir_server) == []  # the token went nowhere
    own = hook_request("patient-view", case, prefetch=None, fhirServer=fhir_server.base("open"))
    assert _call(service, own, key=service.keys.tenant, iss=ISS_BOUND).status_code == 200
    # An issuer without fhir_servers may name any server (the documented default).
    assert _call(service, elsewhere).status_code == 200


@pytest.mark.parametrize(
    "escape", ["open/../paged", "open/./../paged", "open/%2e%2e/paged", "open/%2E%2E/paged"]
)
def test_dot_segments_cannot_escape_an_allowlisted_path(hardened, fhir_server, case, escape):
    fhir_server.reset()
    body = hook_request(
        "patient-view",
        case,
        prefetch=None,
        fhirServer=f"{fhir_server.url}/{escape}",
        fhirAuthorization=auth(),
    )
    r = _call(hardened, body)
    _412(r, "allowlist")
    assert not any("/paged" in s["path"] for s in _fetched(fhir_server))


def test_a_trickling_server_is_cut_off_by_the_fetch_deadline(hardened, fhir_server, case):
    body = hook_request(
        "patient-view", case, prefetch=None, fhirServer=f"{fhir_server.url}/trickle"
    )
    t0 = time.monotonic()
    r = _call(hardened, body)
    took = time.monotonic() - t0
    _412(r, "in time")
    assert took < 3.5, took  # fhir_timeout 1 s each, 3 s for the whole call


def test_one_slow_server_cannot_exhaust_the_pool_for_healthy_ones(
    hardened, fhir_server, slow_server, case
):
    slow_base = f"{slow_server.url}/trickle"
    slow = hook_request("patient-view", case, prefetch=None, fhirServer=slow_base)
    honest = hook_request("patient-view", case, prefetch=None, fhirServer=fhir_server.base("open"))
    with ThreadPoolExecutor(16) as pool:
        stuck = [pool.submit(_call, hardened, slow) for _ in range(14)]
        time.sleep(0.5)  # the slow calls hold their connections now
        t0 = time.monotonic()
        ok = _call(hardened, honest)
        took = time.monotonic() - t0
        slow_codes = [f.result().status_code for f in stuck]
    assert ok.status_code == 200, ok.text
    assert took < 2.5, took
    assert set(slow_codes) == {412}


def test_an_answer_larger_than_the_cap_is_412_while_streaming(hardened, fhir_server, case):
    body = hook_request("patient-view", case, fhirServer=f"{fhir_server.url}/huge")
    del body["prefetch"]["conditions"]
    _412(_call(hardened, body), "larger than 100000 bytes")


def test_a_deeply_nested_answer_is_412_with_the_reason(hardened, fhir_server, case):
    body = hook_request("patient-view", case, fhirServer=f"{fhir_server.url}/deep")
    del body["prefetch"]["observations"]
    _412(_call(hardened, body), "max_depth")


def test_a_next_link_that_is_not_a_url_is_412(hardened, fhir_server, case):
    body = hook_request("patient-view", case, fhirServer=f"{fhir_server.url}/badlink")
    del body["prefetch"]["observations"]
    _412(_call(hardened, body), "next link")


def test_a_non_ascii_access_token_is_refused_not_a_500(hardened, fhir_server, case):
    body = hook_request(
        "patient-view",
        case,
        fhirServer=fhir_server.base("fhir"),
        fhirAuthorization=auth("tökén-\u0661"),
    )
    del body["prefetch"]["observations"]
    r = _call(hardened, body)
    assert r.status_code in (400, 412), r.text
    check_outcome(r.json())


# -- insecure-dev mode ------------------------------------------------------------------


def test_dev_mode_refuses_a_cross_site_simple_post(dev_service, fhir_server, case):
    """A foreign page's form POST (no JSON content type, foreign Origin) neither makes the
    service fetch anything nor stores feedback."""
    fhir_server.reset()
    body = hook_request("patient-view", case, prefetch=None, fhirServer=fhir_server.base("open"))
    raw = json.dumps(body).encode()
    simple = dev_service.client.post(
        dev_service.url + PATH,
        content=raw,
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example.com"},
    )
    assert simple.status_code == 403
    no_type = dev_service.client.post(dev_service.url + PATH, content=raw)
    assert no_type.status_code == 415
    foreign = dev_service.client.post(
        dev_service.url + PATH,
        content=raw,
        headers={"Content-Type": "application/json", "Origin": "https://evil.example.com"},
    )
    assert foreign.status_code == 403
    feedback = dev_service.client.post(
        dev_service.url + f"{PATH}/feedback",
        content=b'{"feedback":[{"card":"c","outcome":"overridden",'
        b'"outcomeTimestamp":"2026-06-01T12:00:00Z"}]}',
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example.com"},
    )
    assert feedback.status_code == 403
    assert _fetched(fhir_server) == []
    own = dev_service.client.post(
        dev_service.url + PATH, json=body, headers={"Origin": dev_service.url}
    )
    assert own.status_code == 200, own.text


def test_dev_mode_answers_loopback_host_names_only(dev_service):
    r = dev_service.client.get(dev_service.url + "/cds-services", headers={"Host": "rebound.evil"})
    assert r.status_code == 403
    assert dev_service.client.get(dev_service.url + "/cds-services").status_code == 200


def test_dev_mode_refuses_to_bind_beyond_loopback():
    out = serve_command("--insecure-dev", "--host", "0.0.0.0")
    assert out.returncode == 2 and "loopback" in out.stderr
