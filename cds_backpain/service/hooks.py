"""Hook requests: parse and validate the body and the hook context.

Malformed requests become 400 with an OperationOutcome naming each defect; nothing in
a request reaches the evaluation unvalidated. Unknown members (``extension``, extra
context fields) are tolerated; optional members sent as ``null`` are taken as absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from .._errors import InputLimitError, InvalidInputError
from ..ingest import Limits, ParsedJSON, clip, parse_json
from .config import ServiceConfig
from .discovery import ServiceDefinition
from .errors import ServiceError, issue, operation_outcome
from .limits import check_unicode
from .prefetch import FhirAccess, allowlist_refusal, normalise_base
from .schema import problems

#: JSON Schema definition of the request for each hook.
REQUEST_SCHEMA = {
    "patient-view": "PatientViewRequest",
    "order-select": "OrderSelectRequest",
    "order-sign": "OrderSignRequest",
}
_OPTIONAL = ("fhirServer", "fhirAuthorization", "prefetch", "extension")
JSON_TYPES = ("application/json", "application/fhir+json")


@dataclass(frozen=True)
class HookRequest:
    """A validated hook call."""

    service: ServiceDefinition
    hook_instance: str
    context: dict[str, Any]
    prefetch: dict[str, Any] | None
    access: FhirAccess = field(repr=False)
    #: Resources of ``context.draftOrders`` (order hooks), in order.
    draft_orders: tuple[dict[str, Any], ...] = ()
    #: ``context.selections`` (order-select), else empty.
    selections: tuple[str, ...] = ()

    @property
    def patient_id(self) -> str:
        return str(self.context["patientId"])


def body_limits(config: ServiceConfig) -> Limits:
    """Limits of a request body, and of the evaluation of the data it carries: checking
    the body once covers every resource inside it."""
    return Limits(max_bytes=config.max_body_bytes)


def parse_json_body(body: bytes, content_type: str | None, limits: Limits) -> Any:
    """The JSON document of a request body: 415 without a JSON type (a browser's
    cross-site "simple" POST has none), 400 if unparsable, ambiguous (a key twice, NaN) or
    not Unicode (a lone surrogate), 413 beyond ``limits`` (nesting, string size)."""
    return parse_checked_body(body, content_type, limits).value


def parse_checked_body(body: bytes, content_type: str | None, limits: Limits) -> ParsedJSON:
    """:func:`parse_json_body`, keeping the proof that it was checked under ``limits``
    (parts of it are then evaluated without a second check)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in JSON_TYPES and not media.endswith("+json"):
        raise ServiceError.simple(
            415, f"send JSON (Content-Type: application/json), not {clip(media or 'none', 60)}"
        )
    if not body.strip():
        raise ServiceError.simple(400, "the request body is empty; expected a JSON object")
    try:
        parsed = parse_json(body, limits)
    except InputLimitError as exc:
        raise ServiceError(413, exc.outcome) from None
    except InvalidInputError as exc:
        raise ServiceError(400, exc.outcome) from None
    check_unicode(body, parsed.value)
    return parsed


def invalid(found: list[tuple[str, str]]) -> ServiceError:
    return ServiceError(
        400, operation_outcome(issue(msg, code="invalid", expression=[loc]) for loc, msg in found)
    )


def parse_hook_request(
    document: Any, service: ServiceDefinition, config: ServiceConfig
) -> HookRequest:
    """Validate a hook call for ``service``; raise :class:`ServiceError` (400) if malformed."""
    if not isinstance(document, dict):
        raise ServiceError.simple(400, "the request body must be a JSON object")
    body = {k: v for k, v in document.items() if not (k in _OPTIONAL and v is None)}
    hook = body.get("hook")
    if isinstance(hook, str) and hook != service.hook:
        raise invalid(
            [
                (
                    "hook",
                    f"hook '{hook}' sent to service '{service.id}', which serves '{service.hook}'",
                )
            ]
        )
    found = problems(REQUEST_SCHEMA[service.hook], body)
    if found:
        raise invalid(found)
    context: dict[str, Any] = body["context"]
    drafts = tuple(e["resource"] for e in (context.get("draftOrders") or {}).get("entry") or ())
    selections = tuple(context.get("selections") or ())
    if selections:
        present = {f"{r.get('resourceType')}/{r.get('id')}" for r in drafts}
        missing = [
            (f"context.selections[{i}]", f"{s} is not an entry of context.draftOrders")
            for i, s in enumerate(selections)
            if s not in present
        ]
        if missing:
            raise invalid(missing)
    return HookRequest(
        service=service,
        hook_instance=body["hookInstance"],
        context=context,
        prefetch=body.get("prefetch"),
        access=fhir_access(body, config),
        draft_orders=drafts,
        selections=selections,
    )


def fhir_access(body: dict[str, Any], config: ServiceConfig) -> FhirAccess:
    """Where missing data may be fetched (37).

    An ``http`` server in production is not refused here: only a call that needs data
    from it fails (412, saying so), since a prefetch may hold everything.
    """
    server = body.get("fhirServer")
    if server is None:
        return FhirAccess(server=None)
    try:
        httpx.URL(server)
        normalised = normalise_base(server)  # dot segments resolved before any matching
    except (ValueError, httpx.InvalidURL):
        normalised = None
    if normalised is None:
        raise invalid([("fhirServer", "fhirServer is not a valid absolute URL")])
    server = normalised
    auth = body.get("fhirAuthorization") or {}
    refusal = None
    if urlsplit(server).scheme != "https" and not config.http_fhir_allowed:
        refusal = (
            "fhirServer uses http, and this service fetches only from https FHIR servers "
            "(send the data as prefetch, or use https)"
        )
    elif config.fhir_server_allowlist:
        refusal = allowlist_refusal(
            server, config.fhir_server_allowlist, "this service's allowlist"
        )
    return FhirAccess(server=server, token=auth.get("access_token"), refusal=refusal)
