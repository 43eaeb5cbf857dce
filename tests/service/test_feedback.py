"""Feedback: validated, stored idempotently, reported per rule."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conformance import check_outcome, feedback_conforms, schema_errors
from service_support import example_resources, hook_request

PV = "lbp-patient-view"
FB = f"/cds-services/{PV}/feedback"
TS = "2026-06-01T12:05:00.000Z"


def report_output(service, *extra: str) -> str:
    """What ``cds-backpain feedback report`` prints for the service's database."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cds_backpain.service",
            "feedback",
            "report",
            "--database",
            service.database,
            *extra,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def report(service) -> dict:
    return {r["rule"]: r for r in json.loads(report_output(service, "--json"))["rules"]}


@pytest.fixture(scope="module")
def red_flag_cards(service):
    r = service.call(PV, hook_request("patient-view", example_resources("09-")))
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    assert any(c.get("suggestions") for c in cards)
    return cards


MALFORMED = {
    "not a list": {"feedback": "x"},
    "empty list": {"feedback": []},
    "no card": {"feedback": [{"outcome": "overridden", "outcomeTimestamp": TS}]},
    "bad timestamp": {
        "feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "yesterday"}]
    },
}
#: Items that break one of the spec's FHIRPath invariants.
BREAKS_INVARIANT = {
    "cds-fb-1": {"card": "c", "outcome": "ignored", "outcomeTimestamp": TS},
    "cds-fb-2": {"card": "c", "outcome": "accepted", "outcomeTimestamp": TS},
    "cds-fb-3": {
        "card": "c",
        "outcome": "overridden",
        "overrideReason": {},
        "outcomeTimestamp": TS,
    },
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_feedback_is_400(service, name):
    body = MALFORMED[name]
    assert schema_errors("FeedbackRequest", body)
    r = service.post(FB, body)
    assert r.status_code == 400
    check_outcome(r.json())


@pytest.mark.parametrize("invariant", BREAKS_INVARIANT)
def test_feedback_breaking_an_invariant_is_400(service, invariant):
    item = BREAKS_INVARIANT[invariant]
    assert not feedback_conforms(item)
    r = service.post(FB, {"feedback": [item]})
    assert r.status_code == 400
    check_outcome(r.json())


def test_accepted_and_overridden_feedback_is_stored_once(service, red_flag_cards):
    with_suggestion = next(c for c in red_flag_cards if c.get("suggestions"))
    other = service.call(PV, hook_request("patient-view", example_resources("24-"))).json()
    with_reasons = next(c for c in other["cards"] if c.get("overrideReasons"))
    accepted = {
        "card": with_suggestion["uuid"],
        "outcome": "accepted",
        "outcomeTimestamp": TS,
        "acceptedSuggestions": [{"id": with_suggestion["suggestions"][0]["uuid"]}],
    }
    reason = with_reasons["overrideReasons"][0]
    # The sandbox sends the override reason's code and system only.
    overridden = {
        "card": with_reasons["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": TS,
        "overrideReason": {
            "reason": {"code": reason["code"], "system": reason["system"]},
            "userComment": "seen in clinic today",
        },
    }
    unknown = {
        "card": "not-a-card-of-ours",
        "outcome": "overridden",
        "outcomeTimestamp": TS,
        "overrideReason": {"userComment": "n/a"},
    }
    for item in (accepted, overridden, unknown):
        assert feedback_conforms(item)
    before = report(service)
    r = service.post(FB, {"feedback": [accepted, overridden, unknown]})
    assert r.status_code == 200
    assert r.json() == {"stored": 3, "duplicates": 0}
    again = service.post(FB, {"feedback": [accepted]})
    assert again.json() == {"stored": 0, "duplicates": 1}

    after = report(service)
    rule = next(k for k, v in after.items() if v["accepted"] > before.get(k, {}).get("accepted", 0))
    assert after[rule]["acceptance_rate"] is not None and after[rule]["acceptance_rate"] > 0
    overridden_rules = [
        k for k, v in after.items() if v["overridden"] > before.get(k, {}).get("overridden", 0)
    ]
    assert "(card not issued by this service)" in overridden_rules
    assert any(v["override_reasons"] for k, v in after.items() if k in overridden_rules)


def test_a_card_counts_once_by_its_latest_outcome_and_reasons_read_as_words(service):
    """Accepted, then overridden (the sandbox sends the reason's code and system only):
    the card counts as overridden, never as 100 % accepted and 100 % overridden."""
    cards = service.call(PV, hook_request("patient-view", example_resources("28-"))).json()
    card = next(c for c in cards["cards"] if c.get("overrideReasons") and c.get("suggestions"))
    reason = card["overrideReasons"][0]
    items = [
        {
            "card": card["uuid"],
            "outcome": "accepted",
            "outcomeTimestamp": "2026-06-01T12:00:00Z",
            "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
        },
        {
            "card": card["uuid"],
            "outcome": "overridden",
            "outcomeTimestamp": "2026-06-01T12:05:00Z",
            "overrideReason": {"reason": {"code": reason["code"], "system": reason["system"]}},
        },
    ]
    before = report(service)
    assert service.post(FB, {"feedback": items}).status_code == 200
    rows = report(service)
    # the one card this test gave feedback on (other tests share the service's database)
    (row,) = [v for k, v in rows.items() if v != before.get(k)]
    assert row["acceptance_rate"] + row["override_rate"] <= 1
    assert row["overridden"] >= 1
    assert reason["display"] in row["override_reasons"]
    assert not any("|" in k for v in rows.values() for k in v["override_reasons"])


def test_text_report(service, red_flag_cards):
    out = report_output(service)
    assert "accept%" in out and "override%" in out
