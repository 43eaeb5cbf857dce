"""The service's OpenAPI 3.1 document, built from the CDS Hooks JSON Schema."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from .. import __version__
from .discovery import SERVICES
from .hooks import REQUEST_SCHEMA
from .schema import load_schema


def _components() -> dict[str, Any]:
    text = json.dumps(load_schema()["$defs"]).replace('"#/$defs/', '"#/components/schemas/')
    components: dict[str, Any] = json.loads(text)  # the $defs object, references rewritten
    return components


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed request (OperationOutcome names each defect)",
        401: "Missing or invalid JWT",
        403: "Cross-origin request, or feedback on a card issued to another client",
        404: "Unknown service",
        405: "Method not allowed",
        408: "Request body did not arrive in time",
        412: "Required prefetch data unavailable (OperationOutcome names the keys)",
        413: "Request body too large",
        415: "Request body is not JSON",
        500: "Internal error",
        503: "The service's database is unavailable (disk full, read-only)",
    }
    return {str(c): {"description": text[c], "content": _json("OperationOutcome")} for c in codes}


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document served at ``/openapi.json``."""
    security: list[dict[str, list[str]]] = [{"cdsClientJwt": []}]
    paths: dict[str, Any] = {
        "/cds-services": {
            "get": {
                "operationId": "discovery",
                "summary": "CDS Hooks discovery",
                "security": security,
                "responses": {
                    "200": {"description": "Services", "content": _json("Discovery")},
                    **_errors(401),
                },
            }
        }
    }
    for service in SERVICES.values():
        paths[f"/cds-services/{service.id}"] = {
            "post": {
                "operationId": f"call-{service.id}",
                "summary": f"{service.title} ({service.hook})",
                "security": security,
                "requestBody": {"required": True, "content": _json(REQUEST_SCHEMA[service.hook])},
                "responses": {
                    "200": {"description": "Cards", "content": _json("Response")},
                    **_errors(400, 401, 403, 408, 412, 413, 415, 500, 503),
                },
            }
        }
        paths[f"/cds-services/{service.id}/feedback"] = {
            "post": {
                "operationId": f"feedback-{service.id}",
                "summary": f"Feedback on cards of {service.id}",
                "security": security,
                "requestBody": {"required": True, "content": _json("FeedbackRequest")},
                "responses": {
                    "200": {"description": "Stored", "content": _json("FeedbackResponse")},
                    **_errors(400, 401, 403, 408, 413, 415, 503),
                },
            }
        }
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "cds-backpain CDS Hooks service",
                "version": __version__,
                "description": (
                    "CDS Hooks 2.0 service for low back pain. Every /cds-services endpoint "
                    "needs a JWT from a trusted CDS client (see docs/integration.md). "
                    "Decision support for clinicians, not a diagnosis."
                ),
            },
            "paths": paths,
            "components": {
                "schemas": _components(),
                "securitySchemes": {
                    "cdsClientJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                },
            },
        }
    )
