"""Prefetch: templates, token substitution, and the FHIR-server fallback.

For every template key the data come from the request's ``prefetch`` when the key is
present (``null`` meaning "no data"), otherwise from ``fhirServer`` with the bearer token of
``fhirAuthorization``. Data that cannot be had make the call fail with 412 naming the keys:
an evaluation on partial data could miss a red flag, so nothing is evaluated on a guess.
The access token is sent only to the ``fhirServer`` origin and never logged or stored.

Every fetch has a total deadline (``fhir_timeout``, the body included) and a size cap
counted while streaming (``fhir_max_response_bytes``); all fetches of one call share a
deadline (``fhir_call_deadline``); at most ``fhir_max_connections_per_server`` requests
go to one server at once, so one slow server cannot hold every connection. An answer
that cannot be read (too large, too deep, not JSON, a bad link) makes the key
unavailable (412 with the reason), never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import httpx

from .._errors import InvalidInputError
from ..ingest import Limits, clip, parse_json
from .errors import ServiceError, issue, operation_outcome

log = logging.getLogger("cds_backpain.service.prefetch")

#: Prefetch templates advertised in discovery (the same for the three services).
PREFETCH_TEMPLATES: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
    "medicationDispenses": "MedicationDispense?patient={{context.patientId}}",
}
#: Keys whose template is an instance read (the value is one resource, not a Bundle).
READ_KEYS = frozenset({"patient"})

#: Context fields the three hooks mark "Prefetch Token: Yes" (first-level primitives).
TOKEN_FIELDS = frozenset({"userId", "patientId", "encounterId"})
USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}
_TOKEN = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def substitute(template: str, context: Mapping[str, Any]) -> str | None:
    """Fill the ``{{...}}`` tokens like a CDS client would; None if one cannot be filled."""
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        token = match.group(1)
        raw: Any = None
        if token.startswith("context."):
            name = token.removeprefix("context.")
            if name in TOKEN_FIELDS:
                raw = context.get(name)
        elif token in USER_TOKENS:
            kind, _, ident = str(context.get("userId", "")).partition("/")
            raw = ident if kind == USER_TOKENS[token] and ident else None
        if isinstance(raw, bool) or not isinstance(raw, str | int | float) or raw == "":
            missing = True
            return ""
        text = quote(str(raw), safe="")
        # "." and ".." are path segments a URL normaliser removes: encode them.
        return text.replace(".", "%2E") if set(text) == {"."} else text

    filled = _TOKEN.sub(value, template)
    return None if missing else filled


def template_type(template: str) -> str:
    """The resource type a template reads or searches (``Condition?patient=`` -> Condition)."""
    return re.split(r"[/?]", template, maxsplit=1)[0]


@dataclass
class FhirAccess:
    """Where and how the service may fetch missing data (from the hook request)."""

    server: str | None
    token: str | None = field(default=None, repr=False)
    #: Why the server may not be used (None: usable, when ``server`` is set).
    refusal: str | None = None

    @property
    def usable(self) -> bool:
        return self.server is not None and self.refusal is None


@dataclass
class Gathered:
    """The flattened data and where each key's data came from (for logs)."""

    patient: dict[str, Any] | None
    resources: list[dict[str, Any]]
    origin: dict[str, str]


class _Unavailable(Exception):
    """A key's data could not be had; the message names why (never the token)."""


def normalise_base(url: str) -> str | None:
    """An absolute http(s) base URL in canonical form (scheme and host lower-case, dot
    segments resolved, percent-encoded dots decoded, no trailing slash), or None if
    ``url`` is not one (relative, another scheme, user info, query or fragment)."""
    if not isinstance(url, str) or not url.isprintable() or any(c in url for c in " \\"):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    segments: list[str] = []
    for segment in parts.path.split("/"):
        decoded = unquote(segment) if "%" in segment else segment
        if decoded == ".":
            continue
        if decoded == "..":
            if segments:
                segments.pop()
            continue
        if segment:
            segments.append(segment)
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    path = "".join(f"/{s}" for s in segments)
    return f"{scheme}://{netloc}{path}"


