"""Fixtures: the real service in a subprocess on loopback, a tiny FHIR server, JWT keys.

Two service processes per session: ``service`` (JWT required, trust file with keys made
here, CORS allowlist, small body limit and no relevant-resource limit below it, 2 s FHIR
timeout: the slow base answers after 3 s) and ``dev_service`` (``--insecure-dev``: no JWT,
demo page). Both evaluate at the examples' fixed instant. Helpers live in
``service_support.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from service_support import (
    CORS_ORIGIN,
    FHIR_TOKEN,
    HERE,
    ISS_A,
    ISS_B,
    ISS_T,
    MAX_BODY,
    FhirServer,
    Key,
    Keys,
    Service,
    all_example_resources,
    free_port,
    start_service,
    stop,
    wait_http,
)


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(
        ec=Key("a-ec-1", "ES384", ec.generate_private_key(ec.SECP384R1())),
        rsa=Key("a-rsa-1", "RS384", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        b=Key("b-ec-1", "ES384", ec.generate_private_key(ec.SECP384R1())),
        tenant=Key("t-ec-1", "ES384", ec.generate_private_key(ec.SECP384R1())),
        attacker=Key("a-ec-1", "ES384", ec.generate_private_key(ec.SECP384R1())),
        ec256=Key("a-ec256", "ES256", ec.generate_private_key(ec.SECP256R1())),
    )


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[FhirServer]:
    tmp = tmp_path_factory.mktemp("fhir")
    data = tmp / "resources.json"
    data.write_text(json.dumps(all_example_resources()))
    jwks = tmp / "jwks.json"
    jwks.write_text(json.dumps({"keys": [keys.b.jwk]}))
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "fhir_server.py"),
            "--port",
            str(port),
            "--data",
            str(data),
            "--token",
            FHIR_TOKEN,
            "--jwks",
            str(jwks),
        ],
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/open/metadata", proc, None)
    yield FhirServer(url)
    stop(proc)


@pytest.fixture(scope="session")
def trust_file(
    tmp_path_factory: pytest.TempPathFactory, keys: Keys, fhir_server: FhirServer
) -> Path:
    path = tmp_path_factory.mktemp("trust") / "trust.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "issuers": [
                    {"iss": ISS_A, "jwks": {"keys": [keys.ec.jwk, keys.rsa.jwk]}},
                    {"iss": ISS_B, "jwks_url": f"{fhir_server.url}/jwks/b.json"},
                    {"iss": ISS_T, "jwks": {"keys": [keys.tenant.jwk]}, "tenants": ["clinic-1"]},
                ]
            }
        )
    )
    return path


@pytest.fixture(scope="session")
def service(
    tmp_path_factory: pytest.TempPathFactory, keys: Keys, trust_file: Path
) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("service")
    proc, url, log, database = start_service(
        tmp,
        ["--trust", str(trust_file), "--allow-http-fhir", "--cors-origin", CORS_ORIGIN],
        # Calls up to the body limit are evaluated (test_responsiveness); the default
        # max_relevant_resources is tested on dev_service (test_evaluation_limit).
        {"fhir_timeout": 2.0, "max_body_bytes": MAX_BODY, "max_relevant_resources": 5_000},
    )
    yield Service(url, log, database, keys)
    stop(proc)


@pytest.fixture(scope="session")
def dev_service(
    tmp_path_factory: pytest.TempPathFactory, fhir_server: FhirServer
) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("dev-service")
    proc, url, log, database = start_service(
        tmp,
        ["--insecure-dev"],
        {"fhir_timeout": 2.0, "fhir_server_allowlist": [fhir_server.url]},
    )
    yield Service(url, log, database)
    stop(proc)
