"""``cds_backpain.engine.reference``: the pure-Python forward chainer the durable engine is
checked against; the semantics of :mod:`cds_backpain.engine.compiled`."""

from __future__ import annotations

from cds_backpain.engine.compiled import CompiledRules, CPattern, CRule, CTest
from cds_backpain.engine.reference import ReferenceEngine

RUN = ReferenceEngine().run


def rules(*rs: CRule) -> CompiledRules:
    return CompiledRules(tuple(rs), frozenset(), frozenset(), "reference-test")


def pattern(kind: str, *concepts: str, tests: tuple[CTest, ...] = ()) -> CPattern:
    return CPattern(kind, concepts, tests)


FEVER = {"key": "f0", "kind": "finding", "concept": "fever", "present": True}
OLD = {"key": "f1", "kind": "patient", "concept": "patient", "age": 70}
PAIN = {"key": "f2", "kind": "measure", "concept": "pain_score", "value": 8.0}


def test_a_rule_fires_when_every_pattern_of_a_branch_matches():
    r = CRule(
        "r",
        "x",
        ((pattern("finding", "fever"), pattern("patient", tests=(CTest("age", "gt", 65),))),),
    )
    assert RUN(rules(r), [FEVER, OLD]) == {"r": frozenset({"f0", "f1"})}
    assert RUN(rules(r), [FEVER]) == {}


def test_support_is_the_union_over_every_satisfied_branch():
    r = CRule(
        "r",
        "x",
        ((pattern("finding", "fever"),), (pattern("measure", "pain_score"),), (pattern("med"),)),
    )
    assert RUN(rules(r), [FEVER, PAIN]) == {"r": frozenset({"f0", "f2"})}


def test_conclusions_chain_to_a_fixpoint_whatever_the_rule_order():
    first = CRule("a", "infection_risk", ((pattern("finding", "fever"),),))
    second = CRule("b", "urgent", ((pattern("conclusion", "infection_risk"),),))
    for order in ((first, second), (second, first)):
        assert RUN(rules(*order), [FEVER]) == {
            "a": frozenset({"f0"}),
            "b": frozenset({"c:infection_risk"}),
        }


def test_a_test_on_a_missing_attribute_does_not_hold():
    r = CRule("r", "x", ((pattern("finding", "fever", tests=(CTest("days", "lt", 10),)),),))
    assert RUN(rules(r), [FEVER]) == {}


def test_comparisons_are_typed_booleans_are_not_numbers_and_ints_equal_floats():
    assert CTest("value", "eq", 8).holds(PAIN)
    assert not CTest("value", "eq", "8").holds(PAIN)
    assert not CTest("present", "ge", 1).holds(FEVER)
    assert not CTest("present", "eq", 1).holds(FEVER)
    assert CTest("present", "eq", True).holds(FEVER)
    assert CTest("value", "in", ("7", 8)).holds(PAIN)
    assert [CTest("age", op, 70).holds(OLD) for op in ("lt", "le", "gt", "ge")] == [
        False,
        True,
        False,
        True,
    ]


def test_an_empty_concept_list_matches_any_concept_of_the_kind():
    r = CRule("r", "x", ((pattern("finding"),),))
    assert RUN(rules(r), [FEVER]) == {"r": frozenset({"f0"})}


def test_the_engine_keeps_nothing_between_calls():
    r = CRule("r", "x", ((pattern("finding", "fever"),),))
    assert RUN(rules(r), [FEVER]) == {"r": frozenset({"f0"})}
    assert RUN(rules(r), []) == {}
