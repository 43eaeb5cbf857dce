"""Request body size limit, and the evaluation size limit (413 with an OperationOutcome)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ServiceError, outcome_response


class BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """Refuse bodies above ``max_bytes``: by ``Content-Length`` up front, else while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(scope, receive, send)
                return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = outcome_response(
            413, f"request body larger than {self.max_bytes} bytes", headers={"Connection": "close"}
        )
        await response(scope, receive, send)


# ----------------------------------------------------------------- evaluation size

#: Most resources of one hook call (prefetch, fetched data and draft orders together) that
#: the rules read, i.e. that are validated in full with their FHIR model. Measured on the
#: shared 2-core VM (bench/README.md, scaling; tests/service/test_evaluation_limit.py):
#: 0.2-1 ms each depending on the load, so one evaluation at this bound takes 0.2-1 s.
#: Resources no value set knows (labs, other problems) are screened for a fraction of that
#: and bounded only by ``Limits.max_entries`` (5,000).
MAX_RELEVANT_RESOURCES = 1_000


def refuse_costly(resources: Sequence[Any] | dict[str, Any], max_relevant: int) -> None:
    """Raise 413 (``too-costly``) when more than ``max_relevant`` of ``resources`` (a list,
    or a Bundle's entries) are relevant to the rules: checked before any is validated, so
    no worker is held."""
    from ..ingest.api import relevance_screen
    from ..ingest.unpack import Entry
    from ..kb.loader import load_knowledge

    if isinstance(resources, dict):
        entries = resources.get("entry")
        entries = entries if isinstance(entries, list) else []
        resources = [e.get("resource") if isinstance(e, dict) else e for e in entries]
    if len(resources) <= max_relevant:
        return
    screen = relevance_screen(load_knowledge().valuesets)
    relevant = sum(
        1
        for r in resources
        if not isinstance(r, dict)
        or not isinstance(r.get("resourceType"), str)
        or screen(Entry(r["resourceType"], r, r["resourceType"]))
    )
    if relevant > max_relevant:
        raise ServiceError.simple(
            413,
            f"the call brings {relevant} resources the rules read: exceeds limit "
            f"max_relevant_resources={max_relevant} (narrow the prefetch, e.g. by date)",
        )
