"""CORS for browser-based CDS clients, on Starlette's CORSMiddleware.

Preflight ``OPTIONS`` on discovery, service and feedback URLs is answered without a JWT
(browsers never send credentials on preflight). Allowed origins come from the
configuration (``*`` for any: CDS clients send no cookies). A refused preflight gets an
OperationOutcome instead of Starlette's plain-text body.

:class:`OriginCheckMiddleware` refuses state-changing requests from foreign pages in every
mode (in insecure-dev mode there is no JWT to stop a cross-site POST).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import outcome_response

log = logging.getLogger("cds_backpain.service")

ALLOW_METHODS = ("GET", "POST", "OPTIONS")
ALLOW_HEADERS = ("Authorization", "Content-Type")


class CdsCorsMiddleware(CORSMiddleware):
    def __init__(self, app: ASGIApp, origins: Collection[str]):
        super().__init__(
            app,
            allow_origins=tuple(origins),
            allow_methods=ALLOW_METHODS,
            allow_headers=ALLOW_HEADERS,
            allow_credentials=False,
            max_age=600,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return Response(status_code=204, headers=_cors_headers(response))
        origin = request_headers.get("origin", "")
        allowed = "any" if self.allow_all_origins else ", ".join(self.allow_origins)
        why = (
            f"origin {origin} is not allowed (allowed: {allowed})"
            if not self.is_allowed_origin(origin)
            else "method or headers not allowed"
        )
        log.warning(
            "CORS preflight refused: %s", why, extra={"event": "cors_refused", "origin": origin}
        )
        return outcome_response(
            403, f"CORS preflight refused: {why}", headers=_cors_headers(response)
        )


def split_origins(values: Iterable[str]) -> tuple[str, ...]:
    """Origins from repeated options and comma- or space-separated lists, without a
    trailing slash (browsers send ``http://localhost:8080``, never with a path)."""
    out: list[str] = []
    for value in values:
        for part in value.replace(",", " ").split():
            origin = part.rstrip("/")
            if origin and origin not in out:
                out.append(origin)
    return tuple(out)


def _cors_headers(response: Response) -> dict[str, str]:
    return {
        k: v
        for k, v in response.headers.items()
        if k.lower().startswith("access-control-") or k.lower() == "vary"
    }


_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def _host_name(host: str) -> str:
    """``host`` of a ``Host`` header value without its port (``[::1]:8080`` -> ``[::1]``)."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class OriginCheckMiddleware:
    """Refuse (403) a state-changing request that a browser sent from a foreign page: its
    ``Origin`` is neither the service's own nor an allowed CORS origin. With
    ``loopback_only`` (insecure-dev mode) the ``Host`` must also be a loopback name, so a
    DNS-rebound name cannot reach the unauthenticated service."""

    def __init__(self, app: ASGIApp, origins: Collection[str], loopback_only: bool):
        self.app = app
        self.origins = frozenset(origins)
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.loopback_only and _host_name(host.lower()) not in _LOOPBACK_NAMES:
            await outcome_response(403, "development mode answers loopback hosts only")(
                scope, receive, send
            )
            return
        origin = headers.get("origin")
        if scope["method"] in _UNSAFE_METHODS and origin is not None:
            own = f"{scope.get('scheme', 'http')}://{host}"
            if origin != own and origin not in self.origins and "*" not in self.origins:
                await outcome_response(403, "cross-origin request refused")(scope, receive, send)
                return
        await self.app(scope, receive, send)
