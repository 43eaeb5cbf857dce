"""FHIR OperationOutcome bodies for every non-2xx answer."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._errors import CdsBackpainError

log = logging.getLogger("cds_backpain.service")

#: The FHIR issue-type code used for each HTTP status we answer with.
ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    408: "timeout",
    412: "incomplete",
    413: "too-costly",
    415: "not-supported",
    500: "exception",
    502: "transient",
    503: "transient",
}


def issue(
    diagnostics: str,
    *,
    code: str = "invalid",
    severity: str = "error",
    expression: Iterable[str] = (),
) -> dict[str, Any]:
    """One OperationOutcome issue."""
    out: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    expr = [e for e in expression if e]
    if expr:
        out["expression"] = expr
    return out


def operation_outcome(issues: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """An OperationOutcome resource (at least one issue)."""
    listed = [dict(i) for i in issues]
    if not listed:
        listed = [issue("unspecified error", code="exception")]
    return {"resourceType": "OperationOutcome", "issue": listed}


class JSONBody(JSONResponse):
    """JSON without ASCII escaping and with a stable compact layout."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ServiceError(CdsBackpainError):
    """An answer other than 200: HTTP status plus an OperationOutcome (a
    :class:`~cds_backpain.CdsBackpainError`, like every error the package raises on purpose)."""

    def __init__(
        self,
        status: int,
        outcome: dict[str, Any],
        headers: Mapping[str, str] | None = None,
    ):
        self.status = status
        self.outcome = outcome
        self.headers = dict(headers or {})
        first = (outcome.get("issue") or [{}])[0].get("diagnostics", "")
        super().__init__(f"{status}: {first}")

    @classmethod
    def simple(
        cls, status: int, diagnostics: str, *, expression: Iterable[str] = (), **kw: Any
    ) -> ServiceError:
        code = ISSUE_CODE.get(status, "processing")
        return cls(
            status, operation_outcome([issue(diagnostics, code=code, expression=expression)]), **kw
        )

    def response(self) -> Response:
        return JSONBody(self.outcome, status_code=self.status, headers=self.headers)


def outcome_response(
    status: int, diagnostics: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A bare OperationOutcome answer with one issue."""
    return ServiceError.simple(status, diagnostics, headers=headers).response()


async def service_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return exc.response()


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    text = {
        404: "no such endpoint",
        405: "method not allowed on this endpoint",
        413: "request body too large",
    }.get(exc.status_code, str(exc.detail))
    return outcome_response(exc.status_code, text, headers=exc.headers)


async def server_error_handler(request: Request, exc: Exception) -> Response:
    # Never a stack trace or exception text in the body.
    return outcome_response(500, "internal error while processing the request")


class StatusRecorder:
    """An ASGI ``send`` that passes messages on and remembers the response status
    (500 until the app starts a response) and whether a response started."""

    def __init__(self, send: Send):
        self.send = send
        self.status = 500
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.started = True
        await self.send(message)


class ErrorGuardMiddleware:
    """The safety net around every route and middleware of the service (inside only
    Starlette's own): an exception no handler answered becomes a logged 500
    (exception type and where, never its message) and is not re-raised, so no request
    ends in the server's "Exception in ASGI application" traceback."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = StatusRecorder(send)
        try:
            await self.app(scope, receive, tracked)
        except ClientDisconnect:  # the client went away mid-body: nobody to answer
            log.info("client disconnected", extra={"event": "client_disconnected"})
        except Exception:
            log.error("unhandled error", exc_info=True, extra={"event": "unhandled_error"})
            if not tracked.started:
                response = outcome_response(500, "internal error while processing the request")
                with contextlib.suppress(OSError):  # the client went away
                    await response(scope, receive, send)
