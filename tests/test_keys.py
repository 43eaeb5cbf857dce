"""Fact keys and derivation support items: typed values whose strings are the JSON contract."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds_backpain.engine.keys import Absence, ConcludedConcept, InputFact, parse_key
from cds_backpain.evaluation import (
    AbsenceSupport,
    ConclusionSupport,
    Derivation,
    FactSupport,
    ResourceSupport,
    parse_support,
)
from cds_backpain.kb.knowledge import CitedGuideline, CitedPassage
from cds_backpain.kb.loader import load_knowledge
from cds_backpain.kb.models import GuidelineRef, SourceQuote

CONCEPT = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)


def test_keys_spell_the_strings_engines_and_tests_use():
    assert str(InputFact(3)) == "f3"
    assert str(ConcludedConcept("radicular_pattern")) == "c:radicular_pattern"
    assert str(Absence("finding", "fever")) == "a:finding:fever"
    assert Absence("finding", "fever").pattern_concept == "finding:fever"
    assert Absence.from_pattern_concept("med:nsaid") == Absence("med", "nsaid")


@given(
    st.one_of(
        st.integers(min_value=0, max_value=10**6).map(InputFact),
        CONCEPT.map(ConcludedConcept),
        st.builds(Absence, st.sampled_from(["finding", "med", "measure"]), CONCEPT),
    )
)
def test_every_key_reads_back_as_itself(key):
    assert parse_key(str(key)) == key


@pytest.mark.parametrize("text", ["", "f", "fx", "f-1", "c:", "a:finding", "a::x", "x:y"])
def test_a_string_that_is_no_key_is_refused(text):
    with pytest.raises(ValueError):
        parse_key(text)


def test_support_items_spell_the_derivation_strings_of_the_output():
    items = (
        ResourceSupport("Condition/c1"),
        ConclusionSupport("weak_flag"),
        AbsenceSupport("finding", "saddle_anesthesia"),
        FactSupport("weight_loss_pct"),
    )
    strings = (
        "Condition/c1",
        "conclusion:weak_flag",
        "absent:finding:saddle_anesthesia",
        "fact:weight_loss_pct",
    )
    assert tuple(map(str, items)) == strings
    assert tuple(parse_support(s) for s in strings) == items
    d = Derivation(rule="r", concept="r", support=strings)
    assert d.support_items == items
    assert d.model_dump(mode="json")["support"] == list(strings)


def test_every_rules_provenance_is_paired_with_what_it_cites():
    kb = load_knowledge()
    for rid, rule in kb.rules.items():
        cited = kb.citations(rid)
        assert [c.ref for c in cited] == list(rule.provenance)
        for c in cited:
            if isinstance(c.ref, GuidelineRef):
                assert isinstance(c, CitedGuideline) and c.guideline.id == c.ref.guideline
            else:
                assert isinstance(c.ref, SourceQuote) and isinstance(c, CitedPassage)
                assert c.span.source == c.ref.source and c.span.quote == c.ref.quote
