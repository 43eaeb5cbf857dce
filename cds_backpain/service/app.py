"""The ASGI application: routes, middleware and the hook pipeline.

request -> JWT (auth) -> size limit -> validate (hooks) -> data (prefetch / FHIR server)
-> ``cds_backpain.evaluate`` (the only clinical logic) -> cards + PAMA system actions.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
import anyio.to_thread
import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .._errors import (
    EngineError,
    InputLimitError,
    InternalError,
    InvalidInputError,
    KnowledgeError,
)
from ..evaluation import Evaluation
from ..ingest import Limits, ParsedJSON
from ..kb.knowledge import Knowledge
from ..settings import Settings, applied
from . import pama, screen
from .auth import (
    Authenticator,
    AuthError,
    ClientIdentity,
    KeyStore,
    ReplayCache,
    TrustFile,
    issuer_refusal,
    load_trust_file,
)
from .config import ConfigError, ServiceConfig, check_serving, config_from_env
from .cors import CdsCorsMiddleware, OriginCheckMiddleware
from .db import check_writable, open_database
from .demo import demo_routes
from .discovery import SERVICES, ServiceDefinition, discovery_document
from .errors import (
    ErrorGuardMiddleware,
    JSONBody,
    ServiceError,
    http_exception_handler,
    outcome_response,
    server_error_handler,
    service_error_handler,
)
from .feedback import CardRecord, FeedbackStore, client_key, validate_feedback
from .fhir_api import fhir_routes
from .hooks import (
    HookRequest,
    body_limits,
    parse_checked_body,
    parse_hook_request,
    parse_json_body,
)
from .limits import BodySizeLimitMiddleware, refuse_costly
from .logs import AccessLogMiddleware, configure_logging
from .metrics import Metrics, MetricsMiddleware, metrics_of
from .openapi import openapi_document
from .prefetch import FhirFetcher, gather, orders_to_evaluate

log = logging.getLogger("cds_backpain.service")

INSECURE_WARNING = (
    "INSECURE DEVELOPMENT MODE: no JWT authentication, http FHIR servers accepted, demo page on. "
    "Never use with real patient data."
)


@dataclass
class Runtime:
    """Per-process resources, created at startup."""

    config: ServiceConfig
    http: httpx.AsyncClient
    fetcher: FhirFetcher
    store: FeedbackStore
    authenticator: Authenticator | None
    #: The knowledge every call is evaluated with (the settings' ``knowledge_root``).
    knowledge: Knowledge
    #: Settings read once at start-up (environment and configuration).
    settings: Settings
    trust: TrustFile | None = None
    #: One evaluation at a time per worker: the engine serialises anyway, and letting
    #: threads queue on its lock under the GIL cost a third of the throughput at 32 clients.
    evaluations: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(1))


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime  # starlette's State holds Any
    return runtime


def _log_fields(scope: Scope) -> dict[str, Any]:
    state = scope.get("state")
    if isinstance(state, dict):
        fields = state.get("log")
        if isinstance(fields, dict):
            return fields
    return {}


def _client(scope: Scope) -> ClientIdentity | None:
    """The authenticated client of the request (None in insecure-dev mode)."""
    state = scope.get("state")
    return state.get("client") if isinstance(state, dict) else None


def _client_key(scope: Scope) -> str:
    client = _client(scope)
    return client_key(client.iss, client.tenant) if client else ""


# -- endpoints -----------------------------------------------------------------------


async def discovery(request: Request) -> Response:
    return JSONBody(discovery_document())


def _service(request: Request) -> ServiceDefinition:
    service = SERVICES.get(request.path_params["service_id"])
    if service is None:
        raise ServiceError.simple(404, "no such CDS service")
    _log_fields(request.scope)["service"] = service.id
    return service


async def call_service(request: Request) -> Response:
    try:
        return await _call_service(request)
    except ServiceError as exc:
        # Log where the request failed (expressions only, never values).
        where = sorted({e for i in exc.outcome.get("issue", ()) for e in i.get("expression", ())})
        _log_fields(request.scope)["reason"] = ", ".join(where[:10]) or None
        # CDS clients show an error as no card at all ("No recommendations" in the
        # sandbox), which reads as all clear: say so where an operator will look.
        log.warning(
            "hook call answered %s: the client shows no cards for it",
            exc.status,
            extra={"event": "hook_refused", "status": exc.status, "where": where[:10]},
        )
        raise


async def _call_service(request: Request) -> Response:
    rt = _runtime(request)
    service = _service(request)
    raw = await request.body()
    limits = body_limits(rt.config)
    parsed = parse_checked_body(raw, request.headers.get("content-type"), limits)
    hook = parse_hook_request(parsed.value, service, rt.config)
    client = _client(request.scope)
    if hook.access.server is not None and hook.access.refusal is None and client is not None:
        bound = issuer_refusal(rt.trust, client.iss, hook.access.server)
        hook = replace(hook, access=replace(hook.access, refusal=bound)) if bound else hook
    fields = _log_fields(request.scope)
    fields.update(hook_instance=hook.hook_instance, patient=hook.patient_id)
    gathered = await gather(
        context=hook.context, prefetch=hook.prefetch, access=hook.access, fetcher=rt.fetcher
    )
    fields["data"] = gathered.origin
    resources = gathered.resources + orders_to_evaluate(hook.draft_orders)
    fetched = any("fhir" in how for how in gathered.origin.values())
    inline = len(raw) <= INLINE_MAX_BYTES and not fetched
    evaluation, skipped = await evaluate_tolerant(
        rt,
        resources,
        hook,
        first_draft=len(gathered.resources),
        inline=inline,
        checked=None if fetched else parsed,
    )
    if skipped:
        where = [s.location for s in skipped][:10]
        log.warning(
            "%d resource(s) left out of the evaluation",
            len(skipped),
            extra={
                "event": "resources_skipped",
                "hook_instance": hook.hook_instance,
                "where": where,
            },
        )
    body = respond(evaluation, hook, rt.config, skipped)
    issued_to = _client_key(request.scope)
    records = rt.store.unrecorded(card_records(evaluation, body["cards"], service.id), issued_to)
    if records:
        await run_in_threadpool(rt.store.record_cards, records, issued_to)
    fields.update(cards=len(body["cards"]), system_actions=len(body.get("systemActions", ())))
    if metrics := metrics_of(request.scope):
        red = (c.category for c in evaluation.red_flags)
        metrics.hook_call(service.id, body["cards"], red, gathered.origin)
    return JSONBody(body)


#: Hook calls up to this size whose data all came in the request are evaluated on the
#: event loop when no other evaluation runs: a thread hop costs ~0.4 ms of a 2-3 ms call.
#: 64 KiB is ~100 typical resources (~5 ms), and at worst ~400 minimal coded resources
#: (63 ms measured; 256 KiB of them took 727 ms); larger calls go to a thread so the loop
#: keeps answering meanwhile.
INLINE_MAX_BYTES = 64 * 1024


#: How many times a call is re-evaluated without resources the rules do not read.
MAX_SCREEN_ROUNDS = 3


async def evaluate_tolerant(
    rt: Runtime,
    resources: list[dict[str, Any]],
    hook: HookRequest,
    *,
    first_draft: int,
    inline: bool,
    checked: ParsedJSON | None,
) -> tuple[Evaluation, list[screen.Skipped]]:
    """Evaluate, leaving out defective resources the rules do not read and draft orders
    that cannot be parsed (see :mod:`.screen`); 400 naming the client's locations for a
    defect in anything the rules read, or for data about another patient than
    ``context.patientId``. ``checked`` is the request document the resources were cut
    from, when all of them were (they are then not checked again)."""
    limits = body_limits(rt.config)
    locations = screen.client_locations(resources, hook.prefetch, hook.draft_orders)
    indices = list(range(len(resources)))
    skipped: list[screen.Skipped] = []
    for _ in range(MAX_SCREEN_ROUNDS):
        batch = [resources[i] for i in indices]
        data = checked.excerpt(batch) if checked is not None else batch
        try:
            evaluation = await run_evaluation(
                rt, data, limits, inline=inline, expected_patient=hook.patient_id
            )
            return evaluation, skipped
        except InputRefused as exc:
            drop, outcome = screen.triage(
                exc.outcome,
                batch,
                [locations[i] for i in indices],
                frozenset(n for n, i in enumerate(indices) if i >= first_draft),
                rt.knowledge.valuesets,
            )
            if outcome is not None or not drop:
                raise ServiceError(400, outcome or exc.outcome) from None
            skipped.extend(drop[n] for n in sorted(drop))
            indices = [i for n, i in enumerate(indices) if n not in drop]
    raise ServiceError(400, screen.warnings_outcome(skipped))


class InputRefused(ServiceError):
    """The evaluation refused the input (400): an OperationOutcome of its defects."""


async def run_evaluation(
    rt: Runtime,
    resources: list[dict[str, Any]] | dict[str, Any] | ParsedJSON,
    limits: Limits,
    *,
    inline: bool,
    expected_patient: str | None = None,
) -> Evaluation:
    """Evaluate one call, one evaluation at a time per worker (``rt.evaluations``)."""
    listed = resources.value if isinstance(resources, ParsedJSON) else resources
    refuse_costly(listed, rt.config.max_relevant_resources, rt.knowledge.valuesets)
    limiter = rt.evaluations
    if inline and limiter.available_tokens >= 1:
        limiter.acquire_nowait()
        try:
            return _evaluate(resources, rt, limits, expected_patient)
        finally:
            limiter.release()
    return await anyio.to_thread.run_sync(
        _evaluate, resources, rt, limits, expected_patient, limiter=limiter
    )


def _evaluate(
    resources: list[dict[str, Any]] | dict[str, Any] | ParsedJSON,
    rt: Runtime,
    limits: Limits,
    expected_patient: str | None,
) -> Evaluation:
    from .. import evaluate

    try:
        evaluation = evaluate(
            resources,
            now=rt.config.now,
            limits=limits,
            knowledge=rt.knowledge,
            settings=rt.settings,
            expected_patient=expected_patient,
        )
        evaluation.cards  # noqa: B018 - render the cards inside the evaluation slot
        return evaluation
    except InputLimitError as exc:
        raise ServiceError(413, exc.outcome) from None
    except InvalidInputError as exc:
        raise InputRefused(400, exc.outcome) from None
    except (EngineError, InternalError, KnowledgeError):
        log.exception("evaluation failed", extra={"event": "evaluation_failed"})
        raise ServiceError.simple(500, "the evaluation failed; no cards were produced") from None


def respond(
    evaluation: Evaluation,
    hook: HookRequest,
    config: ServiceConfig,
    skipped: list[screen.Skipped] | None = None,
) -> dict[str, Any]:
    """The CDS Hooks response: the evaluation's cards, PAMA cards and system actions;
    resources left out are listed as an OperationOutcome of warnings in
    ``extension["cds-backpain.warnings"]``. PAMA cards and actions are worded with the
    knowledge the evaluation used."""
    cards = [dict(c) for c in evaluation.cards]
    actions: list[dict[str, Any]] = []
    if hook.service.hook in ("order-select", "order-sign"):
        kb = knowledge_of(evaluation)
        drafts, selections = hook.draft_orders, hook.selections
        if hook.service.hook == "order-select":
            cards = pama.about_selection(cards, evaluation, selections)
        cards = pama.drop_ordered_suggestions(cards, evaluation, drafts, kb)
        cards = pama.not_appropriate_cards(
            evaluation, cards, drafts, selections, _card_builder(evaluation), kb
        )
        actions = pama.system_actions(evaluation, drafts, selections, config, kb)
    body: dict[str, Any] = {"cards": ensure_uuids(cards)}
    if actions:
        body["systemActions"] = actions
        if config.pama_extension_mirror:
            body["extension"] = {"systemActions": actions}
    if skipped:
        body.setdefault("extension", {})[WARNINGS_EXTENSION] = screen.warnings_outcome(skipped)
    return body


#: Response extension member listing what the service left out of the evaluation.
WARNINGS_EXTENSION = "cds-backpain.warnings"


def knowledge_of(evaluation: Evaluation) -> Knowledge:
    """The knowledge base ``evaluation`` was evaluated with."""
    kb = evaluation.knowledge_base
    if kb is None:  # only evaluate() builds the evaluations the service answers with
        raise InternalError("an evaluation without its knowledge base reached the service")
    return kb


def _card_builder(evaluation: Evaluation) -> Any:
    kb = knowledge_of(evaluation)

    def build(conclusion: Any) -> dict[str, Any]:
        from ..emit import build_cards

        return build_cards([conclusion], knowledge=kb, patient_ref=evaluation.patient)[0]

    return build


def ensure_uuids(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every card and suggestion has a uuid, unique within the response."""
    seen: set[str] = set()

    def fresh(value: Any) -> str:
        text = value if isinstance(value, str) and value not in seen else str(uuid.uuid4())
        seen.add(text)
        return text

    for card in cards:
        card["uuid"] = fresh(card.get("uuid"))
        suggestions = card.get("suggestions") or []
        card_suggestions = [dict(s) for s in suggestions]
        for s in card_suggestions:
            s["uuid"] = fresh(s.get("uuid"))
        if card_suggestions:
            card["suggestions"] = card_suggestions
    return cards


