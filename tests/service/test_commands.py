"""``serve`` as an operator runs it: configuration errors, production mode behind a proxy
(``--public-url``, https-only FHIR servers), several workers sharing the replay cache."""

from __future__ import annotations

import copy
import ssl

import httpx
import pytest
import yaml
from service_support import (
    ISS_A,
    example_resources,
    hook_request,
    make_token,
    self_signed_cert,
    start_service,
    stop,
)
from service_support import serve_command as serve

PUBLIC = "https://cds.example.test/lbp"


def test_serve_refuses_to_start_without_a_trust_file():
    out = serve()
    assert out.returncode == 2
    assert "no trust file" in out.stderr


def test_serve_refuses_a_trust_file_with_a_symmetric_or_private_key(tmp_path, keys):
    bad = tmp_path / "trust.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "issuers": [
                    {"iss": ISS_A, "jwks": {"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}}
                ]
            }
        )
    )
    out = serve("--trust", str(bad))
    assert out.returncode == 2 and "kty EC or RSA" in out.stderr
    private = dict(keys.ec.jwk)
    private["d"] = "AAAA"
    bad.write_text(yaml.safe_dump({"issuers": [{"iss": ISS_A, "jwks": {"keys": [private]}}]}))
    out = serve("--trust", str(bad))
    assert out.returncode == 2 and "private key" in out.stderr


@pytest.fixture(scope="module")
def proxied(tmp_path_factory, keys, trust_file):
    """Production mode behind a TLS proxy: public URL, https FHIR only, two workers."""
    tmp = tmp_path_factory.mktemp("proxied")
    proc, url, _log, _db = start_service(
        tmp, ["--trust", str(trust_file), "--public-url", PUBLIC, "--workers", "2"], {}
    )
    yield url
    stop(proc)


def test_audience_is_the_public_url(proxied, keys):
    ok = make_token(keys.ec, f"{PUBLIC}/cds-services")
    assert (
        httpx.get(f"{proxied}/cds-services", headers={"Authorization": f"Bearer {ok}"}).status_code
        == 200
    )
    internal = make_token(keys.ec, f"{proxied}/cds-services")
    r = httpx.get(f"{proxied}/cds-services", headers={"Authorization": f"Bearer {internal}"})
    assert r.status_code == 401


def test_replay_is_caught_across_workers(proxied, keys):
    token = make_token(keys.ec, f"{PUBLIC}/cds-services")
    codes = []
    for _ in range(6):  # new connection each time: the workers share the load
        with httpx.Client() as c:
            codes.append(
                c.get(
                    f"{proxied}/cds-services", headers={"Authorization": f"Bearer {token}"}
                ).status_code
            )
    assert codes == [200, 401, 401, 401, 401, 401]


def test_production_refuses_an_http_fhir_server_only_when_it_would_fetch(proxied, keys):
    path = "/cds-services/lbp-patient-view"
    resources = example_resources("01-")
    full = hook_request("patient-view", resources, fhirServer="http://fhir.example.test/r4")
    token = make_token(keys.ec, PUBLIC + path)
    r = httpx.post(proxied + path, json=full, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text  # the prefetch holds everything: nothing to fetch
    partial = copy.deepcopy(full)
    del partial["prefetch"]["conditions"]
    token = make_token(keys.ec, PUBLIC + path)
    r = httpx.post(proxied + path, json=partial, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 412
    (item,) = r.json()["issue"]
    assert item["expression"] == ["prefetch.conditions"]
    assert "only from https" in item["diagnostics"]


def test_serves_https_directly(tmp_path, keys, trust_file):
    cert, key = self_signed_cert(tmp_path)
    ctx = ssl.create_default_context(cafile=cert)
    proc, url, _log, _db = start_service(
        tmp_path,
        ["--trust", str(trust_file), "--ssl-certfile", cert, "--ssl-keyfile", key],
        {},
        scheme="https",
        verify=ctx,
    )
    try:
        token = make_token(keys.ec, f"{url}/cds-services")
        r = httpx.get(
            f"{url}/cds-services", headers={"Authorization": f"Bearer {token}"}, verify=ctx
        )
        assert r.status_code == 200 and r.url.scheme == "https"
    finally:
        stop(proc)
