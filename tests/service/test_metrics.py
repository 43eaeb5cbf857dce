"""GET /metrics on the live service: Prometheus text an operator can scrape and query."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_support import example_resources, hook_request

from cds_backpain.service.metrics import reason_slug

PV = "lbp-patient-view"
TS = "2026-06-01T12:05:00.000Z"


def scrape(service) -> dict[tuple[str, frozenset], float]:
    r = httpx.get(service.url + "/metrics", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def delta(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture(scope="module")
def red_flag_call(service):
    """One cauda equina patient-view call, one feedback item and one call without a token."""
    before = scrape(service)
    r = service.call(PV, hook_request("patient-view", example_resources("09-")))
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    fb = {"feedback": [{"card": cards[0]["uuid"], "outcome": "overridden", "outcomeTimestamp": TS}]}
    assert service.post(f"/cds-services/{PV}/feedback", fb).status_code == 200
    assert service.call(PV, {}, token=False).status_code == 401
    return before, scrape(service), cards


def test_requests_are_counted_by_hook_and_status_and_timed(red_flag_call):
    before, after, _ = red_flag_call
    hook = {"endpoint": "hook", "hook": PV}
    assert delta(before, after, "cds_backpain_requests_total", **hook, status="200") == 1
    assert delta(before, after, "cds_backpain_requests_total", **hook, status="401") == 1
    assert delta(before, after, "cds_backpain_request_duration_seconds_count", **hook) == 2
    assert delta(before, after, "cds_backpain_request_duration_seconds_sum", **hook) > 0
    slowest = {**hook, "le": "+Inf"}
    assert delta(before, after, "cds_backpain_request_duration_seconds_bucket", **slowest) == 2


def test_cards_and_red_flags_are_counted(red_flag_call):
    before, after, cards = red_flag_call
    critical = sum(c["indicator"] == "critical" for c in cards)
    assert critical >= 1
    got = delta(before, after, "cds_backpain_cards_total", hook=PV, indicator="critical")
    assert got == critical
    flags = {"hook": PV, "category": "cauda_equina"}
    assert delta(before, after, "cds_backpain_red_flag_conclusions_total", **flags) == 1


def test_feedback_and_auth_failures_are_counted(red_flag_call):
    before, after, _ = red_flag_call
    assert delta(before, after, "cds_backpain_feedback_total", hook=PV, outcome="overridden") == 1
    reason = reason_slug("missing bearer token")
    assert reason == "missing_bearer_token"
    assert delta(before, after, "cds_backpain_auth_failures_total", reason=reason) == 1


def test_prefetch_fallbacks_are_counted_by_key(dev_service, fhir_server):
    before = scrape(dev_service)
    body = hook_request(
        "patient-view", example_resources("17-"), fhirServer=fhir_server.base("open")
    )
    del body["prefetch"]["conditions"]
    r = dev_service.call(PV, body)
    assert r.status_code == 200, r.text
    after = scrape(dev_service)
    got = delta(before, after, "cds_backpain_prefetch_fallbacks_total", hook=PV, key="conditions")
    assert got == 1
    assert (
        delta(before, after, "cds_backpain_prefetch_fallbacks_total", hook=PV, key="patient") == 0
    )


def test_reason_labels_stay_bounded():
    assert reason_slug("algorithm 'HS256' not allowed") == "algorithm_not_allowed"
    assert reason_slug("rejected: ExpiredSignatureError") == "rejected_expiredsignatureerror"
