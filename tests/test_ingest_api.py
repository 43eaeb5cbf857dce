"""``cds_backpain.ingest.api``: the client's mistake is an InvalidInputError, our bug is not.

A defect of ours cannot be produced on demand, so one is planted in the extractor (the only
stand-in in this file): the caller must get an :class:`InternalError` naming no input
defect, with the original exception as its cause and a log line, never a 400-style refusal
that blames the input.
"""

from __future__ import annotations

import json
import logging

import pytest

from cds_backpain import InternalError, InvalidInputError, Limits, evaluate
from cds_backpain.ingest import extract
from cds_backpain.testing import EXAMPLE_NOW, builders

LOW_BACK_PAIN = [{"system": "http://snomed.info/sct", "code": "279039007"}]
BUNDLE = builders.bundle(
    [builders.patient(birth_date="1980-01-01"), builders.condition("lbp", LOW_BACK_PAIN)]
)


def test_input_that_is_not_fhir_is_the_clients_mistake():
    with pytest.raises(InvalidInputError) as err:
        evaluate('{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": 1}]}')
    assert not isinstance(err.value, InternalError)
    assert all(i["code"] != "exception" for i in err.value.outcome["issue"])


def test_a_defect_of_ours_is_an_internal_error_with_its_cause_and_a_log_line(monkeypatch, caplog):
    def broken(self, entry):
        raise KeyError("planted defect")

    monkeypatch.setattr(extract.Extractor, "condition", broken)
    with (
        caplog.at_level(logging.ERROR, logger="cds_backpain.ingest.api"),
        pytest.raises(InternalError) as err,
    ):
        evaluate(BUNDLE, EXAMPLE_NOW)
    assert not isinstance(err.value, InvalidInputError)
    assert isinstance(err.value.__cause__, KeyError)
    assert "KeyError" in str(err.value)
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [KeyError]


def test_the_same_input_evaluates_without_the_defect():
    assert evaluate(BUNDLE, EXAMPLE_NOW).patient == "Patient/pat"


def test_expected_patient_refuses_data_about_anyone_else():
    from cds_backpain import parse_json

    data = [
        {"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01"},
        {
            "resourceType": "Condition",
            "id": "c1",
            "subject": {"reference": "Patient/p1"},
            "code": {"text": "back pain"},
        },
    ]
    now = "2026-06-01T12:00:00Z"
    assert evaluate(data, now=now, expected_patient="p1").patient == "Patient/p1"
    assert evaluate(data, now=now, expected_patient="Patient/p1").patient == "Patient/p1"
    with pytest.raises(InvalidInputError) as err:
        evaluate(data, now=now, expected_patient="p2")
    issue = err.value.outcome["issue"][0]
    assert issue["code"] == "business-rule"
    assert issue["diagnostics"].startswith("array item 0: the Patient of this input is Patient/p1")
    assert "not the expected patient Patient/p2" in issue["diagnostics"]
    parsed = parse_json(json.dumps(data), Limits())
    assert evaluate(parsed, now=now).patient == "Patient/p1"
