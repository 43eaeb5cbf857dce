"""Rule files compile to the engine-neutral form with the documented defaults and limits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cds_backpain.engine.compiled import CTest
from cds_backpain.engine.reference import ReferenceEngine
from cds_backpain.kb.compile import compile_rules
from cds_backpain.kb.models import Parameter, Rule

PARAMS = {
    "adult": Parameter(value=16, description="adult age"),
    "early": Parameter(value=42, description="6 weeks"),
}


def rule(id_: str, when: dict, **kw) -> Rule:
    return Rule.model_validate(
        {
            "id": id_,
            "title": f"rule {id_}",
            "description": "a test rule",
            "when": when,
            "provenance": [{"guideline": "g", "supports": ["background"]}],
            **kw,
        }
    )


def test_finding_pattern_defaults_to_present_and_active():
    compiled, problems = compile_rules([rule("r", {"all": [{"finding": "sciatica"}]})], PARAMS)
    assert problems == []
    (pattern,) = compiled.rules[0].branches[0]
    assert CTest("present", "eq", True) in pattern.tests
    assert CTest("status", "eq", "active") in pattern.tests


def test_an_explicit_status_replaces_the_default():
    r = rule("r", {"all": [{"finding": "malignancy", "status": ["active", "history"]}]})
    (pattern,) = compile_rules([r], PARAMS)[0].rules[0].branches[0]
    assert CTest("status", "in", ("active", "history")) in pattern.tests
    assert CTest("status", "eq", "active") not in pattern.tests


def test_parameters_are_resolved_and_any_becomes_branches():
    r = rule(
        "r",
        {
            "all": [{"patient": {"age": {"ge": "$adult"}}}],
            "any": [
                {"finding": "low_back_pain", "days": {"lt": "$early"}},
                {"all": [{"finding": "fever"}, {"measure": "body_temperature"}]},
            ],
            "none": [{"finding": ["sciatica", "foot_drop"]}],
        },
    )
    compiled, problems = compile_rules([r], PARAMS)
    assert problems == []
    b1, b2 = compiled.rules[0].branches
    assert [p.kind for p in b1] == ["patient", "finding", "absent", "absent"]
    assert CTest("days", "lt", 42) in b1[1].tests
    assert [p.kind for p in b2] == ["patient", "finding", "measure", "absent", "absent"]
    assert compiled.absence == {("finding", "sciatica"), ("finding", "foot_drop")}


def test_patient_patterns_merge_into_one():
    r = rule(
        "r", {"all": [{"patient": {"age": {"ge": 65}}}], "any": [{"patient": {"sex": "male"}}]}
    )
    (branch,) = compile_rules([r], PARAMS)[0].rules[0].branches
    assert len(branch) == 1 and {t.attribute for t in branch[0].tests} == {"age", "sex"}
    engine = ReferenceEngine()
    compiled = compile_rules([r], PARAMS)[0]
    man = [{"key": "f0", "kind": "patient", "concept": "patient", "age": 70, "sex": "male"}]
    woman = [{"key": "f0", "kind": "patient", "concept": "patient", "age": 70, "sex": "female"}]
    assert engine.run(compiled, man) == {"r": frozenset({"f0"})}
    assert engine.run(compiled, woman) == {}


def test_left_and_right_are_disjoint_but_any_and_left_are_not():
    ok = rule(
        "ok",
        {
            "all": [
                {"finding": "sciatica", "laterality": "left"},
                {"finding": "sciatica", "laterality": "right"},
            ]
        },
    )
    bad = rule(
        "bad", {"all": [{"finding": "sciatica"}, {"finding": "sciatica", "laterality": "left"}]}
    )
    _, problems = compile_rules([ok, bad], PARAMS)
    assert len(problems) == 1 and "bad" in problems[0]


def test_none_over_conclusions_is_a_schema_error():
    with pytest.raises(ValidationError):
        rule("r", {"all": [{"finding": "x"}], "none": [{"conclusion": "y"}]})


def test_reference_engine_chains_and_unions_support():
    rules = [
        rule(
            "radicular",
            {"any": [{"finding": "sciatica"}, {"finding": "lumbar_radiculopathy"}]},
            conclude="radicular_pattern",
        ),
        rule(
            "refer",
            {"all": [{"conclusion": "radicular_pattern"}, {"finding": "intervention_candidate"}]},
        ),
    ]
    compiled, problems = compile_rules(rules, PARAMS)
    assert problems == []
    facts = [
        {
            "key": "f0",
            "kind": "finding",
            "concept": "sciatica",
            "present": True,
            "status": "active",
        },
        {
            "key": "f1",
            "kind": "finding",
            "concept": "lumbar_radiculopathy",
            "present": True,
            "status": "active",
        },
        {
            "key": "f2",
            "kind": "finding",
            "concept": "intervention_candidate",
            "present": True,
            "status": "active",
        },
        {
            "key": "f3",
            "kind": "finding",
            "concept": "sciatica",
            "present": False,
            "status": "active",
        },
    ]
    fired = ReferenceEngine().run(compiled, facts)
    assert fired == {
        "radicular": frozenset({"f0", "f1"}),
        "refer": frozenset({"c:radicular_pattern", "f2"}),
    }
