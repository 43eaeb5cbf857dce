"""JWT authentication of CDS clients: every negative case is 401."""

from __future__ import annotations

import base64
import json
import time

import jwt
from conformance import check_outcome
from service_support import FHIR_TOKEN, ISS_A, ISS_B, ISS_T, make_token

DISCOVERY = "/cds-services"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _get(service, token: str | None, path: str = DISCOVERY):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return service.get(path, token=False, headers=headers)


def assert_401(r) -> None:
    assert r.status_code == 401
    assert r.headers.get("www-authenticate") == "Bearer"
    body = r.json()
    check_outcome(body)
    # No detail: every failure reads the same.
    assert body["issue"][0]["diagnostics"] == "authentication required"


def test_valid_es384_and_rs384_tokens_are_accepted(service):
    url = service.url + DISCOVERY
    assert _get(service, make_token(service.keys.ec, url)).status_code == 200
    assert _get(service, make_token(service.keys.rsa, url)).status_code == 200
    assert (
        _get(service, make_token(service.keys.ec, [url, "https://other.example"])).status_code
        == 200
    )


def test_jwks_url_issuer_with_allowlisted_jku(service, fhir_server):
    url = service.url + DISCOVERY
    trusted = f"{fhir_server.url}/jwks/b.json"  # the issuer's jwks_url in the trust file
    ok = make_token(service.keys.b, url, iss=ISS_B, headers={"jku": trusted})
    assert _get(service, ok).status_code == 200
    assert _get(service, make_token(service.keys.b, url, iss=ISS_B)).status_code == 200
    evil = make_token(
        service.keys.b, url, iss=ISS_B, headers={"jku": "https://attacker.invalid/jwks"}
    )
    assert_401(_get(service, evil))


def test_every_endpoint_requires_a_token(service):
    assert_401(service.get(DISCOVERY, token=False))
    assert_401(service.call("lbp-patient-view", {}, token=False))
    assert_401(
        service.post("/cds-services/lbp-patient-view/feedback", {"feedback": []}, token=False)
    )
    # An unknown service is not revealed to an unauthenticated caller.
    assert_401(service.call("no-such-service", {}, token=False))


def test_feedback_audience_is_the_feedback_url(service):
    path = "/cds-services/lbp-patient-view/feedback"
    body = {
        "feedback": [
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-06-01T12:00:00Z"}
        ]
    }
    wrong = make_token(service.keys.ec, service.url + "/cds-services/lbp-patient-view")
    assert_401(service.post(path, body, token=False, headers={"Authorization": f"Bearer {wrong}"}))
    assert service.post(path, body).status_code == 200


def _negative_tokens(service) -> dict[str, str]:
    k = service.keys
    url = service.url + DISCOVERY
    now = int(time.time())
    unsigned = (
        _b64({"alg": "none", "typ": "JWT", "kid": k.ec.kid})
        + "."
        + _b64({"iss": ISS_A, "aud": url, "iat": now, "exp": now + 300, "jti": "n-1"})
        + "."
    )
    hmac_payload = {"iss": ISS_A, "aud": url, "iat": now, "exp": now + 300, "jti": "h-1"}
    hs256 = jwt.api_jws.PyJWS().encode(
        json.dumps(hmac_payload).encode(),
        key=b"x" * 32,
        algorithm="HS256",
        headers={"kid": k.ec.kid, "typ": "JWT"},
    )
    return {
        "garbage": "not-a-jwt",
        "alg none": unsigned,
        "HS256": hs256,
        "HS384": jwt.encode(
            hmac_payload | {"jti": "h-2"},
            b"y" * 48,
            algorithm="HS384",
            headers={"kid": k.ec.kid, "typ": "JWT"},
        ),
        "ES256 not allowed": make_token(k.ec256, url),
        "typ not JWT": make_token(k.ec, url, headers={"typ": "at+jwt"}),
        "no kid": jwt.encode(
            {"iss": ISS_A, "aud": url, "iat": now, "exp": now + 300, "jti": "k-1"},
            k.ec.private,
            algorithm="ES384",
            headers={"typ": "JWT"},
        ),
        "unknown kid": make_token(k.ec, url, headers={"kid": "nope"}),
        "issuer not trusted": make_token(k.ec, url, iss="https://rogue.example.org"),
        "wrong signing key": make_token(k.attacker, url),
        "other issuer's key": make_token(k.b, url, headers={"kid": k.ec.kid}),
        "aud other endpoint": make_token(k.ec, service.url + "/cds-services/lbp-patient-view"),
        "aud other host": make_token(k.ec, "https://elsewhere.example.org/cds-services"),
        "no aud": make_token(k.ec, url, omit=("aud",)),
        "expired": make_token(k.ec, url, iat_offset=-700, lifetime=300),
        "no exp": make_token(k.ec, url, omit=("exp",)),
        "no iat": make_token(k.ec, url, omit=("iat",)),
        "iat in the future": make_token(k.ec, url, iat_offset=600),
        "no jti": make_token(k.ec, url, omit=("jti",)),
        "lifetime too long": make_token(k.ec, url, lifetime=7200),
        "no iss": make_token(k.ec, url, omit=("iss",)),
        "tenant missing": make_token(k.tenant, url, iss=ISS_T),
        "tenant not allowed": make_token(k.tenant, url, iss=ISS_T, tenant="clinic-9"),
    }


def test_negative_cases_are_all_401(service):
    failures = []
    for name, token in _negative_tokens(service).items():
        r = _get(service, token)
        if r.status_code != 401:
            failures.append(f"{name}: {r.status_code}")
        else:
            assert_401(r)
    assert not failures, failures


def test_wrong_scheme_and_replay(service):
    url = service.url + DISCOVERY
    token = make_token(service.keys.ec, url)
    assert (
        service.get(DISCOVERY, token=False, headers={"Authorization": f"Basic {token}"}).status_code
        == 401
    )
    assert _get(service, token).status_code == 200
    assert_401(_get(service, token))  # same jti again


def test_tenant_allowlist(service):
    url = service.url + DISCOVERY
    ok = make_token(service.keys.tenant, url, iss=ISS_T, tenant="clinic-1")
    assert _get(service, ok).status_code == 200


def test_log_has_no_tokens(service):
    url = service.url + DISCOVERY
    token = make_token(service.keys.ec, url)
    _get(service, token)
    _get(service, token)  # replay: logged as a failure
    text = service.log.read_text()
    assert token not in text and token.split(".")[1] not in text
    assert FHIR_TOKEN not in text
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(r.get("reason") == "jti replayed" and r.get("iss") == ISS_A for r in records)