def under(url: str, base: str) -> bool:
    """Whether normalised ``url`` is ``base`` or below it."""
    return url == base or url.startswith(base + "/")


def allowlist_refusal(server: str, allowlist: Iterable[str], what: str) -> str | None:
    """Why ``server`` (normalised) may not be used, if no entry of ``allowlist`` covers it."""
    listed = [b for b in (normalise_base(a) for a in allowlist) if b is not None]
    if any(under(server, b) for b in listed):
        return None
    return f"fhirServer is not on {what}"


class _ServerSlots:
    """At most ``per_server`` requests at once to one origin (scheme, host, port)."""

    def __init__(self, per_server: int):
        self.per_server = per_server
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, url: str) -> AsyncIterator[None]:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        slot = self._slots.setdefault(origin, asyncio.Semaphore(self.per_server))
        self._users[origin] = self._users.get(origin, 0) + 1
        try:
            async with slot:
                yield
        finally:
            self._users[origin] -= 1
            if not self._users[origin]:  # nobody holds or waits: forget the origin
                del self._users[origin], self._slots[origin]


class FhirFetcher:
    """Runs prefetch queries against a client's FHIR server (deadlines, size cap, paging,
    limits, a bounded share of the connection pool per server)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        max_pages: int,
        max_resources: int,
        timeout: float = 5.0,
        max_bytes: int = 20_000_000,
        per_server: int = 8,
        call_deadline: float = 15.0,
    ):
        self.client = client
        self.max_pages = max_pages
        self.max_resources = max_resources
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.call_deadline = call_deadline
        self.limits = Limits(max_bytes=max_bytes, max_entries=max(max_resources + 1, 5_000))
        self._slots = _ServerSlots(per_server)

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = {"Accept": "application/fhir+json, application/json;q=0.9"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def _get(self, url: str, access: FhirAccess) -> tuple[int, Any]:
        """GET ``url``: (status, parsed JSON body of a 200, else None)."""
        assert access.server is not None
        target = normalise_base(url.split("?", 1)[0])
        if target is None or not under(target, access.server):
            raise _Unavailable("a request URL leaves fhirServer; not fetched")
        try:
            async with (
                self._slots.hold(url),
                _deadline(self.timeout, "the FHIR server did not answer in time"),
                self.client.stream("GET", url, headers=self._headers(access.token)) as response,
            ):
                if response.status_code != 200:
                    return response.status_code, None
                data = await self._read(response)
        except httpx.TimeoutException:
            raise _Unavailable("the FHIR server did not answer in time") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            cert = certificate_problem(exc)
            if cert:
                raise _Unavailable(cert) from None
            raise _Unavailable(
                f"the FHIR server could not be reached ({type(exc).__name__})"
            ) from None
        return 200, self._json(data)

    async def _read(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise _Unavailable(f"the FHIR server's answer is larger than {self.max_bytes} bytes")
        data = bytearray()
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > self.max_bytes:
                raise _Unavailable(
                    f"the FHIR server's answer is larger than {self.max_bytes} bytes"
                )
        return bytes(data)

    def _json(self, data: bytes) -> Any:
        try:
            return parse_json(data, self.limits).value
        except InvalidInputError as exc:  # InputLimitError included
            first = (exc.outcome.get("issue") or [{}])[0].get("diagnostics", "")
            raise _Unavailable(f"the FHIR server's answer cannot be read: {first}") from None

    async def read(self, query: str, access: FhirAccess) -> dict[str, Any] | None:
        """Instance read; None when the server says the resource does not exist."""
        assert access.server is not None
        status, body = await self._get(f"{access.server}/{query}", access)
        if status in (404, 410):
            return None
        if status != 200:
            raise _Unavailable(f"the FHIR server answered {status}")
        if not isinstance(body, dict) or body.get("resourceType") != template_type(query):
            raise _Unavailable(f"the FHIR server did not return a {template_type(query)}")
        return body

    async def search(self, query: str, access: FhirAccess) -> list[dict[str, Any]]:
        """Type search, following ``next`` links on the same server."""
        assert access.server is not None
        return await self.follow(f"{access.server}/{query}", access, first=None)

    async def follow(
        self, url: str | None, access: FhirAccess, first: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        """Entries of a searchset, from ``first`` (already had) and/or ``url`` onward."""
        out: list[dict[str, Any]] = []
        pages = 0
        bundle = first
        while True:
            if bundle is None:
                if url is None:
                    break
                pages += 1
                if pages > self.max_pages:
                    raise _Unavailable(f"more than {self.max_pages} pages of results")
                status, bundle = await self._get(url, access)
                if status != 200:
                    raise _Unavailable(f"the FHIR server answered {status}")
                if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
                    raise _Unavailable("the FHIR server did not return a Bundle")
            out.extend(bundle_resources(bundle))
            if len(out) > self.max_resources:
                raise _Unavailable(f"more than {self.max_resources} resources")
            nxt = next_link(bundle)
            if nxt is None:
                break
            if not access.usable:
                raise _Unavailable(
                    "the searchset has more pages and no usable fhirServer to fetch them"
                )
            assert access.server is not None
            try:
                url = urljoin(access.server + "/", nxt)
            except ValueError:
                raise _Unavailable("a next link is not a URL; not followed") from None
            target = normalise_base(url.split("?", 1)[0])
            if target is None or not under(target, access.server):
                raise _Unavailable("a next link points outside fhirServer; not followed")
            bundle = None
        return out


def certificate_problem(exc: BaseException) -> str | None:
    """What is wrong with the FHIR server's TLS certificate, if that is why ``exc`` happened."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            why = seen.verify_message or "verification failed"
            return (
                f"the FHIR server's TLS certificate is not trusted ({why}); add its CA to "
                "the bundle named by SSL_CERT_FILE for the service"
            )
        seen = seen.__cause__ or seen.__context__
    return None


