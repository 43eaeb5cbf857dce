"""The knowledge artifacts over FHIR: read, ``metadata`` and ``PlanDefinition/$apply``.

* ``GET /fhir/metadata``: a CapabilityStatement of what this endpoint serves;
* ``GET /fhir/{type}`` and ``GET /fhir/{type}/{id}``: the exported artifacts
  (:mod:`cds_backpain.publish.fhir_package`), a searchset Bundle or one resource;
* ``POST /fhir/PlanDefinition/{id}/$apply``: a Parameters resource with ``subject``
  (``Patient/x``) and ``data`` (a Bundle of that patient's record) in, a CarePlan out
  whose contained RequestGroup holds the conclusions of ``evaluate()`` for that
  PlanDefinition: all of them for the top-level one, the pathway's for a pathway (the
  red-flag policy still applies across pathways: no self-care beside any red flag).

Same authentication as the hooks (the JWT middleware protects ``/fhir``); every error
is an OperationOutcome. No clinical logic here: it is ``evaluate()`` and the export.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..emit.canonical import BASE, rebase
from ..emit.conformance import conformance_resources
from ..emit.ids import stable_uuid
from ..emit.stamps import fhir_instant, package_version
from ..kb.loader import load_knowledge
from ..publish.fhir_package import FHIR_VERSION, TOP_ID, canonical, pathway_id, resources_of
from .errors import JSONBody, ServiceError
from .hooks import body_limits, parse_json_body

if TYPE_CHECKING:
    from ..evaluation import Evaluation
    from ..kb.knowledge import Knowledge

FHIR_JSON = "application/fhir+json"
APPLY_DEFINITION = "http://hl7.org/fhir/OperationDefinition/PlanDefinition-apply"
#: $apply input parameters of FHIR R4 / CPG that are accepted and not used here.
IGNORED_PARAMETERS = frozenset(
    {
        "encounter",
        "practitioner",
        "organization",
        "userType",
        "userLanguage",
        "userTaskContext",
        "setting",
        "settingContext",
        "useServerData",
    }
)


class FhirBody(JSONBody):
    media_type = FHIR_JSON


def _artifacts(kb: Knowledge) -> dict[tuple[str, str], dict[str, Any]]:
    """The exported artifacts plus every conformance resource the output names (the
    extensions' StructureDefinitions), under the configured canonical base."""
    out = dict(conformance_resources(kb))
    out.update({(r["resourceType"], r["id"]): rebase(r) for r in resources_of(kb)})
    return out


def _types(kb: Knowledge) -> list[str]:
    return sorted({t for t, _ in _artifacts(kb)})


def capability_statement(kb: Knowledge, now: datetime | None = None) -> dict[str, Any]:
    """The CapabilityStatement of ``/fhir``: read and search-type per type, and $apply."""
    day = (now or datetime.now(UTC)).date().isoformat()
    resources = []
    for t in _types(kb):
        entry: dict[str, Any] = {
            "type": t,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
        }
        if t == "PlanDefinition":
            entry["operation"] = [{"name": "apply", "definition": APPLY_DEFINITION}]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "id": "cds-backpain",
        "url": canonical("CapabilityStatement", "cds-backpain"),
        "version": package_version(),
        "name": "CdsBackpainKnowledgeServer",
        "title": "cds-backpain knowledge artifacts",
        "status": "active",
        "experimental": False,
        "date": day,
        "publisher": "cds-backpain",
        "description": (
            f"Read access to the cds-backpain knowledge artifacts (knowledge {kb.version}, "
            f"sha256:{kb.digest}) and PlanDefinition/$apply over a data Bundle. Decision "
            "support for clinicians, not a diagnosis."
        ),
        "kind": "instance",
        "software": {"name": "cds-backpain", "version": package_version()},
        "implementation": {"description": "cds-backpain CDS service, /fhir endpoint"},
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "The same JWT bearer authentication as the CDS Hooks "
                    "services (CDS Hooks 2.0 client JWT, audience = the request URL)."
                },
                "resource": resources,
            }
        ],
    }


# -- endpoints -----------------------------------------------------------------------


def _config_now(request: Request) -> datetime | None:
    from ..pipeline import parse_now

    runtime = getattr(request.app.state, "runtime", None)
    now = runtime.config.now if runtime is not None else None
    return parse_now(now) if now else None


def _knowledge(request: Request) -> Knowledge:
    """The knowledge the service evaluates with (loaded at start-up)."""
    runtime = getattr(request.app.state, "runtime", None)
    return runtime.knowledge if runtime is not None else load_knowledge()


async def metadata(request: Request) -> Response:
    return FhirBody(capability_statement(_knowledge(request), _config_now(request)))


def _known_type(kb: Knowledge, resource_type: str) -> None:
    if resource_type not in _types(kb):
        raise ServiceError.simple(
            404, f"resource type {resource_type!r} is not served here (see /fhir/metadata)"
        )


async def search(request: Request) -> Response:
    kb = _knowledge(request)
    resource_type = request.path_params["type"]
    _known_type(kb, resource_type)
    hits = [r for (t, _), r in _artifacts(kb).items() if t == resource_type]
    url = request.query_params.get("url")
    if url is not None:  # search by canonical (``url`` or ``url|version``)
        base, _, version = url.partition("|")
        hits = [r for r in hits if r.get("url") == base and version in ("", r.get("version"))]
    return FhirBody(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(hits),
            "entry": [
                {
                    "fullUrl": f"{BASE}/{r['resourceType']}/{r['id']}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in hits
            ],
        }
    )


