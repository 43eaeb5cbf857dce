"""Request bodies above the configured size get 413 with an OperationOutcome."""

from __future__ import annotations

from conformance import check_outcome
from service_support import MAX_BODY


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
