"""Authentication and trust under attack (issue 12): the audience never comes from request
headers, a JWKS outage keeps the known keys, claims of the wrong JSON type are a 401,
and nothing a client sends reaches the log unclipped."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
from service_support import ISS_A, ISS_B, make_token, serve_command

DISCOVERY = "/cds-services"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_production_refuses_to_start_without_a_public_url(trust_file):
    out = serve_command("--trust", str(trust_file))
    assert out.returncode == 2
    assert "--public-url" in out.stderr and "Traceback" not in out.stderr


def test_a_token_for_another_service_is_not_accepted_by_replaying_its_host(service):
    """The audience is the configured public URL: a token minted for another CDS service
    is refused even when the request claims to be for that service's host."""
    other = "https://other-cds.example.org"
    token = make_token(service.keys.ec, other + DISCOVERY)
    r = service.client.get(
        service.url + DISCOVERY,
        headers={
            **_bearer(token),
            "Host": "other-cds.example.org",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "other-cds.example.org",
        },
    )
    assert r.status_code == 401


def _records(log) -> list[dict]:
    return [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]


def test_a_jwks_outage_keeps_the_keys_already_known(hardened, fhir_server):
    """jwks_cache_seconds is 0 on this service: every call refetches the JWKS."""
    url = hardened.url + DISCOVERY

    def get(**kw) -> int:
        token = make_token(hardened.keys.b, url, iss=ISS_B, **kw)
        return httpx.get(url, headers=_bearer(token)).status_code

    assert get() == 200  # keys fetched
    fhir_server.jwks_up(False)
    try:
        assert get(headers={"kid": "unknown-kid"}) == 401  # refetch fails
        time.sleep(0.2)
        assert get() == 200  # the last good keys are still there
        assert get() == 200
    finally:
        fhir_server.jwks_up(True)
    assert any(r.get("event") == "jwks_fetch_failed" for r in _records(hardened.log))


def _unsigned(claims: dict, header: dict | None = None) -> str:
    def b64(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f"{b64(header or {'alg': 'ES384', 'typ': 'JWT', 'kid': 'a-ec-1'})}.{b64(claims)}.AAAA"


def test_claims_of_the_wrong_json_type_are_401_not_500(service):
    url = service.url + DISCOVERY
    now = int(time.time())
    k = service.keys.ec

    def signed(**claims) -> str:
        payload = {"iss": ISS_A, "aud": url, "iat": now, "exp": now + 300, "jti": "j"}
        payload.update(claims)
        return jwt.api_jws.PyJWS().encode(
            json.dumps(payload).encode(),
            k.private,
            algorithm="ES384",
            headers={"kid": k.kid, "typ": "JWT"},
        )

    tokens = {
        "exp as string": signed(exp=str(now + 300)),
        "iat as string": signed(iat=str(now)),
        "exp as list": signed(exp=[now + 300]),
        "exp as bool": signed(exp=True),
        "iat huge": signed(iat=10**30),
        "nbf as object": signed(nbf={"t": now}),
        "jti as number": signed(jti=12345),
        "tenant as list": signed(tenant=["clinic-1"]),
        "aud as number": signed(aud=42),
        "iss as number": signed(iss=7),
        "header not an object": base64.urlsafe_b64encode(b"[1]").rstrip(b"=").decode()
        + "."
        + base64.urlsafe_b64encode(b"{}").rstrip(b"=").decode()
        + ".AAAA",
        "alg as list": _unsigned({"iss": ISS_A}, {"alg": ["ES384"], "typ": "JWT", "kid": "x"}),
        "exp infinite": jwt.api_jws.PyJWS().encode(
            f'{{"iss":"{ISS_A}","aud":"{url}","iat":1,"exp":1e999,"jti":"x"}}'.encode(),
            k.private,
            algorithm="ES384",
            headers={"kid": k.kid, "typ": "JWT"},
        ),
    }
    codes = {
        name: service.get(DISCOVERY, token=False, headers=_bearer(t)).status_code
        for name, t in tokens.items()
    }
    assert codes == dict.fromkeys(codes, 401), codes


def test_client_values_are_clipped_in_the_log_and_tokens_never_logged(service):
    huge_iss = "https://" + "i" * 200_000
    token = _unsigned({"iss": huge_iss, "jti": "j" * 200_000, "exp": 1, "iat": 1})
    r = service.get(DISCOVERY, token=False, headers=_bearer(token))
    assert r.status_code == 401
    text = service.log.read_text()
    assert token not in text and token.split(".")[1] not in text
    assert "i" * 1000 not in text and "j" * 1000 not in text
    longest = max(len(line) for line in text.splitlines())
    assert longest < 20_000, longest
    failed = [r for r in _records(service.log) if r.get("event") == "auth_failed"]
    assert any(str(r.get("iss", "")).startswith("https://iii") for r in failed)
    # the client shows "No recommendations" for a 401: the integrator sees a warning
    assert {r["level"] for r in failed} == {"warning"}
