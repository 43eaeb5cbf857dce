"""``cds_backpain.engine.prepare``: facts to the keyed engine input, absences precomputed."""

from __future__ import annotations

from cds_backpain.engine.compiled import CompiledRules
from cds_backpain.engine.prepare import counts_as_positive, engine_input
from cds_backpain.facts import Fact


def finding(concept: str, **kw: object) -> Fact:
    return Fact(kind="finding", concept=concept, **{"present": True, "status": "active", **kw})  # type: ignore[arg-type]


def rules_testing_absence_of(*pairs: tuple[str, str]) -> CompiledRules:
    return CompiledRules((), frozenset(pairs), frozenset(), "prepare-test")


def test_current_present_findings_and_current_medication_count_as_positive():
    assert counts_as_positive(finding("fever"))
    assert not counts_as_positive(finding("fever", present=False))
    assert not counts_as_positive(finding("fever", status="history"))
    assert counts_as_positive(Fact(kind="med", concept="nsaid", current=True))
    assert not counts_as_positive(Fact(kind="med", concept="nsaid", current=False))
    assert counts_as_positive(Fact(kind="measure", concept="pain_score", value=3.0))


def test_facts_are_keyed_by_position_then_absences_follow_in_sorted_order():
    facts = [finding("sciatica"), Fact(kind="measure", concept="pain_score", value=3.0)]
    rules = rules_testing_absence_of(
        ("finding", "fever"), ("finding", "foot_drop"), ("med", "nsaid")
    )
    views = engine_input(rules, facts)
    assert [v["key"] for v in views] == [
        "f0",
        "f1",
        "a:finding:fever",
        "a:finding:foot_drop",
        "a:med:nsaid",
    ]
    assert views[2] == {"key": "a:finding:fever", "kind": "absent", "concept": "finding:fever"}


def test_a_positive_fact_suppresses_its_absence_and_a_negated_one_does_not():
    rules = rules_testing_absence_of(("finding", "fever"), ("finding", "foot_drop"))
    views = engine_input(rules, [finding("fever"), finding("foot_drop", present=False)])
    absent = [v["concept"] for v in views if v["kind"] == "absent"]
    assert absent == ["finding:foot_drop"]


def test_history_does_not_suppress_an_absence():
    rules = rules_testing_absence_of(("finding", "osteoporosis"))
    views = engine_input(rules, [finding("osteoporosis", status="history")])
    assert [v["key"] for v in views] == ["f0", "a:finding:osteoporosis"]


def test_only_absences_some_rule_tests_are_added():
    assert [v["key"] for v in engine_input(rules_testing_absence_of(), [])] == []
