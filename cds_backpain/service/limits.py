"""Request body limits, enforced before parsing: size (413), time to arrive (408), and
text that is not Unicode (lone surrogate escapes, 400); and the evaluation size limit
(413). All answers carry an OperationOutcome.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ServiceError, StatusRecorder, outcome_response

if TYPE_CHECKING:
    from ..kb.valuesets import ValueSetIndex


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(Exception):
    pass


class BodySizeLimitMiddleware:
    """Refuse bodies above ``max_bytes`` (by ``Content-Length`` up front, else while
    reading) and bodies that have not fully arrived ``timeout`` seconds after the request
    started (a client trickling bytes would otherwise hold a connection for ever)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float = 30.0):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

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
                await self._refuse(413, f"request body larger than {self.max_bytes} bytes", scope)(
                    scope, receive, send
                )
                return

        received = 0
        complete = False
        deadline = time.monotonic() + self.timeout

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:  # after the body: disconnect notices, no deadline
                return await receive()
            try:
                with anyio.fail_after(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlow from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
                complete = not message.get("more_body", False)
            return message

        tracked = StatusRecorder(send)
        try:
            await self.app(scope, limited_receive, tracked)
        except BodyTooLarge:
            if tracked.started:
                raise
            await self._refuse(413, f"request body larger than {self.max_bytes} bytes", scope)(
                scope, receive, send
            )
        except BodyTooSlow:
            if tracked.started:
                raise
            await self._refuse(
                408, f"the request body did not arrive within {self.timeout:g} s", scope
            )(scope, receive, send)

    @staticmethod
    def _refuse(status: int, text: str, scope: Scope) -> Any:
        state = scope.get("state")
        if isinstance(state, dict) and isinstance(state.get("log"), dict):
            state["log"]["reason"] = "body too large" if status == 413 else "body too slow"
        return outcome_response(status, text, headers={"Connection": "close"})


#: A ``\\uD800``-``\\uDFFF`` escape somewhere in JSON text (a cheap pre-check).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def check_unicode(raw: bytes, document: Any) -> None:
    """400 if the parsed JSON holds a lone surrogate (``"\\ud800"`` unpaired): such text
    is not Unicode and cannot be stored, logged or sent on as UTF-8. Only bodies whose
    bytes contain a surrogate escape are walked."""
    if _SURROGATE_ESCAPE.search(raw) is None:
        return
    where = _lone_surrogate(document, "")
    if where is not None:
        raise ServiceError.simple(
            400,
            "the body contains a lone UTF-16 surrogate escape (\\uD800-\\uDFFF unpaired); "
            "JSON text must be valid Unicode",
            expression=[where or "$"],
        )


def _bad(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _lone_surrogate(value: Any, path: str) -> str | None:
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _bad(item):
                return where
        elif isinstance(item, dict):
            for k, v in item.items():
                if _bad(k):
                    return f"{where}.{k.encode('utf-8', 'replace').decode()}".lstrip(".")
                stack.append((v, f"{where}.{k}".lstrip(".")))
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return None


# ----------------------------------------------------------------- evaluation size

#: Most resources of one hook call (prefetch, fetched data and draft orders together) that
#: the rules read, i.e. that are validated in full with their FHIR model. Measured on the
#: shared 2-core VM (bench/README.md, scaling; tests/service/test_evaluation_limit.py):
#: 0.2-1 ms each depending on the load, so one evaluation at this bound takes 0.2-1 s.
#: Resources no value set knows (labs, other problems) are screened for a fraction of that
#: and bounded only by ``Limits.max_entries`` (5,000).
MAX_RELEVANT_RESOURCES = 1_000


def refuse_costly(
    resources: Sequence[Any] | dict[str, Any], max_relevant: int, valuesets: ValueSetIndex
) -> None:
    """Raise 413 (``too-costly``) when more than ``max_relevant`` of ``resources`` (a list,
    or a Bundle's entries) are relevant to the rules (their codes in ``valuesets``, those
    of the knowledge the service evaluates with): checked before any is validated, so
    no worker is held."""
    from ..ingest import count_relevant

    if isinstance(resources, dict):
        entries = resources.get("entry")
        entries = entries if isinstance(entries, list) else []
        resources = [e.get("resource") if isinstance(e, dict) else e for e in entries]
    if len(resources) <= max_relevant:
        return
    relevant = count_relevant(resources, valuesets)
    if relevant > max_relevant:
        raise ServiceError.simple(
            413,
            f"the call brings {relevant} resources the rules read: exceeds limit "
            f"max_relevant_resources={max_relevant} (narrow the prefetch, e.g. by date)",
        )