async def read(request: Request) -> Response:
    kb = _knowledge(request)
    resource_type, rid = request.path_params["type"], request.path_params["id"]
    _known_type(kb, resource_type)
    resource = _artifacts(kb).get((resource_type, rid))
    if resource is None:
        raise ServiceError.simple(404, f"no {resource_type} with id {rid!r}")
    return FhirBody(resource)


def _parameters(document: Any) -> tuple[str, dict[str, Any]]:
    """``subject`` and ``data`` of an $apply Parameters resource (400 when malformed)."""
    if not isinstance(document, dict) or document.get("resourceType") != "Parameters":
        raise ServiceError.simple(400, "the body must be a FHIR Parameters resource")
    params = document.get("parameter", [])
    if not isinstance(params, list):
        raise ServiceError.simple(
            400, "Parameters.parameter must be a list", expression=["parameter"]
        )
    subject: str | None = None
    data: dict[str, Any] | None = None
    for i, p in enumerate(params):
        where = f"Parameters.parameter[{i}]"
        name = p.get("name") if isinstance(p, dict) else None
        if name == "subject":
            ref = p.get("valueString") or (p.get("valueReference") or {}).get("reference")
            if not isinstance(ref, str) or not ref.startswith("Patient/"):
                raise ServiceError.simple(
                    400, "subject must be a 'Patient/<id>' string", expression=[where]
                )
            if subject is not None:
                raise ServiceError.simple(400, "only one subject is supported", expression=[where])
            subject = ref
        elif name == "data":
            res = p.get("resource")
            if not isinstance(res, dict) or res.get("resourceType") != "Bundle":
                raise ServiceError.simple(
                    400, "data must be a Bundle resource (parameter.resource)", expression=[where]
                )
            data = res
        elif name not in IGNORED_PARAMETERS:
            raise ServiceError.simple(
                400, f"unsupported $apply parameter {name!r}", expression=[where]
            )
    if subject is None:
        raise ServiceError.simple(400, "the 'subject' parameter is required")
    if data is None:
        raise ServiceError.simple(
            400,
            "the 'data' parameter (a Bundle of the subject's record) is required; "
            "this server holds no patient data",
        )
    return subject, data


def care_plan(kb: Knowledge, plan_id: str, subject: str, evaluation: Evaluation) -> dict[str, Any]:
    """The $apply result: a CarePlan containing the RequestGroup of the plan's conclusions."""
    bundle_rg = next(
        e["resource"]
        for e in evaluation.bundle["entry"]
        if e["resource"]["resourceType"] == "RequestGroup"
    )
    rg = copy.deepcopy(bundle_rg)
    if plan_id != TOP_ID:
        keep = {rid for rid, d in kb.domains.items() if pathway_id(d) == plan_id}
        rg["action"] = [a for a in rg.get("action", []) if a["id"] in keep]
        if not rg["action"]:
            del rg["action"]
            rg.pop("priority", None)
    plan = f"{canonical('PlanDefinition', plan_id)}|{kb.version}"
    rg["id"] = "request-group"
    rg["instantiatesCanonical"] = [plan]
    return {
        "resourceType": "CarePlan",
        "id": str(stable_uuid("CarePlan", bundle_rg["id"], plan_id)),
        "contained": [rg],
        "identifier": rg.get("identifier", []),
        "instantiatesCanonical": [plan],
        "status": "active",
        "intent": "proposal",
        "subject": {"reference": subject},
        "created": fhir_instant(datetime.fromisoformat(evaluation.now.replace("Z", "+00:00"))),
        "activity": [{"reference": {"reference": "#request-group"}}],
    }


async def apply(request: Request) -> Response:
    from .app import run_evaluation

    kb = _knowledge(request)
    plan_id = request.path_params["id"]
    if ("PlanDefinition", plan_id) not in _artifacts(kb):
        raise ServiceError.simple(404, f"no PlanDefinition with id {plan_id!r}")
    rt = request.app.state.runtime
    limits = body_limits(rt.config)
    raw = await request.body()
    subject, data = _parameters(parse_json_body(raw, request.headers.get("content-type"), limits))
    evaluation = await run_evaluation(rt, data, limits, inline=False)
    if evaluation.patient != subject:
        raise ServiceError.simple(
            400,
            f"subject {subject} is not the patient of the data Bundle "
            f"({evaluation.patient or 'none'})",
            expression=["Parameters.parameter"],
        )
    return FhirBody(care_plan(kb, plan_id, subject, evaluation))


def fhir_routes() -> list[BaseRoute]:
    """The ``/fhir`` routes (``$apply`` before the generic read so it is matched first)."""
    return [
        Route("/fhir/metadata", metadata, methods=["GET"]),
        Route("/fhir/PlanDefinition/{id}/$apply", apply, methods=["POST"]),
        Route("/fhir/{type}", search, methods=["GET"]),
        Route("/fhir/{type}/{id}", read, methods=["GET"]),
    ]