def next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or ():
        if (
            isinstance(link, dict)
            and link.get("relation") == "next"
            and isinstance(url := link.get("url"), str)
        ):
            return url
    return None


@asynccontextmanager
async def _deadline(seconds: float, why: str) -> AsyncIterator[None]:
    """A total deadline: ``_Unavailable(why)`` when ``seconds`` have passed."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise _Unavailable(why) from None


def entry_defects(bundle: Mapping[str, Any]) -> list[tuple[int, str]]:
    """``(index, what is wrong)`` for each entry of a searchset that is not an object, or
    whose ``resource`` is present and not an object: never silently left out."""
    entries = bundle.get("entry")
    if entries is None:
        return []
    if not isinstance(entries, list):
        return [(-1, "Bundle.entry must be an array")]
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            out.append((i, f"a Bundle entry must be an object, not {_json_type(entry)}"))
        elif "resource" in entry and not isinstance(entry["resource"], dict):
            out.append(
                (i, f"Bundle.entry.resource must be an object, not {_json_type(entry['resource'])}")
            )
    return out


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else type(value).__name__


def bundle_resources(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Resources of a searchset page; outcome entries dropped, error outcomes refused, a
    page with a malformed entry unusable."""
    defects = entry_defects(bundle)
    if defects:
        raise _Unavailable(f"the search result is malformed: {defects[0][1]}")
    out = []
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource")
        if resource is None:
            continue
        if resource.get("resourceType") == "OperationOutcome":
            if _is_error_outcome(resource):
                raise _Unavailable("the search result carries an error OperationOutcome")
            continue
        out.append(resource)
    return out


def _is_error_outcome(resource: Mapping[str, Any]) -> bool:
    return any(
        isinstance(i, dict) and i.get("severity") in ("error", "fatal")
        for i in resource.get("issue") or ()
    )


