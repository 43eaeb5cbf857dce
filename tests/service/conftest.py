"""Fixtures: the real service in a subprocess on loopback, a tiny FHIR server, JWT keys.

Three service processes per session: ``service`` (JWT required, trust file with keys made
here, CORS allowlist, small body limit and no relevant-resource limit below it, 2 s FHIR
timeout: the slow base answers after 3 s), ``dev_service`` (``--insecure-dev``: no JWT,
demo page) and ``hardened`` (JWT, tight fault limits: 2 s body timeout, 100 kB FHIR
answers, 4 connections per FHIR server, JWKS never cached). All evaluate at the examples'
fixed instant. Helpers live in ``service_support.py``.
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
    ISS_BOUND,
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


def _start_fhir_server(tmp: Path, keys: Keys) -> tuple[subprocess.Popen, FhirServer]:
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
    return proc, FhirServer(url)


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[FhirServer]:
    proc, server = _start_fhir_server(tmp_path_factory.mktemp("fhir"), keys)
    yield server
    stop(proc)


@pytest.fixture(scope="session")
def slow_server(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[FhirServer]:
    """A second FHIR server (another origin), for the slow-server faults."""
    proc, server = _start_fhir_server(tmp_path_factory.mktemp("slow-fhir"), keys)
    yield server
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
                    {
                        "iss": ISS_BOUND,
                        "jwks": {"keys": [keys.tenant.jwk]},
                        "fhir_servers": [f"{fhir_server.url}/open"],
                    },
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
    svc = Service(url, log, database, keys)
    yield svc
    svc.client.close()
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
    svc = Service(url, log, database)
    yield svc
    svc.client.close()
    stop(proc)


@pytest.fixture(scope="session")
def hardened(
    tmp_path_factory: pytest.TempPathFactory,
    keys: Keys,
    trust_file: Path,
    fhir_server: FhirServer,
    slow_server: FhirServer,
) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("hardened")
    proc, url, log, database = start_service(
        tmp,
        ["--trust", str(trust_file), "--allow-http-fhir"],
        {
            "fhir_timeout": 1.0,
            "fhir_call_deadline": 3.0,
            "fhir_max_response_bytes": 100_000,
            "fhir_max_connections": 16,
            "fhir_max_connections_per_server": 4,
            "body_timeout": 2.0,
            "jwks_cache_seconds": 0,
            "max_body_bytes": MAX_BODY,
            "fhir_server_allowlist": [
                f"{fhir_server.url}/{base}"
                for base in ("fhir", "open", "trickle", "huge", "deep", "badlink")
            ]
            + [slow_server.url],
        },
    )
    svc = Service(url, log, database, keys)
    yield svc
    svc.client.close()
    stop(proc)
