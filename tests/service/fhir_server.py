"""A tiny FHIR R4 server for the service tests (stdlib only), run as a subprocess.

    python tests/service/fhir_server.py --port N --data resources.json --token SECRET
        [--jwks jwks.json]

Serves the resources of ``--data`` (a JSON array) under several bases that behave
differently, so one process covers the FHIR-fallback matrix:

* ``/fhir``   needs ``Authorization: Bearer SECRET``; searches page by 50.
* ``/paged``  needs the token; searches page by 2 (``next`` links on the same base).
* ``/open``   no authentication (the sandbox's open server).
* ``/slow``   answers after 3 s (timeouts).
* ``/error``  answers 500.
* ``/evil``   first search page links ``next`` to another origin (must not be followed).
* ``/trickle`` no authentication; answers 200 and then one body byte every 0.3 s.
* ``/huge``   no authentication; searches answer ~400 kB (a padded searchset).
* ``/deep``   no authentication; searches answer JSON nested 40,000 levels deep.
* ``/badlink`` no authentication; searches link ``next`` to a URL that is not one.

``GET /jwks/b.json`` serves ``--jwks`` (``POST /__jwks?up=0`` makes it answer 503 until
``?up=1``); ``GET /__requests`` lists the requests seen (path and Authorization header);
``POST /__reset`` clears that list.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

PAGE = {"fhir": 50, "paged": 2, "open": 50, "slow": 50, "evil": 2}
SPECIAL = {"trickle", "huge", "deep", "badlink"}
NEEDS_TOKEN = {"fhir", "paged", "slow", "error", "evil"}


class State:
    resources: ClassVar[list[dict]] = []
    token: str = ""
    jwks: dict | None = None
    jwks_up = True
    requests: ClassVar[list[dict]] = []
    lock = threading.Lock()


def _subject(res: dict) -> str | None:
    for name in ("subject", "patient"):
        ref = (res.get(name) or {}).get("reference")
        if isinstance(ref, str):
            return ref.rsplit("Patient/", 1)[-1] if "Patient/" in ref else ref
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: object, ctype: str = "application/fhir+json") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        if self.path.startswith("/__jwks"):
            State.jwks_up = parse_qs(urlsplit(self.path).query).get("up") != ["0"]
            self._send(200, {"ok": True}, "application/json")
        elif self.path == "/__reset":
            with State.lock:
                State.requests.clear()
            self._send(200, {"ok": True}, "application/json")
        else:
            self._send(405, {"resourceType": "OperationOutcome", "issue": []})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if url.path == "/__requests":
            with State.lock:
                self._send(200, list(State.requests), "application/json")
            return
        if url.path == "/jwks/b.json":
            if not State.jwks_up:
                self._send(503, {}, "application/json")
                return
            self._send(200 if State.jwks else 404, State.jwks or {}, "application/json")
            return
        with State.lock:
            State.requests.append(
                {"path": self.path, "authorization": self.headers.get("Authorization")}
            )
        if parts and parts[0] in SPECIAL:
            self._special(parts[0])
            return
        if not parts or parts[0] not in {*PAGE, "error"}:
            self._send(404, {"resourceType": "OperationOutcome", "issue": []})
            return
        base = parts[0]
        if base in NEEDS_TOKEN and self.headers.get("Authorization") != f"Bearer {State.token}":
            self._send(401, {"resourceType": "OperationOutcome", "issue": []})
            return
        if base == "slow":
            time.sleep(3)
        if base == "error":
            self._send(500, {"resourceType": "OperationOutcome", "issue": []})
            return
        rest = parts[1:]
        if rest == ["metadata"]:
            self._send(
                200,
                {
                    "resourceType": "CapabilityStatement",
                    "fhirVersion": "4.0.1",
                    "status": "active",
                    "kind": "instance",
                    "format": ["json"],
                },
            )
            return
        if len(rest) == 2:
            for res in State.resources:
                if res.get("resourceType") == rest[0] and res.get("id") == rest[1]:
                    self._send(200, res)
                    return
            self._send(404, {"resourceType": "OperationOutcome", "issue": []})
            return
        if len(rest) == 1:
            self._search(base, rest[0], parse_qs(url.query))
            return
        self._send(400, {"resourceType": "OperationOutcome", "issue": []})

    def _special(self, base: str) -> None:
        if base == "trickle":
            body = json.dumps({"resourceType": "Bundle", "type": "searchset"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(0.3)
            except OSError:
                pass
            return
        bundle: dict = {"resourceType": "Bundle", "type": "searchset", "total": 0}
        if base == "huge":
            bundle["meta"] = {"tag": [{"code": "x" * 1000} for _ in range(400)]}
        elif base == "badlink":
            bundle["link"] = [{"relation": "next", "url": "http://[\u00fc]/x?page=2"}]
        if base == "deep":
            data = (
                b'{"resourceType":"Bundle","type":"searchset","x":'
                + b"[" * 40_000
                + b"]" * 40_000
                + b"}"
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self._send(200, bundle)

    def _search(self, base: str, rtype: str, query: dict[str, list[str]]) -> None:
        patient = (query.get("patient") or [None])[0]
        page = int((query.get("_page") or ["0"])[0])
        size = PAGE[base]
        hits = [
            r
            for r in State.resources
            if r.get("resourceType") == rtype and (patient is None or _subject(r) == patient)
        ]
        chunk = hits[page * size : (page + 1) * size]
        host = self.headers.get("Host")
        bundle: dict = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(hits),
            "link": [{"relation": "self", "url": f"http://{host}{self.path}"}],
        }
        if chunk:
            bundle["entry"] = [
                {
                    "fullUrl": f"http://{host}/{base}/{rtype}/{r['id']}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in chunk
            ]
        if (page + 1) * size < len(hits):
            nxt = urlencode({"patient": patient or "", "_page": page + 1})
            origin = "http://attacker.invalid" if base == "evil" else f"http://{host}"
            bundle["link"].append({"relation": "next", "url": f"{origin}/{base}/{rtype}?{nxt}"})
        self._send(200, bundle)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--jwks")
    args = ap.parse_args()
    with open(args.data, encoding="utf-8") as f:
        State.resources = json.load(f)
    State.token = args.token
    if args.jwks:
        with open(args.jwks, encoding="utf-8") as f:
            State.jwks = json.load(f)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
