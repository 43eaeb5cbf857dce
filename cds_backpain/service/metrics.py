"""Prometheus metrics of the CDS Hooks service, served at ``GET /metrics``.

Counters and histograms (docs/operations.md lists them with example queries):

- ``cds_backpain_requests_total{endpoint, hook, status}`` and
  ``cds_backpain_request_duration_seconds{endpoint, hook}``: every HTTP request;
  ``endpoint`` is ``hook``, ``feedback``, ``discovery``, ``health``, ``metrics``, ``demo``
  or ``other``; ``hook`` the CDS service id (empty when none).
- ``cds_backpain_cards_total{hook, indicator}``: cards returned.
- ``cds_backpain_red_flag_conclusions_total{hook, category}``: red-flag conclusions.
- ``cds_backpain_prefetch_fallbacks_total{hook, key}``: prefetch keys the service had to
  fetch from the client's FHIR server.
- ``cds_backpain_auth_failures_total{reason}``: rejected JWTs, by reason.
- ``cds_backpain_feedback_total{hook, outcome}``: feedback items received.

Labels hold only bounded vocabularies (service ids, indicators, categories, prefetch
keys, reason slugs), never patient data. With several workers each process counts its
own; ``cds-backpain serve --workers N`` sets ``PROMETHEUS_MULTIPROC_DIR`` so that
``/metrics`` reports the sum over the workers.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .discovery import SERVICES
from .errors import StatusRecorder

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SLUG = re.compile(r"[^a-z0-9]+")


def reason_slug(reason: str) -> str:
    """A bounded label for an auth failure reason (quoted values dropped)."""
    text = re.sub(r"'[^']*'", "", reason.lower())
    return _SLUG.sub("_", text).strip("_")[:48] or "unknown"


def _route(path: str) -> tuple[str, str]:
    """``(endpoint, hook)`` labels of a request path (unknown ids are not echoed)."""
    parts = path.strip("/").split("/")
    if parts[0] == "cds-services":
        if len(parts) == 1:
            return "discovery", ""
        hook = parts[1] if parts[1] in SERVICES else "unknown"
        if len(parts) == 2:
            return "hook", hook
        return ("feedback" if parts[2:] == ["feedback"] else "other"), hook
    known = {"healthz": "health", "metrics": "metrics", "demo": "demo", "": "demo"}
    return known.get(parts[0], "other"), ""


class Metrics:
    """The service's metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        # in multiprocess mode values live in files; the registry only collects them
        self.registry = CollectorRegistry()
        reg = None if self.multiprocess else self.registry

        def counter(name: str, doc: str, labels: Iterable[str]) -> Counter:
            return Counter(name, doc, list(labels), registry=reg)

        self.requests = counter(
            "cds_backpain_requests", "HTTP requests.", ("endpoint", "hook", "status")
        )
        self.duration = Histogram(
            "cds_backpain_request_duration_seconds",
            "Time from request to the end of the response.",
            ["endpoint", "hook"],
            buckets=_BUCKETS,
            registry=reg,
        )
        self.cards = counter("cds_backpain_cards", "Cards returned.", ("hook", "indicator"))
        self.red_flags = counter(
            "cds_backpain_red_flag_conclusions",
            "Red-flag conclusions returned.",
            ("hook", "category"),
        )
        self.fallbacks = counter(
            "cds_backpain_prefetch_fallbacks",
            "Prefetch keys fetched from the client's FHIR server.",
            ("hook", "key"),
        )
        self.auth_failures = counter(
            "cds_backpain_auth_failures", "Rejected client JWTs.", ("reason",)
        )
        self.feedback = counter(
            "cds_backpain_feedback", "Feedback items received.", ("hook", "outcome")
        )
        if self.multiprocess:
            from prometheus_client import multiprocess

            # prometheus_client leaves this constructor unannotated
            multiprocess.MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]

    def hook_call(
        self,
        hook: str,
        cards: Iterable[Mapping[str, Any]],
        red_flag_categories: Iterable[str],
        origin: Mapping[str, str],
    ) -> None:
        """Count one answered hook call: its cards, red flags and FHIR fallbacks."""
        for card in cards:
            self.cards.labels(hook, str(card.get("indicator"))).inc()
        for category in red_flag_categories:
            self.red_flags.labels(hook, category).inc()
        for key, how in origin.items():
            if "fhir" in how:
                self.fallbacks.labels(hook, key).inc()

    def feedback_items(self, hook: str, items: Iterable[Mapping[str, Any]]) -> None:
        for item in items:
            self.feedback.labels(hook, str(item.get("outcome"))).inc()

    def auth_failure(self, reason: str) -> None:
        self.auth_failures.labels(reason_slug(reason)).inc()

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def metrics_of(scope: Scope) -> Metrics | None:
    """The app's :class:`Metrics` (None before the app set them up)."""
    app = scope.get("app")
    return getattr(app.state, "metrics", None) if app is not None else None


class MetricsMiddleware:
    """Counts and times every HTTP request by endpoint, hook and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        sent = StatusRecorder(send)
        try:
            await self.app(scope, receive, sent)
        finally:
            endpoint, hook = _route(scope.get("path", ""))
            self.metrics.requests.labels(endpoint, hook, str(sent.status)).inc()
            self.metrics.duration.labels(endpoint, hook).observe(time.perf_counter() - start)
