"""CORS for browser-based CDS clients, on Starlette's CORSMiddleware.

Preflight ``OPTIONS`` on discovery, service and feedback URLs is answered without a JWT
(browsers never send credentials on preflight). Allowed origins come from the
configuration (``*`` for any: CDS clients send no cookies). A refused preflight gets an
OperationOutcome instead of Starlette's plain-text body.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from .errors import outcome_response

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
        return outcome_response(403, "CORS preflight refused", headers=_cors_headers(response))


def _cors_headers(response: Response) -> dict[str, str]:
    return {
        k: v
        for k, v in response.headers.items()
        if k.lower().startswith("access-control-") or k.lower() == "vary"
    }
