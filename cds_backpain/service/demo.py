"""A page a clinician can look at: the bundled examples through patient-view, as cards.

Served at ``/`` and ``/demo`` when the demo is on (by default only with
``--insecure-dev``): the page lists the bundled ``fhir_examples``, sends the chosen one
to ``lbp-patient-view`` as a real CDS Hooks call (the example's resources as prefetch),
and renders the returned cards the way an EHR would.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..examples import load_examples
from .errors import JSONBody, ServiceError

STATIC = Path(__file__).with_name("static")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")


@cache
def _catalog() -> dict[str, dict[str, Any]]:
    out = {}
    for ex in load_examples():
        try:
            bundle = json.loads(ex.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out[ex.name] = {
            "name": ex.name,
            "title": ex.expected.get("title", ex.name),
            "now": ex.now,
            "red_flag": bool(ex.expected.get("red_flag", False)),
            "bundle": bundle,
        }
    return out


async def index(request: Request) -> Response:
    return RedirectResponse(url=str(request.url_for("demo")), status_code=307)


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "demo.html", media_type="text/html")


async def examples(request: Request) -> Response:
    listed = [{k: v for k, v in e.items() if k != "bundle"} for e in _catalog().values()]
    runtime = getattr(request.app.state, "runtime", None)
    now = runtime.config.now if runtime is not None else None
    return JSONBody({"examples": listed, "evaluation_instant": now})


async def example(request: Request) -> Response:
    name = request.path_params["name"]
    entry = _catalog().get(name) if _NAME.match(name) else None
    if entry is None:
        raise ServiceError.simple(404, "no such example")
    return JSONBody(entry["bundle"])


def demo_routes() -> list[Route | Mount]:
    return [
        Route("/", index, methods=["GET"]),
        Route("/demo", page, methods=["GET"], name="demo"),
        Route("/demo/examples", examples, methods=["GET"]),
        Route("/demo/examples/{name}", example, methods=["GET"]),
        Mount("/demo/static", app=StaticFiles(directory=STATIC), name="demo-static"),
    ]
