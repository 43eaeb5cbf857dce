"""No request produces an "Exception in ASGI application" traceback (issue 12): requests
that once crashed a handler are sent to every service process of the session, and then
every service log is read whole (so it also covers all earlier tests of the session)."""

from __future__ import annotations

import json

from service_support import example_resources, hook_request, make_token

PV = "/cds-services/lbp-patient-view"
TRACEBACK_MARKERS = ("Exception in ASGI application", "Traceback (most recent call last)")


def _once_crashing_requests(svc) -> list[tuple[str, bytes, dict[str, str]]]:
    body = json.dumps(hook_request("patient-view", example_resources("02-")))
    feedback = '{"feedback":[{"card":"c","outcome":"overridden","outcomeTimestamp":"%s"}]}'
    return [
        (PV, body.replace('"patient-view"', '"patient-view\\udc00"', 1).encode(), {}),
        (PV + "/feedback", (feedback % "0001-01-01T00:00:00+01:00").encode(), {}),
        (PV + "/feedback", (feedback % "9999-12-31T23:59:59-05:00").encode(), {}),
        (PV, body.encode(), {"Content-Type": "text/plain"}),
        (PV, b"[" * 100_000, {}),
        (PV, b'{"hook": "\xff\xfe"}', {}),
    ]


def _send_all(svc) -> None:
    for path, content, headers in _once_crashing_requests(svc):
        h = {"Content-Type": "application/json", **headers}
        if svc.keys:
            h["Authorization"] = f"Bearer {make_token(svc.keys.ec, svc.url + path)}"
        r = svc.client.post(svc.url + path, content=content, headers=h)
        assert r.status_code < 500, (path, r.status_code, r.text[:300])
    if svc.keys:  # a signed token whose exp is a numeric string
        token = make_token(svc.keys.ec, svc.url + "/cds-services", exp="9999999999")
        r = svc.client.get(svc.url + "/cds-services", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401


def test_no_request_produces_an_exception_traceback(service, dev_service, hardened):
    for svc in (service, dev_service, hardened):
        _send_all(svc)
    for svc in (service, dev_service, hardened):
        text = svc.log.read_text()
        found = [m for m in TRACEBACK_MARKERS if m in text]
        assert not found, (svc.url, found, text[-3000:])
