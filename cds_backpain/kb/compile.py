"""Compile validated rules into the engine-neutral form (:mod:`cds_backpain.engine.compiled`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

from ..engine.compiled import CompiledRules, CPattern, CRule, CTest
from ..engine.keys import Absence
from ..facts import DEFAULT_QUALIFIERS
from .models import Parameter, Pattern, Rule, Test

MAX_PATTERNS_PER_BRANCH = 12


def _value(v: object, params: Mapping[str, Parameter]) -> object:
    if isinstance(v, str) and v.startswith("$"):
        return params[v[1:]].value
    if isinstance(v, tuple):
        return tuple(_value(x, params) for x in v)
    return v


def _ctest(t: Test, params: Mapping[str, Parameter]) -> CTest:
    value = _value(t.value, params)
    if t.op == "in" and isinstance(value, tuple) and len(value) == 1:
        return CTest(t.attribute, "eq", value[0])
    return CTest(t.attribute, t.op, value)


def _cpattern(p: Pattern, params: Mapping[str, Parameter]) -> CPattern:
    tests = [_ctest(t, params) for t in p.tests]
    tested = {t.attribute for t in p.tests}
    for attr, want in DEFAULT_QUALIFIERS.get(p.kind, {}).items():
        if attr not in tested:
            tests.append(CTest(attr, "eq", want))
    tests.sort(key=lambda t: (t.attribute, t.op, repr(t.value)))
    return CPattern(p.kind, tuple(sorted(p.concepts)), tuple(tests))


def _merge_patient(patterns: list[CPattern]) -> list[CPattern]:
    """There is one patient fact: several patient patterns in a branch are one conjunction."""
    patient = [p for p in patterns if p.kind == "patient"]
    if len(patient) <= 1:
        return patterns
    tests = tuple(
        sorted(
            {t for p in patient for t in p.tests}, key=lambda t: (t.attribute, t.op, repr(t.value))
        )
    )
    merged = CPattern("patient", (), tests)
    return [merged] + [p for p in patterns if p.kind != "patient"]


def _eq_values(p: CPattern, attr: str) -> set[object] | None:
    vals: set[object] | None = None
    for t in p.tests:
        if t.attribute != attr:
            continue
        if t.op == "in" and isinstance(t.value, tuple):  # "in" always holds a tuple
            these: set[object] = set(t.value)
        elif t.op == "eq":
            these = {t.value}
        else:
            continue
        vals = these if vals is None else vals & these
    return vals


def overlapping(p: CPattern, q: CPattern) -> bool:
    """Whether one fact could match both patterns (the engines pair distinct facts only)."""
    if p.kind != q.kind:
        return False
    if p.concepts and q.concepts and not set(p.concepts) & set(q.concepts):
        return False
    for attr in {t.attribute for t in p.tests} & {t.attribute for t in q.tests}:
        a, b = _eq_values(p, attr), _eq_values(q, attr)
        if a is not None and b is not None and not a & b:
            return False
    return True


def branch_problems(rule_id: str, branch: Iterable[CPattern]) -> list[str]:
    pats = list(branch)
    problems = []
    if len(pats) > MAX_PATTERNS_PER_BRANCH:
        problems.append(
            f"rule {rule_id}: a branch has {len(pats)} patterns (limit {MAX_PATTERNS_PER_BRANCH})"
        )
    for i, p in enumerate(pats):
        for q in pats[i + 1 :]:
            if overlapping(p, q):
                problems.append(
                    f"rule {rule_id}: two '{p.kind}' patterns of one branch could match the "
                    "same fact "
                    f"({', '.join(p.concepts) or 'any'} / {', '.join(q.concepts) or 'any'}); "
                    "make them disjoint (different concepts or an equality test such as laterality)"
                )
    return problems


def compile_rule(rule: Rule, params: Mapping[str, Parameter]) -> tuple[CRule, list[str]]:
    base = [_cpattern(p, params) for p in rule.when.all]
    absent = [
        CPattern("absent", (Absence(a.kind, c).pattern_concept,), ())
        for a in rule.when.none
        for c in a.concepts
    ]
    alternatives = [b.patterns for b in rule.when.any] or [()]
    branches = []
    problems: list[str] = []
    for alt in alternatives:
        pats = _merge_patient(base + [_cpattern(p, params) for p in alt]) + absent
        problems.extend(branch_problems(rule.id, pats))
        branches.append(tuple(pats))
    return CRule(rule.id, rule.concept, tuple(branches)), problems


def compile_rules(
    rules: Iterable[Rule], params: Mapping[str, Parameter]
) -> tuple[CompiledRules, list[str]]:
    """Compile ``rules``; returns the compiled form and every engine-limit problem found."""
    compiled: list[CRule] = []
    problems: list[str] = []
    for rule in rules:
        c, p = compile_rule(rule, params)
        compiled.append(c)
        problems.extend(p)
    absences = (
        Absence.from_pattern_concept(pat.concepts[0])
        for r in compiled
        for b in r.branches
        for pat in b
        if pat.kind == "absent"
    )
    absence = frozenset((a.kind, a.concept) for a in absences)
    consumed = frozenset(
        c
        for r in compiled
        for b in r.branches
        for pat in b
        if pat.kind == "conclusion"
        for c in pat.concepts
    )
    canonical = json.dumps(
        [
            [
                r.id,
                r.concept,
                [
                    [
                        [p.kind, p.concepts, [[t.attribute, t.op, t.value] for t in p.tests]]
                        for p in b
                    ]
                    for b in r.branches
                ],
            ]
            for r in compiled
        ],
        sort_keys=True,
        default=list,
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return CompiledRules(tuple(compiled), absence, consumed, digest), problems