def card_records(
    evaluation: Evaluation, cards: list[dict[str, Any]], service_id: str
) -> list[CardRecord]:
    """What the feedback store keeps about each card: uuid, rule, conclusion (no text)."""
    by_id = {c.id: c for c in evaluation.conclusions}
    out = []
    for card in cards:
        conclusion = pama.conclusion_of(card, by_id)
        out.append(
            CardRecord(
                uuid=card["uuid"],
                service_id=service_id,
                rule=conclusion.rules[0] if conclusion and conclusion.rules else None,
                conclusion=conclusion.id if conclusion else None,
                indicator=card["indicator"],
                suggestions=tuple(s["uuid"] for s in card.get("suggestions", ())),
            )
        )
    return out


async def feedback(request: Request) -> Response:
    rt = _runtime(request)
    service = _service(request)
    document = parse_json_body(
        await request.body(), request.headers.get("content-type"), body_limits(rt.config)
    )
    items = validate_feedback(document)
    stored, duplicates = await run_in_threadpool(
        rt.store.store, service.id, items, _client_key(request.scope)
    )
    if metrics := metrics_of(request.scope):
        metrics.feedback_items(service.id, items)
    _log_fields(request.scope).update(stored=stored, duplicates=duplicates)
    return JSONBody({"stored": stored, "duplicates": duplicates})


