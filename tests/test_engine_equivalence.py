"""DurableEngine and ReferenceEngine derive identical firings on random rules and facts."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("durable_rules_engine")

from cds_backpain.engine.compiled import CompiledRules, CPattern, CRule, CTest
from cds_backpain.engine.durable import DurableEngine
from cds_backpain.engine.reference import ReferenceEngine

REFERENCE = ReferenceEngine()
ENGINE = DurableEngine()

KINDS = ("patient", "finding", "measure", "med", "absent", "conclusion")
ATTRIBUTES = ("present", "status", "days", "value", "laterality")
VALUES: tuple[object, ...] = (
    True,
    False,
    0,
    1,
    1.0,
    2,
    2.5,
    -3,
    38.0,
    1e-05,
    1e20,
    "1",
    "active",
    "history",
    "left",
)
NUMBERS: tuple[float, ...] = (0, 1, 2, 2.5, -3, 38.0, 1e-05, 1e20)
FACT_VALUES = (*VALUES, None, 39.5, 5, 1e-300, -1e20, "right")


class Pick:
    """One source of choices for both generators: hypothesis ``draw`` or ``random.Random``."""

    def __init__(self, draw: Callable[[Any], Any] | None = None, rng: random.Random | None = None):
        self._draw, self._rng = draw, rng

    def integer(self, lo: int, hi: int) -> int:
        return self._draw(st.integers(lo, hi)) if self._draw else self._rng.randint(lo, hi)  # type: ignore[union-attr]

    def choice(self, seq: Sequence[Any]) -> Any:
        return self._draw(st.sampled_from(seq)) if self._draw else self._rng.choice(seq)  # type: ignore[union-attr]

    def chance(self, p: float) -> bool:
        if self._draw:
            return self._draw(st.integers(0, 99)) < p * 100
        return self._rng.random() < p  # type: ignore[union-attr]


def pool(kind: str, concepts: int, derived: int) -> tuple[str, ...]:
    if kind == "conclusion":
        return tuple(f"x{i}" for i in range(derived))
    if kind == "absent":
        return tuple(f"finding:c{i}" for i in range(concepts))
    return tuple(f"c{i}" for i in range(concepts))


def make_test(pick: Pick) -> CTest:
    attribute, op = pick.choice(ATTRIBUTES), pick.choice(("eq", "in", "lt", "le", "gt", "ge"))
    if op == "eq":
        return CTest(attribute, op, pick.choice(VALUES))
    if op == "in":
        values = {repr(v): v for v in (pick.choice(VALUES) for _ in range(pick.integer(2, 3)))}
        return CTest(attribute, op, tuple(values.values()))
    return CTest(attribute, op, pick.choice(NUMBERS))


def make_branch(pick: Pick, max_patterns: int, concepts: int, derived: int) -> tuple[CPattern, ...]:
    """Patterns that are disjoint by construction: per kind, concept sets never overlap."""
    used: dict[str, set[str] | None] = {}
    patterns: list[CPattern] = []
    for _ in range(pick.integer(1, max_patterns)):
        kind = pick.choice(KINDS)
        if kind in used and used[kind] is None:
            continue
        taken = used.get(kind) or set()
        free = [c for c in pool(kind, concepts, derived) if c not in taken]
        if not free:
            continue
        if kind not in used and kind in ("patient", "finding", "measure") and pick.chance(0.2):
            chosen: tuple[str, ...] = ()
            used[kind] = None
        else:
            chosen = tuple(sorted({pick.choice(free) for _ in range(pick.integer(1, 2))}))
            used[kind] = taken | set(chosen)
        tests: tuple[CTest, ...] = ()
        if kind not in ("absent", "conclusion") and pick.chance(0.6):
            tests = tuple(make_test(pick) for _ in range(pick.integer(1, 2)))
        patterns.append(CPattern(kind, chosen, tests))
    return tuple(patterns) or (CPattern("finding", (pool("finding", concepts, derived)[0],), ()),)


def make_rules(
    pick: Pick, rules: int, branches: int, patterns: int, concepts: int = 4, derived: int = 4
) -> CompiledRules:
    made = tuple(
        CRule(
            f"r{i}",
            pick.choice(pool("conclusion", concepts, derived)),
            tuple(
                make_branch(pick, patterns, concepts, derived)
                for _ in range(pick.integer(1, branches))
            ),
        )
        for i in range(rules)
    )
    pats = [p for r in made for b in r.branches for p in b]
    return CompiledRules(
        made,
        frozenset(tuple(c.split(":", 1)) for p in pats if p.kind == "absent" for c in p.concepts),  # type: ignore[misc]
        frozenset(c for p in pats if p.kind == "conclusion" for c in p.concepts),
        hashlib.sha256(repr(made).encode()).hexdigest(),
    )


def make_facts(
    pick: Pick, count: int, concepts: int = 4, derived: int = 4
) -> list[dict[str, object]]:
    facts: list[dict[str, object]] = []
    for i in range(count):
        kind = pick.choice((*KINDS, "order"))
        concept = pick.choice((*pool(kind, concepts, derived), "zz"))
        fact: dict[str, object] = {"key": f"f{i}", "kind": kind, "concept": concept}
        for attribute in ATTRIBUTES:
            if pick.chance(0.5):
                fact[attribute] = pick.choice(FACT_VALUES)
        if pick.chance(0.2):
            fact["id"] = "1"  # FHIR ids repeat across resource types
        facts.append(fact)
    return facts


@st.composite
def cases(draw: Callable[[Any], Any]) -> tuple[CompiledRules, list[dict[str, object]]]:
    pick = Pick(draw=draw)
    rules = make_rules(pick, pick.integer(1, 8), 3, 4, concepts=3, derived=3)
    return rules, make_facts(pick, pick.integer(0, 16), concepts=3, derived=3)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_durable_equals_reference_on_random_rules_and_facts(
    case: tuple[CompiledRules, list[dict[str, object]]],
) -> None:
    rules, facts = case
    assert ENGINE.run(rules, facts) == REFERENCE.run(rules, facts)
    reordered = list(reversed(facts))
    assert ENGINE.run(rules, reordered) == REFERENCE.run(rules, reordered)


def workload(seed: int = 7) -> tuple[CompiledRules, list[list[dict[str, object]]]]:
    """50 rules (~100 durable rules) over 40 concepts with chaining; 200 patients of 20 facts."""
    pick = Pick(rng=random.Random(seed))
    rules = make_rules(pick, 50, 3, 4, concepts=40, derived=15)
    patients = [make_facts(pick, 20, concepts=40, derived=15) for _ in range(200)]
    return rules, patients


def repeated_runs_agree(count: int) -> None:
    rules, patients = workload()
    expected = [REFERENCE.run(rules, p) for p in patients]
    assert sum(map(len, expected)) > len(patients)  # the workload really fires rules
    assert any(k.startswith("c:") for e in expected for keys in e.values() for k in keys)
    engine = DurableEngine()
    for i in range(count):
        n = i % len(patients)
        assert engine.run(rules, patients[n]) == expected[n], f"evaluation {i}"
    assert engine.live_sessions() == 0


def test_5000_evaluations_in_a_row_agree() -> None:
    repeated_runs_agree(5_000)


@pytest.mark.slow
def test_100000_evaluations_in_a_row_agree() -> None:
    repeated_runs_agree(100_000)