def localise_references(
    resources: list[dict[str, Any]], patient_id: str, server: str | None
) -> list[dict[str, Any]]:
    """Resources whose subject is the absolute ``{server}/Patient/{id}`` of this patient get
    the equivalent relative reference, so the evaluation compares ids on one server only
    (ingest refuses a reference to any other patient, an absolute one to another server
    included: ``expected_patient`` is ``context.patientId``)."""
    if server is None:
        return resources
    absolute = f"{server}/Patient/{patient_id}"
    out = []
    for res in resources:
        for name in ("subject", "patient"):
            ref = res.get(name)
            if isinstance(ref, dict) and ref.get("reference") == absolute:
                res = {**res, name: {**ref, "reference": f"Patient/{patient_id}"}}
        out.append(res)
    return out


async def gather(
    *,
    context: Mapping[str, Any],
    prefetch: Mapping[str, Any] | None,
    access: FhirAccess,
    fetcher: FhirFetcher,
    templates: Mapping[str, str] = PREFETCH_TEMPLATES,
) -> Gathered:
    """Collect every template's data; raise 412 naming keys that cannot be had."""
    given = dict(prefetch or {})
    patient_id = str(context["patientId"])
    loop = asyncio.get_running_loop()
    call_deadline = loop.time() + fetcher.call_deadline
    too_slow = f"the FHIR server's answers took longer than {fetcher.call_deadline:g} s in all"

    async def guarded(key: str, work: Any) -> Any:
        """``work`` within the call's deadline; unexpected failures are the key's, logged."""
        try:
            async with _deadline(max(0.0, call_deadline - loop.time()), too_slow):
                return await work
        except _Unavailable:
            raise
        except Exception as exc:
            log.warning(
                "unexpected error while fetching FHIR data",
                exc_info=True,
                extra={"event": "fhir_fetch_error", "error": type(exc).__name__},
            )
            raise _Unavailable(
                f"the FHIR server's answer could not be used ({type(exc).__name__})"
            ) from None

    origin: dict[str, str] = {}
    results: dict[str, list[dict[str, Any]] | dict[str, Any] | None] = {}
    failures: dict[str, str] = {}
    pending: dict[str, str] = {}

    for key, template in templates.items():
        if key not in given:
            pending[key] = "not provided"
            continue
        value = given[key]
        if value is None:
            results[key] = None if key in READ_KEYS else []
            origin[key] = "null"
            continue
        shape_error = _shape_error(key, template, value)
        if shape_error:
            raise ServiceError(
                400, operation_outcome([issue(shape_error, expression=[f"prefetch.{key}"])])
            )
        if value.get("resourceType") == "Bundle" and (defects := entry_defects(value)):
            raise ServiceError(
                400,
                operation_outcome(
                    issue(
                        f"prefetch '{key}': {what}",
                        expression=[f"prefetch.{key}.entry" + (f"[{i}]" if i >= 0 else "")],
                    )
                    for i, what in defects[:10]
                ),
            )
        if value.get("resourceType") == "OperationOutcome" or (
            value.get("resourceType") == "Bundle" and _bundle_has_error(value)
        ):
            pending[key] = "the client's prefetch returned an OperationOutcome"
            continue
        origin[key] = "prefetch"
        if key in READ_KEYS:
            results[key] = value
        elif value.get("resourceType") == "Bundle":
            try:
                results[key] = await guarded(key, fetcher.follow(None, access, first=value))
            except _Unavailable as exc:
                failures[key] = str(exc)
            else:
                if next_link(value):
                    origin[key] = "prefetch+fhir"
        else:
            results[key] = [value]

    async def fetch(key: str, why: str) -> None:
        query = substitute(templates[key], context)
        if query is None:
            failures[key] = f"{why}, and its template tokens cannot be filled from the context"
            return
        if access.server is None:
            failures[key] = f"{why}, and the request has no fhirServer to fetch it from"
            return
        if access.refusal:
            failures[key] = f"{why}, and {access.refusal}"
            return
        try:
            if key in READ_KEYS:
                results[key] = await guarded(key, fetcher.read(query, access))
            else:
                results[key] = await guarded(key, fetcher.search(query, access))
            origin[key] = "fhir"
        except _Unavailable as exc:
            failures[key] = f"{why}, and fetching it failed: {exc}"

    await asyncio.gather(*(fetch(k, why) for k, why in pending.items()))

    patient = results.get("patient")
    if "patient" in templates and "patient" not in failures and not isinstance(patient, dict):
        failures["patient"] = (
            "the Patient is required and the client reported no data"
            if origin.get("patient") == "null"
            else "the Patient is required and the FHIR server does not have it"
        )
    if failures:
        raise ServiceError(
            412,
            operation_outcome(
                issue(
                    f"required prefetch '{key}' ({templates[key]}) is unavailable: {why}",
                    code="incomplete",
                    expression=[f"prefetch.{key}"],
                )
                for key, why in sorted(failures.items())
            ),
        )
    assert isinstance(patient, dict) or "patient" not in templates
    resources: list[dict[str, Any]] = []
    for key in templates:
        value = results.get(key)
        if isinstance(value, dict):
            resources.append(value)
        elif isinstance(value, list):
            resources.extend(value)
    return Gathered(
        patient=patient if isinstance(patient, dict) else None,
        resources=dedupe(localise_references(resources, patient_id, access.server)),
        origin=origin,
    )