async def openapi(request: Request) -> Response:
    return JSONBody(openapi_document())


async def health(request: Request) -> Response:
    return JSONBody({"status": "ok"})


# -- authentication ------------------------------------------------------------------


class JwtAuthMiddleware:
    """Requires a trusted client's JWT on every ``/cds-services`` and ``/fhir`` endpoint
    (401 otherwise)."""

    PROTECTED = ("/cds-services", "/fhir")

    def __init__(self, app: ASGIApp, public_url: str | None, required: bool):
        self.app = app
        self.public_url = public_url
        self.required = required

    def audience(self, scope: Scope) -> str:
        """The JWT ``aud`` expected: the public URL plus the path, never a URL built
        from the request's Host or X-Forwarded-* headers (check_serving requires it)."""
        assert self.public_url, "production mode runs only with a public URL"
        path: str = scope["path"]
        return self.public_url + path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        protected = scope["type"] == "http" and any(
            path == p or path.startswith(p + "/") for p in self.PROTECTED
        )
        app = scope.get("app")
        runtime: Runtime | None = getattr(app.state, "runtime", None) if app else None
        authenticator = runtime.authenticator if runtime else None
        if not protected or not self.required:
            await self.app(scope, receive, send)
            return
        if authenticator is None:  # startup did not run: never serve unauthenticated
            await outcome_response(503, "service not ready")(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            client = await authenticator.authenticate(
                headers.get("authorization"), self.audience(scope)
            )
        except ServiceError as exc:  # the replay cache's database is unavailable
            await exc.response()(scope, receive, send)
            return
        except AuthError as exc:
            if metrics := metrics_of(scope):
                metrics.auth_failure(exc.reason)
            # warning: a client shows nothing for a 401 ("No recommendations"), so an
            # integrator must see it (a discovery URL spelt other than --public-url, say)
            log.warning(
                "authentication failed",
                extra={
                    "event": "auth_failed",
                    "reason": exc.reason,
                    "iss": exc.iss,
                    "jti": exc.jti,
                },
            )
            response = outcome_response(
                401, "authentication required", headers={"WWW-Authenticate": "Bearer"}
            )
            await response(scope, receive, send)
            return
        _log_fields(scope).update(iss=client.iss, jti=client.jti, tenant=client.tenant)
        scope["state"]["client"] = client
        await self.app(scope, receive, send)


class TrailingSlashMiddleware:
    """Serves ``/cds-services/`` as ``/cds-services`` (and so on) directly.

    A 307 to the other form makes a browser re-send the JWT, whose ``aud`` names the
    first URL, to the second one: a 401. It runs after authentication, which checks
    ``aud`` against the URL the client used.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
            if "raw_path" in scope:
                scope["raw_path"] = scope["raw_path"].rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


# -- assembly ------------------------------------------------------------------------


def routes(config: ServiceConfig) -> list[BaseRoute]:
    out: list[BaseRoute] = [
        Route("/cds-services", discovery, methods=["GET"]),
        Route("/cds-services/{service_id}", call_service, methods=["POST"]),
        Route("/cds-services/{service_id}/feedback", feedback, methods=["POST"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        *fhir_routes(),
    ]
    if config.demo_enabled:
        out.extend(demo_routes())
    return out


def load_trust(config: ServiceConfig) -> TrustFile | None:
    """The trust file, or None in insecure-dev mode; ConfigError if it is required and bad."""
    if config.insecure_dev:
        check_serving(config)
        return None
    if not config.trust_file:
        raise ConfigError(
            "no trust file: pass --trust FILE (or set CDS_BACKPAIN_TRUST), "
            "or --insecure-dev for development"
        )
    trust = load_trust_file(config.trust_file)
    check_serving(config)
    return trust


def create_app(config: ServiceConfig) -> Starlette:
    """The service as an ASGI app; raises ConfigError for an unusable configuration."""
    configure_logging(config.log_level)
    trust = load_trust(config)
    settings = service_settings(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if config.insecure_dev:
            log.warning(INSECURE_WARNING, extra={"event": "insecure_dev"})
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(config.fhir_timeout),
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=config.fhir_max_connections, max_keepalive_connections=10
            ),
        )
        engine = await run_in_threadpool(open_database, config.database_url)
        unwritable = await run_in_threadpool(check_writable, engine)
        if unwritable:
            log.error(
                "the database cannot be written: hooks and feedback would answer 503",
                extra={"event": "database_unwritable", "db_error": unwritable},
            )
            raise ConfigError(f"the database {config.database_url} cannot be written")
        authenticator = None
        if trust is not None:
            authenticator = Authenticator(
                config, trust, KeyStore(http, config.jwks_cache_seconds), ReplayCache(engine)
            )
        app.state.runtime = Runtime(
            config=config,
            http=http,
            fetcher=FhirFetcher(
                http,
                max_pages=config.fhir_max_pages,
                max_resources=config.fhir_max_resources,
                timeout=config.fhir_timeout,
                max_bytes=config.fhir_max_response_bytes,
                per_server=config.fhir_max_connections_per_server,
                call_deadline=config.fhir_call_deadline,
            ),
            store=FeedbackStore(engine),
            authenticator=authenticator,
            knowledge=await run_in_threadpool(_knowledge, settings),
            settings=settings,
            trust=trust,
        )
        await run_in_threadpool(_warm_up, app.state.runtime)
        log.info("service ready", extra={"event": "ready"})
        try:
            yield
        finally:
            await http.aclose()
            engine.dispose()

    metrics = Metrics()
    middleware = [
        Middleware(SettingsMiddleware, settings=settings),
        Middleware(ErrorGuardMiddleware),
        Middleware(MetricsMiddleware, metrics=metrics),
        Middleware(AccessLogMiddleware),
    ]
    if config.cors_origins:
        middleware.append(Middleware(CdsCorsMiddleware, origins=config.cors_origins))
    middleware += [
        Middleware(
            OriginCheckMiddleware, origins=config.cors_origins, loopback_only=config.insecure_dev
        ),
        Middleware(JwtAuthMiddleware, public_url=config.public_url, required=trust is not None),
        Middleware(
            BodySizeLimitMiddleware, max_bytes=config.max_body_bytes, timeout=config.body_timeout
        ),
        Middleware(TrailingSlashMiddleware),
    ]
    app = Starlette(
        routes=[*routes(config), Route("/metrics", metrics.endpoint, methods=["GET"])],
        middleware=middleware,
        exception_handlers={
            ServiceError: service_error_handler,
            HTTPException: http_exception_handler,
            Exception: server_error_handler,
        },
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    return app


#: A synthetic patient evaluated once at start-up (one resource of each type the
#: templates fetch, no clinical codes), so the first real call is not slower.
_SUBJECT = {"reference": "Patient/warm-up"}
WARM_UP_INPUT = [
    {"resourceType": "Patient", "id": "warm-up", "birthDate": "1980-01-01"},
    {"resourceType": "Condition", "id": "w1", "subject": _SUBJECT, "code": {"text": "warm-up"}},
    {
        "resourceType": "Observation",
        "id": "w2",
        "status": "final",
        "subject": _SUBJECT,
        "code": {"text": "warm-up"},
        "valueBoolean": True,
    },
    {
        "resourceType": "MedicationRequest",
        "id": "w3",
        "status": "active",
        "intent": "order",
        "subject": _SUBJECT,
        "medicationCodeableConcept": {"text": "warm-up"},
    },
    {
        "resourceType": "MedicationStatement",
        "id": "w4",
        "status": "active",
        "subject": _SUBJECT,
        "medicationCodeableConcept": {"text": "warm-up"},
    },
    {
        "resourceType": "Procedure",
        "id": "w6",
        "status": "completed",
        "subject": _SUBJECT,
        "code": {"text": "warm-up"},
    },
    {
        "resourceType": "ServiceRequest",
        "id": "w5",
        "status": "draft",
        "intent": "order",
        "subject": _SUBJECT,
        "code": {"text": "warm-up"},
    },
]


def _knowledge(settings: Settings) -> Knowledge:
    """Load and verify the knowledge base (a broken one stops the start)."""
    from ..kb.loader import load_knowledge

    return load_knowledge(settings.knowledge_root)


def _warm_up(rt: Runtime) -> None:
    """Run the engine once before the first call, so the first real call is not slower."""
    from .. import evaluate

    evaluate(
        WARM_UP_INPUT, now="2026-01-01T00:00:00Z", knowledge=rt.knowledge, settings=rt.settings
    )


def service_settings(config: ServiceConfig, environ: dict[str, str] | None = None) -> Settings:
    """The settings the service runs with: the environment's (read once, here), with the
    configuration's ``canonical_base`` over ``$CDS_BACKPAIN_CANONICAL_BASE``."""
    settings = Settings.from_env(environ)
    if config.canonical_base:
        settings = replace(settings, canonical_base=config.canonical_base)
    return settings


class SettingsMiddleware:
    """Puts the service's settings in force for each request (what the conformance
    resources and knowledge artifacts are rendered with), since no code of the library
    reads the environment."""

    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with applied(self.settings):
            await self.app(scope, receive, send)


def app_from_env() -> Starlette:
    """uvicorn factory for ``cds-backpain serve`` (configuration from the environment)."""
    return create_app(config_from_env())
