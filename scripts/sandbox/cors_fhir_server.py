"""The test FHIR server (tests/service/fhir_server.py) readable by a browser page.

The CDS Hooks sandbox is a single-page app: it reads the FHIR server itself (metadata,
Patient, and each prefetch template, first as ``POST [type]/_search``, then as GET).
This adds CORS headers, answers preflights and serves ``POST [type]/_search`` (form body),
reading every request body so keep-alive connections stay in step. Loopback only.

    python scripts/sandbox/cors_fhir_server.py --port 18302 --data resources.json --token unused
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "service"))
import fhir_server as fs

_end_headers = fs.Handler.end_headers
_do_post = fs.Handler.do_POST


def _cors_end_headers(self: fs.Handler) -> None:
    self.send_header("Access-Control-Allow-Origin", "*")
    self.send_header("Access-Control-Allow-Headers", "*")
    self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
    _end_headers(self)


def _do_options(self: fs.Handler) -> None:
    self.send_response(204)
    self.send_header("Content-Length", "0")
    self.end_headers()


def _do_post_search(self: fs.Handler) -> None:
    n = int(self.headers.get("Content-Length") or 0)
    body = self.rfile.read(n).decode() if n else ""
    if self.path.endswith("/_search"):
        self.path = self.path.removesuffix("/_search") + ("?" + body if body else "")
        self.do_GET()
    else:
        _do_post(self)


fs.Handler.end_headers = _cors_end_headers  # type: ignore[method-assign]
fs.Handler.do_OPTIONS = _do_options  # type: ignore[attr-defined]
fs.Handler.do_POST = _do_post_search  # type: ignore[method-assign]

if __name__ == "__main__":
    fs.main()
