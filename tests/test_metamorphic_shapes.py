"""Metamorphic shape properties over every recommendation rule (issue 10, section 6).

For each rule, patients built to fire it (``rule_cases``) are rewritten into other valid
FHIR shapes (``reshaped``: components, Condition vs Observation, ICD vs SNOMED, extra
codings, repeat prescriptions, unit variants, unrelated noise); the triage must not change.
Budget: ``examples(2)`` per rule (``CDS_BACKPAIN_FUZZ_EXAMPLES`` raises it).
"""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_backpain import evaluate, load_knowledge
from cds_backpain.testing import EXAMPLE_NOW, REWRITES, examples, reshaped, rule_cases
from cds_backpain.testing import builders as fhir
from cds_backpain.testing import invariants as inv

KB = load_knowledge()
RULES = sorted(rid for rid, r in KB.rules.items() if r.recommend is not None)
run = functools.partial(evaluate, now=EXAMPLE_NOW)
SETTINGS = settings(
    max_examples=examples(2),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.parametrize("rule", RULES)
def test_triage_survives_every_valid_shape(rule):
    @SETTINGS
    @given(st.data())
    def check(data):
        case = data.draw(rule_cases(rule), label="case")
        first = run(case.bundle)
        other = data.draw(reshaped(case.bundle, max_steps=4), label="reshaped")
        inv.check_same_triage(
            case.bundle, other.bundle, run, why=", ".join(other.steps), first=first
        )

    check()


def _ago(days: int) -> dt.datetime:
    return EXAMPLE_NOW - dt.timedelta(days=days)


SCT, LOINC, RXNORM = fhir.SNOMED, "http://loinc.org", "http://www.nlm.nih.gov/research/umls/rxnorm"
#: One resource of every shape a rewrite applies to (ids distinct from generated ones).
RICH = [
    fhir.condition("rich-lbp", [{"system": SCT, "code": "279039007"}], onset=_ago(10)),
    fhir.observation(
        "rich-ret", [{"system": SCT, "code": "267064002"}], effective=_ago(2), value=True
    ),
    fhir.observation(
        "rich-temp",
        [{"system": LOINC, "code": "8310-5"}],
        effective=_ago(1),
        value=(37.2, "Cel"),
        category="vital-signs",
    ),
    fhir.medication_statement("rich-pred", [{"system": RXNORM, "code": "8640"}], start=_ago(200)),
    fhir.medication_statement(
        "rich-nsaid",
        [{"system": RXNORM, "code": "5640"}],
        status="completed",
        start=_ago(75),
        end=_ago(5),
    ),
]


@pytest.mark.parametrize("rewrite", REWRITES)
def test_each_rewrite_applies_and_keeps_the_triage(rewrite):
    @SETTINGS
    @given(st.data())
    def check(data):
        case = data.draw(rule_cases(lambda r: bool(r.recommend and r.recommend.red_flag)))
        base = case.bundle
        for r in RICH:
            base = fhir.with_resource(base, r)
        other = data.draw(reshaped(base, rewrites=[rewrite], max_steps=2))
        assert other.steps and all(s.startswith(f"{rewrite}:") for s in other.steps)
        inv.check_same_triage(base, other.bundle, run, why=", ".join(other.steps))

    check()


def test_the_invariant_catches_a_shape_the_ingest_misses():
    # A lossy "rewrite" (a Present finding turned into a bare code) must be caught.
    pain = fhir.condition("lbp", [{"system": fhir.SNOMED, "code": "279039007"}])
    ret = fhir.observation("ret", [{"system": fhir.SNOMED, "code": "267064002"}], value=True)
    base = fhir.bundle([fhir.patient("pat", gender="male", birth_date="1980-01-01"), pain, ret])
    bare = fhir.without_resource(base, "Observation/ret")
    bare = fhir.with_resource(bare, {**ret, "valueBoolean": None} | {"id": "ret"})
    del bare["entry"][-1]["resource"]["valueBoolean"]
    with pytest.raises(AssertionError, match="changed the triage"):
        inv.check_same_triage(base, bare, run, why="drop the answer")


def test_reshaped_rejects_unknown_rewrites():
    with pytest.raises(ValueError, match="unknown rewrites"):
        reshaped({"resourceType": "Bundle", "entry": []}, rewrites=["sideways"])
