"""The three CDS Services and the discovery document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .prefetch import PREFETCH_TEMPLATES

#: CDS Hooks specification version implemented (3.0 ``version`` member).
SPEC_VERSION = "2.0.1"


@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str
    hook_version: str = "1.0"

    def to_json(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": dict(PREFETCH_TEMPLATES),
            "usageRequirements": (
                "Decision support for clinicians, not a diagnosis. Needs the Patient and the "
                "patient's Conditions, Observations, medications and Procedures (prefetch or FHIR "
                "server)."
            ),
            "version": SPEC_VERSION,
            "hookVersion": self.hook_version,
        }


SERVICES: dict[str, ServiceDefinition] = {
    s.id: s
    for s in (
        ServiceDefinition(
            id="lbp-patient-view",
            hook="patient-view",
            title="Low back pain: red flags and next steps",
            description=(
                "Evaluates the patient's low back pain record (findings, observations, "
                "medications) and returns cards with red flags, imaging advice and sources."
            ),
        ),
        ServiceDefinition(
            id="lbp-imaging-order-select",
            hook="order-select",
            title="Low back pain: imaging appropriateness (order selection)",
            description=(
                "Rates selected lumbar imaging orders (Argonaut PAMA rating on the draft "
                "ServiceRequest) and explains orders rated not appropriate."
            ),
        ),
        ServiceDefinition(
            id="lbp-imaging-order-sign",
            hook="order-sign",
            title="Low back pain: imaging appropriateness (order signing)",
            description=(
                "Rates the lumbar imaging orders being signed (Argonaut PAMA rating) and "
                "explains orders rated not appropriate."
            ),
        ),
    )
}


def discovery_document() -> dict[str, Any]:
    """Body of ``GET /cds-services``."""
    return {"services": [s.to_json() for s in SERVICES.values()]}
