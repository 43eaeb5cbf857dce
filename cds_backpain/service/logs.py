"""Structured (JSON lines) logging: one access record per request, no secrets.

Records carry method, path, status, duration, service id, hookInstance, the client's
``iss``/``jti``/``tenant`` and the patient id. Never an access token, JWT, header value
or clinical data. Every string that may come from a client is clipped to
:data:`MAX_VALUE` characters, so a forged token's megabyte ``iss`` is not a megabyte line.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import StatusRecorder

log = logging.getLogger("cds_backpain.service.access")

#: ``LogRecord`` attributes copied into the JSON line when set with ``extra=``.
FIELDS = (
    "event",
    "method",
    "path",
    "status",
    "ms",
    "service",
    "hook_instance",
    "iss",
    "jti",
    "tenant",
    "patient",
    "cards",
    "system_actions",
    "data",
    "reason",
    "url",
    "error",
    "stored",
    "duplicates",
    "where",
    "origin",
    "client",
    "db_error",
)
#: Longest logged string value (longer ones are cut and marked with an ellipsis).
MAX_VALUE = 200


def clip_value(value: Any, limit: int = MAX_VALUE) -> Any:
    """``value`` with every string in it cut to ``limit`` characters (lists and mappings
    walked one level deep, and cut to ``limit`` items)."""
    if isinstance(value, str):
        text = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return text if len(text) <= limit else text[: limit - 1] + "…"
    if isinstance(value, dict):
        items = list(value.items())[:limit]
        return {clip_value(str(k), limit): clip_value(v, limit) for k, v in items}
    if isinstance(value, list | tuple):
        return [clip_value(v, limit) for v in value[:limit]]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": clip_value(record.getMessage(), 2000),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = clip_value(value)
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type and where it happened, never its message or locals
            # (they may hold request data).
            out["exception"] = record.exc_info[0].__name__
            out["trace"] = [
                f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}:{f.name}"
                for f in traceback.extract_tb(record.exc_info[2])[-8:]
            ]
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr for the service's loggers (idempotent)."""
    root = logging.getLogger("cds_backpain")
    root.setLevel(level.upper())
    if not any(getattr(h, "_cds_json", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._cds_json = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.propagate = False
    # httpx logs request URLs at INFO; keep it quiet (URLs carry patient ids only, but
    # nothing of it is needed in service logs).
    logging.getLogger("httpx").setLevel(logging.WARNING)


def uvicorn_log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's own loggers in the same JSON format (its access log is replaced by ours)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


class AccessLogMiddleware:
    """Logs one JSON record per HTTP request; handlers add fields to ``scope['state']``."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        scope.setdefault("state", {})
        fields: dict[str, Any] = {}
        scope["state"]["log"] = fields
        sent = StatusRecorder(send)
        try:
            await self.app(scope, receive, sent)
        finally:
            log.info(
                "request",
                extra={
                    "event": "request",
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": sent.status,
                    "ms": round((time.perf_counter() - start) * 1000, 1),
                    **fields,
                },
            )
