"""Test credentials and requests for trying the service (docs/integration.md, quick start).

    python -m cds_backpain.quickstart keys DIR        # client-key.pem, trust.yaml
    python -m cds_backpain.quickstart token KEY AUD   # a JWT for one call to AUD
    python -m cds_backpain.quickstart request EXAMPLE [--hook patient-view]

``keys`` makes an ES384 key pair and a trust file listing its public half for the issuer
``https://ehr.test``; ``token`` signs a JWT as a CDS client does (``iss``, ``aud`` = the
exact URL called, ``iat``, ``exp`` five minutes on, a fresh ``jti``: one token per call);
``request`` prints a hook request for a bundled example with its resources as prefetch
(and its ServiceRequests as draft orders for the order hooks). For testing only: the
private key is written unencrypted.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import click

ISSUER = "https://ehr.test"
KID = "quickstart-1"


def make_keys(directory: Path) -> tuple[Path, Path]:
    """Write ``client-key.pem`` (private, ES384) and ``trust.yaml`` (its public JWK)."""
    import yaml
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    pem = directory / "client-key.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update(kid=KID, alg="ES384", use="sig")
    trust = directory / "trust.yaml"
    trust.write_text(yaml.safe_dump({"issuers": [{"iss": ISSUER, "jwks": {"keys": [jwk]}}]}))
    return pem, trust


def make_token(key_pem: Path, audience: str, *, lifetime: int = 300) -> str:
    """A JWT for one call to ``audience`` (the exact URL), signed with ``key_pem``."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_private_key(key_pem.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):  # as jwt.encode would refuse it
        raise TypeError(f"{key_pem} holds no EC private key (ES384 needs one)")
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": audience, "iat": now, "exp": now + lifetime}
    claims["jti"] = str(uuid.uuid4())
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": KID, "typ": "JWT"})


def make_request(example: str, hook: str = "patient-view") -> dict[str, Any]:
    """A hook request for a bundled example (name or number prefix)."""
    from .examples import load_examples
    from .service.prefetch import PREFETCH_TEMPLATES, READ_KEYS, template_type

    found = [ex for ex in load_examples() if ex.name == example or ex.name.startswith(example)]
    if not found:
        raise click.BadParameter(f"no bundled example {example!r}")
    bundle = json.loads(found[0].path.read_text(encoding="utf-8"))
    resources = [e["resource"] for e in bundle.get("entry", ())]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    drafts = [r for r in resources if r["resourceType"] == "ServiceRequest"]
    prefetch: dict[str, Any] = {}
    for key, template in PREFETCH_TEMPLATES.items():
        kind = template_type(template)
        if key in READ_KEYS:
            prefetch[key] = patient if kind == "Patient" else None
            continue
        hits = [r for r in resources if r["resourceType"] == kind and kind != "ServiceRequest"]
        prefetch[key] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r} for r in hits],
        }
    context: dict[str, Any] = {"userId": "Practitioner/quickstart", "patientId": patient["id"]}
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": d} for d in drafts],
        }
    if hook == "order-select":
        context["selections"] = [f"ServiceRequest/{d['id']}" for d in drafts]
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": prefetch,
    }


@click.group()
def main() -> None:
    """Test credentials and requests for trying the service."""


@main.command("keys")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def keys_command(directory: Path) -> None:
    """Write a test client key and the trust file that trusts it."""
    pem, trust = make_keys(directory)
    click.echo(f"{pem}\n{trust}")


@main.command("token")
@click.argument("key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("audience")
def token_command(key: Path, audience: str) -> None:
    """Print a JWT for one call to AUDIENCE (the exact URL called)."""
    click.echo(make_token(key, audience))


@main.command("request")
@click.argument("example")
@click.option(
    "--hook",
    type=click.Choice(["patient-view", "order-select", "order-sign"]),
    default="patient-view",
)
def request_command(example: str, hook: str) -> None:
    """Print a hook request for a bundled example, its resources as prefetch."""
    json.dump(make_request(example, hook), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
