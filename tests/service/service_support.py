"""Helpers of the service tests: processes, JWTs, CDS Hooks requests from the examples.

The fixtures that use them are in ``conftest.py``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import httpx
import jwt
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds_backpain.examples import EXAMPLES_NOW, load_examples
from cds_backpain.service.prefetch import PREFETCH_TEMPLATES, template_type

HERE = Path(__file__).resolve().parent
ISS_A = "https://ehr-a.example.org"
ISS_B = "https://ehr-b.example.org"
ISS_T = "https://ehr-tenant.example.org"
#: An issuer bound to one FHIR server base (``/open`` of the test FHIR server).
ISS_BOUND = "https://ehr-bound.example.org"
CORS_ORIGIN = "https://ehr.example.org"
FHIR_TOKEN = "fhir-access-token-5f2b9c0e1d"  # must never appear in the service's log
MAX_BODY = 300_000


def serve_command(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``serve`` with ``args`` on port 1, for start-up checks (it should refuse to start)."""
    return subprocess.run(
        [sys.executable, "-m", "cds_backpain.service", "serve", "--port", "1", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ["PYTHONPATH"]},
    )


def fhir_authorization(token: str = FHIR_TOKEN) -> dict[str, Any]:
    """``fhirAuthorization`` as a CDS client sends it."""
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds-backpain",
        "patient": "x",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(
    url: str, proc: subprocess.Popen, log: Path | None, timeout: float = 90, verify: Any = True
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text() if log and log.exists() else ""
            raise RuntimeError(f"process exited ({proc.returncode}) before {url} answered:\n{text}")
        try:
            if httpx.get(url, timeout=1, verify=verify).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- keys and tokens -----------------------------------------------------------------


@dataclass
class Key:
    kid: str
    alg: str
    private: Any

    @property
    def jwk(self) -> dict[str, Any]:
        conv = ECAlgorithm if self.alg.startswith("ES") else RSAAlgorithm
        out = conv.to_jwk(self.private.public_key(), as_dict=True)
        out.update(kid=self.kid, use="sig", alg=self.alg)
        return out


@dataclass
class Keys:
    ec: Key
    rsa: Key
    b: Key
    tenant: Key
    attacker: Key
    ec256: Key


def make_token(
    key: Key,
    aud: str | list[str] | None,
    *,
    iss: str = ISS_A,
    alg: str | None = None,
    headers: dict[str, Any] | None = None,
    lifetime: int = 300,
    iat_offset: int = 0,
    omit: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    """A JWT as a CDS client makes it (claims can be overridden or omitted)."""
    now = int(time.time()) + iat_offset
    payload: dict[str, Any] = {
        "iss": iss,
        "aud": aud,
        "iat": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
    }
    payload.update(claims)
    for name in omit:
        payload.pop(name, None)
    head = {"typ": "JWT", "kid": key.kid}
    head.update(headers or {})
    return jwt.encode(payload, key.private, algorithm=alg or key.alg, headers=head)


# -- data ----------------------------------------------------------------------------


def example_resources(name: str) -> list[dict[str, Any]]:
    for ex in load_examples():
        if ex.name == name or ex.name.startswith(name):
            bundle = json.loads(ex.path.read_text(encoding="utf-8"))
            return [e["resource"] for e in bundle.get("entry", [])]
    raise KeyError(name)


def patient_id(resources: list[dict[str, Any]]) -> str:
    return next(r["id"] for r in resources if r["resourceType"] == "Patient")


def prefetch_for(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """What an EHR sends for the discovery templates: the resource, or a searchset."""
    pid = patient_id(resources)
    out: dict[str, Any] = {}
    for key, template in PREFETCH_TEMPLATES.items():
        kind = template_type(template)
        hits = [r for r in resources if r["resourceType"] == kind]
        if "?" in template:
            bundle: dict[str, Any] = {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(hits),
            }
            if hits:
                bundle["entry"] = [{"resource": r, "search": {"mode": "match"}} for r in hits]
            out[key] = bundle
        else:
            out[key] = next((r for r in hits if r["id"] == pid), None)
    return out


def hook_request(
    hook: str,
    resources: list[dict[str, Any]],
    *,
    prefetch: dict[str, Any] | str | None = "all",
    drafts: list[dict[str, Any]] | None = None,
    selections: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A CDS Hooks request for an example: clinical data as prefetch, orders as drafts."""
    pid = patient_id(resources)
    clinical = [r for r in resources if r["resourceType"] != "ServiceRequest"]
    if drafts is None:
        drafts = [r for r in resources if r["resourceType"] == "ServiceRequest"]
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr-1", "patientId": pid},
    }
    if hook in ("order-select", "order-sign"):
        body["context"]["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": d} for d in drafts],
        }
    if hook == "order-select":
        body["context"]["selections"] = selections or [f"ServiceRequest/{d['id']}" for d in drafts]
    if prefetch == "all":
        body["prefetch"] = prefetch_for(clinical)
    elif prefetch is not None:
        body["prefetch"] = prefetch
    body.update(extra)
    return body


def all_example_resources() -> list[dict[str, Any]]:
    out = []
    for ex in load_examples():
        bundle = json.loads(ex.path.read_text(encoding="utf-8"))
        out.extend(
            e["resource"]
            for e in bundle.get("entry", [])
            if e["resource"]["resourceType"] != "ServiceRequest"
        )
    return out


# -- processes -----------------------------------------------------------------------


@dataclass
class FhirServer:
    url: str

    def base(self, kind: str = "fhir") -> str:
        return f"{self.url}/{kind}"

    def reset(self) -> None:
        httpx.post(f"{self.url}/__reset")

    def jwks_up(self, up: bool) -> None:
        httpx.post(f"{self.url}/__jwks?up={int(up)}")

    def requests(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/__requests").json()


@dataclass
class Service:
    url: str
    log: Path
    database: str
    keys: Keys | None = None
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def token(self, path: str, key: Key | None = None, **kw: Any) -> str:
        assert self.keys is not None
        return make_token(key or self.keys.ec, self.url + path, **kw)

    def auth(self, path: str, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(path, **kw)}"} if self.keys else {}

    def get(
        self, path: str, *, token: bool = True, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        h = {"Accept": "application/json", **(self.auth(path) if token else {}), **(headers or {})}
        return self.client.get(self.url + path, headers=h)

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        token: bool = True,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        h = {"Accept": "application/json", **(self.auth(path) if token else {}), **(headers or {})}
        if content is not None:
            return self.client.post(self.url + path, content=content, headers=h)
        return self.client.post(self.url + path, json=body, headers=h)

    def call(self, service_id: str, body: Any, **kw: Any) -> httpx.Response:
        return self.post(f"/cds-services/{service_id}", body, **kw)


def start_service(
    tmp: Path,
    args: list[str],
    config: dict[str, Any],
    *,
    scheme: str = "http",
    verify: Any = True,
    preexec_fn: Any = None,
) -> tuple[subprocess.Popen, str, Path, str]:
    """The service on a free loopback port; production mode gets ``public_url`` set to
    that address unless the test names one."""
    port = free_port()
    url = f"{scheme}://127.0.0.1:{port}"
    if "--insecure-dev" not in args and "--public-url" not in args:
        config = {"public_url": url, **config}
    database = config.pop("database_url", None) or f"sqlite:///{tmp / 'service.sqlite3'}"
    cfg = tmp / "service.yaml"
    cfg.write_text(yaml.safe_dump({"database_url": database, "now": EXAMPLES_NOW, **config}))
    log = tmp / "service.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CDS_BACKPAIN_TRUST", "CDS_BACKPAIN_SERVICE_CONFIG")
    }
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cds_backpain.service",
                "serve",
                "--port",
                str(port),
                "--config",
                str(cfg),
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp,
            preexec_fn=preexec_fn,
        )
    wait_http(f"{url}/healthz", proc, log, verify=verify)
    return proc, url, log, database


# -- TLS ----------------------------------------------------------------------------


def self_signed_cert(tmp: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files in ``tmp``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)
