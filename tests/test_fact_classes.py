"""Evaluating one fact per class changes nothing a user sees, and keeps long records cheap.

The engine is given one representative of each class of facts that no rule pattern can
tell apart (``cds_backpain.engine.fact_classes``); the firings are expanded back to every
member. These tests pin that the conclusions, their evidence and the derivations are
exactly those of the unreduced facts, for both engines, and that the engine's input stays
the same size however long a series grows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("durable_rules_engine")

from test_engine_equivalence import Pick, make_facts, make_rules

from cds_backpain import evaluate, load_knowledge
from cds_backpain.engine.compiled import CompiledRules
from cds_backpain.engine.durable import DurableEngine
from cds_backpain.engine.fact_classes import pattern_index, reduce_facts, run_on_classes
from cds_backpain.engine.prepare import engine_input
from cds_backpain.engine.reference import ReferenceEngine
from cds_backpain.ingest import ingest
from cds_backpain.resolve import derivations, resolve
from cds_backpain.testing import (
    EXAMPLE_NOW,
    clinical_resources,
    examples,
    measure_observations,
    patient_bundles,
)
from cds_backpain.testing import builders as fhir

REFERENCE = ReferenceEngine()
DURABLE = DurableEngine()
KB = load_knowledge()
NOW = EXAMPLE_NOW


# ------------------------------------------------------------------ random rule bases


@st.composite
def crowded_cases(draw: Callable[[Any], Any]) -> tuple[CompiledRules, list[dict[str, object]]]:
    """Random rules over 3 concepts and up to 40 facts, so that many facts share a class."""
    pick = Pick(draw=draw)
    rules = make_rules(pick, pick.integer(1, 8), 3, 4, concepts=3, derived=3)
    return rules, make_facts(pick, pick.integer(0, 40), concepts=3, derived=3)


@settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(crowded_cases())
def test_classes_give_exactly_the_firings_of_every_fact(
    case: tuple[CompiledRules, list[dict[str, object]]],
) -> None:
    rules, facts = case
    expected = REFERENCE.run(rules, facts)
    assert run_on_classes(REFERENCE, rules, facts) == expected
    assert run_on_classes(DURABLE, rules, facts) == expected
    classes = reduce_facts(rules, facts)
    index = pattern_index(rules)
    # One representative per distinct set of matched patterns, none for unusable facts.
    assert len(classes.facts) == len({index.signature(f) for f in facts} - {()})
    members = [k for keys in classes.members.values() for k in keys]
    assert sorted(members) == sorted(str(f["key"]) for f in facts if index.signature(f))


# ------------------------------------------------------------------ generated records

SERIES = st.sampled_from(["body_temperature", "body_weight", "pain_score", "bmi"])
series_readings = measure_observations(SERIES, now=NOW, effective_days=st.integers(0, 400))
long_records = patient_bundles(
    now=NOW,
    min_resources=1,
    max_resources=40,
    resources=st.one_of(series_readings, series_readings, clinical_resources(now=NOW)),
)


def unreduced(bundle: dict[str, Any], engine: Any) -> tuple[Any, ...]:
    """The pipeline with every fact given to the engine (what it did before classes)."""
    got = ingest(bundle, valuesets=KB.valuesets, parameters=KB.parameters, now=NOW)
    firings = engine.run(KB.compiled, engine_input(KB.compiled, got.facts))
    conclusions, ratings = resolve(KB, got.facts, firings)
    return conclusions, ratings, derivations(KB, got.facts, firings)


@settings(
    max_examples=examples(25),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(long_records)
def test_reduced_and_unreduced_records_give_identical_conclusions_and_evidence(
    bundle: dict[str, Any],
) -> None:
    for name, engine in (("reference", REFERENCE), ("durable", DURABLE)):
        ev = evaluate(bundle, now=NOW, engine=name, knowledge=KB)
        conclusions, ratings, derived = unreduced(bundle, engine)
        assert ev.conclusions == conclusions, name
        assert [c.evidence for c in ev.conclusions] == [c.evidence for c in conclusions]
        assert ev.ratings == ratings, name
        assert ev.derivations == derived, name


# ------------------------------------------------------------------ a long series


def _code(concept: str) -> dict[str, str]:
    system, code = next((s, c) for k, s, c in KB.valuesets.codes() if k == concept)
    return {"system": system, "code": code}


def febrile_record(readings: int) -> tuple[dict[str, Any], set[str]]:
    """A back-pain patient with IV drug use and ``readings`` temperatures, every 7th one at
    or above the fever threshold; also the references of those febrile readings."""
    fever = KB.parameters["fever_celsius"].value
    resources = [
        fhir.patient(gender="male", birth_date="1980-02-03"),
        fhir.condition("lbp", [_code("low_back_pain")], onset=NOW - dt.timedelta(days=5)),
        fhir.condition("ivdu", [_code("iv_drug_use")], onset=NOW - dt.timedelta(days=900)),
    ]
    febrile = set()
    for i in range(readings):
        value = fever + 0.1 * (i % 5) if i % 7 == 0 else fever - 0.1 - 0.1 * (i % 9)
        resources.append(
            fhir.observation(
                f"t{i}",
                [_code("body_temperature")],
                effective=NOW - dt.timedelta(hours=6 * i),
                value=(round(value, 1), "Cel"),
                category="vital-signs",
            )
        )
        if i % 7 == 0:
            febrile.add(f"Observation/t{i}")
    return fhir.bundle(resources), febrile


@pytest.mark.parametrize("engine", ["reference", "durable"])
def test_a_long_temperature_series_reaches_the_engine_as_a_few_facts(engine: str) -> None:
    sizes, cited = {}, {}
    for readings in (30, 300):
        bundle, febrile = febrile_record(readings)
        got = ingest(bundle, valuesets=KB.valuesets, parameters=KB.parameters, now=NOW)
        sizes[readings] = len(reduce_facts(KB.compiled, engine_input(KB.compiled, got.facts)).facts)
        ev = evaluate(bundle, now=NOW, engine=engine, knowledge=KB)
        card = next(c for c in ev.conclusions if c.id == "inf-fever-with-risk")
        whole = next(c for c in unreduced(bundle, REFERENCE)[0] if c.id == card.id)
        # The evidence names every reading the rules count (those in the fever window), as
        # when every fact went to the engine, and never a reading below the threshold.
        assert card.evidence == whole.evidence
        cited[readings] = {e for e in card.evidence if e.startswith("Observation/")}
        assert cited[readings] <= febrile
        assert {"Condition/lbp", "Condition/ivdu"} <= set(card.evidence)
    assert len(cited[300]) > len(cited[30]) > 1
    assert sizes[30] == sizes[300] < 12
