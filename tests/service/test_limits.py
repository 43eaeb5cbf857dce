"""Request bodies above the configured size get 413 with an OperationOutcome."""

from __future__ import annotations

import json

from conformance import check_outcome
from service_support import MAX_BODY, example_resources, hook_request


def test_declared_oversized_body_is_refused(service):
    big = b'{"hook": "patient-view", "pad": "' + b"x" * (MAX_BODY + 10) + b'"}'
    r = service.post(
        "/cds-services/lbp-patient-view", content=big, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    check_outcome(r.json())


def test_streamed_oversized_body_is_refused(service):
    def chunks():
        yield b'{"pad": "'
        for _ in range(40):
            yield b"y" * 10_000
        yield b'"}'

    path = "/cds-services/lbp-imaging-order-sign/feedback"
    r = service.client.post(
        service.url + path,
        content=chunks(),  # no Content-Length: chunked transfer
        headers={"Content-Type": "application/json", **service.auth(path)},
    )
    assert r.status_code == 413
    check_outcome(r.json())


def test_body_under_the_limit_is_read(service):
    r = service.post(
        "/cds-services/lbp-patient-view",
        content=b"{" + b" " * 1000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400  # parsed and validated, not refused for size


def _post_json_text(service, text: str):
    return service.post(
        "/cds-services/lbp-patient-view",
        content=text.encode(),
        headers={"Content-Type": "application/json"},
    )


def test_ambiguous_json_is_refused_not_guessed(service):
    """A key sent twice (which value did the EHR mean?) or NaN is a 400, never a guess."""
    body = json.dumps(hook_request("patient-view", example_resources("02-")))
    twice = body[:-1] + ', "hook": "patient-view"}'
    r = _post_json_text(service, twice)
    assert r.status_code == 400 and "twice" in r.text
    check_outcome(r.json())
    nan = body.replace('"context": {', '"context": {"score": NaN, ', 1)
    r = _post_json_text(service, nan)
    assert r.status_code == 400
    check_outcome(r.json())


def test_deeply_nested_prefetch_is_a_413(service):
    req = hook_request("patient-view", example_resources("02-"))
    deep: list = []
    for _ in range(80):
        deep = [deep]
    req["prefetch"]["patient"]["extension"] = [{"url": "https://x.org", "valueString": "a"}]
    req["prefetch"]["patient"]["_deep"] = deep
    r = _post_json_text(service, json.dumps(req))
    assert r.status_code == 413
    assert "max_depth" in r.text
    check_outcome(r.json())
