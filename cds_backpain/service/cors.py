"""CORS for browser-based CDS clients (checklist 43), on Starlette's CORSMiddleware.

Preflight ``OPTIONS`` on discovery, service and feedback URLs is answered without a JWT
(browsers never send credentials on preflight). Allowed origins come from the
configuration (``*`` for any: CDS clients send no cookies). A refused preflight gets an
OperationOutcome instead of Starlette's plain-text body.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

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