def _shape_error(key: str, template: str, value: Any) -> str | None:
    kind = template_type(template)
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return f"prefetch '{key}' must be a FHIR resource or null"
    rtype = value["resourceType"]
    if rtype == "OperationOutcome":
        return None
    if key in READ_KEYS:
        return None if rtype == kind else f"prefetch '{key}' must be a {kind}, not a {rtype}"
    if rtype in ("Bundle", kind):
        return None
    return f"prefetch '{key}' must be a searchset Bundle of {kind}, not a {rtype}"


def _bundle_has_error(bundle: Mapping[str, Any]) -> bool:
    return any(
        isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and e["resource"].get("resourceType") == "OperationOutcome"
        and _is_error_outcome(e["resource"])
        for e in bundle.get("entry") or ()
    )


#: FHIR R4 request resources that may stand in ``context.draftOrders``.
ORDER_TYPES = frozenset(
    {
        "ServiceRequest",
        "MedicationRequest",
        "NutritionOrder",
        "VisionPrescription",
        "DeviceRequest",
        "CommunicationRequest",
        "SupplyRequest",
    }
)
#: The draft orders the evaluation reads (it rates imaging ServiceRequests).
EVALUATED_ORDER_TYPES = frozenset({"ServiceRequest"})


def orders_to_evaluate(drafts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The draft orders the evaluation may read: 400 for a resource in ``draftOrders``
    that is not an order (a Condition there is not the patient's record), and only
    ServiceRequests are passed on."""
    out: list[dict[str, Any]] = []
    problems = []
    for i, res in enumerate(drafts):
        rtype = res.get("resourceType")
        if rtype not in ORDER_TYPES:
            problems.append(
                issue(
                    f"context.draftOrders holds orders only, not a {clip(rtype, 40)}",
                    expression=[f"context.draftOrders.entry[{i}].resource"],
                )
            )
        elif rtype in EVALUATED_ORDER_TYPES:
            out.append(dict(res))
    if problems:
        raise ServiceError(400, operation_outcome(problems[:10]))
    return out


def dedupe(resources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeated ``Type/id`` (pages can overlap); resources without id are kept."""
    seen: set[str] = set()
    out = []
    for res in resources:
        rid = res.get("id")
        if isinstance(rid, str):
            ref = f"{res.get('resourceType')}/{rid}"
            if ref in seen:
                continue
            seen.add(ref)
        out.append(res)
    return out
