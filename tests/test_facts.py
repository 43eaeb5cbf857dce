"""``cds_backpain.facts``: the fact model the rules see."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cds_backpain.facts import DEFAULT_QUALIFIERS, TESTABLE_ATTRIBUTES, Fact


def test_a_dated_finding_knows_its_onset_and_an_undated_one_does_not():
    dated = Fact(kind="finding", concept="sciatica", present=True, status="active", days=3)
    undated = Fact(kind="finding", concept="sciatica", present=True, status="active")
    assert dated.onset_known is True
    assert undated.onset_known is False


def test_onset_known_cannot_be_set_against_the_record():
    f = Fact(kind="finding", concept="sciatica", present=True, status="active", onset_known=True)
    assert f.onset_known is False
    assert Fact(kind="med", concept="nsaid", current=True, days=3).onset_known is None


def test_the_engine_view_holds_only_testable_attributes_that_are_set():
    f = Fact(
        kind="finding",
        concept="sciatica",
        source="Condition/1",
        also=("Observation/2",),
        present=True,
        status="active",
        laterality="left",
        label="Sciatica",
        unit="d",
    )
    view = f.engine_view()
    assert view == {
        "kind": "finding",
        "concept": "sciatica",
        "present": True,
        "status": "active",
        "laterality": "left",
        "onset_known": False,
    }
    assert set(view) - {"kind", "concept"} <= TESTABLE_ATTRIBUTES["finding"]


def test_a_patient_view_has_age_and_sex_only():
    f = Fact(kind="patient", concept="patient", source="Patient/p", age=40, sex="female")
    assert f.engine_view() == {"kind": "patient", "concept": "patient", "age": 40, "sex": "female"}


def test_resources_list_the_source_then_the_further_resources():
    f = Fact(
        kind="measure",
        concept="weight_loss_pct",
        source="Observation/b",
        also=("Observation/a",),
        value=6.0,
    )
    assert f.resources() == ("Observation/b", "Observation/a")
    assert Fact(kind="absent", concept="finding:fever").resources() == ()


def test_facts_are_frozen_and_refuse_unknown_attributes_and_kinds():
    f = Fact(kind="measure", concept="pain_score", value=8.0)
    with pytest.raises(ValidationError):
        f.value = 2.0  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Fact(kind="measure", concept="pain_score", colour="red")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Fact(kind="diagnosis", concept="x")  # type: ignore[arg-type]


def test_default_qualifiers_name_testable_attributes():
    for kind, wanted in DEFAULT_QUALIFIERS.items():
        assert set(wanted) <= TESTABLE_ATTRIBUTES[kind]
