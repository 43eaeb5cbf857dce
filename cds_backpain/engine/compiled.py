"""Compiled rules: the engine-neutral form both engines execute.

Semantics every engine must implement exactly:

* A fact is a flat dict with ``key`` (unique in the evaluation), ``kind``, ``concept``
  and the testable attributes of :data:`cds_backpain.facts.TESTABLE_ATTRIBUTES`.
* A pattern matches a fact when kind equals, concept is one of ``concepts`` (any when
  empty) and every test holds. A test on a missing attribute does not hold.
* A rule fires when at least one branch is satisfied: every pattern of the branch
  matches at least one fact (patterns of one branch are provably disjoint, so distinct
  facts always exist). Firing asserts ``{"kind": "conclusion", "concept": rule.concept}``
  once; rules run to a fixpoint (positive rules only, so the fixpoint is unique).
* The support of a fired rule is the union, over satisfied branches, of every fact that
  matches a pattern of that branch, given as fact keys. Conclusions have key
  ``c:<concept>``; absent facts have key ``a:<kind>:<concept>`` (:mod:`.keys` builds and
  reads every key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

NUMERIC_OPS = {"lt", "le", "gt", "ge"}


@dataclass(frozen=True, slots=True)
class CTest:
    attribute: str
    op: str  # eq, lt, le, gt, ge, in
    value: object  # scalar, or tuple for "in"

    def holds(self, fact: Mapping[str, object]) -> bool:
        if self.attribute not in fact:
            return False
        v = fact[self.attribute]
        if self.op == "eq":
            return (type(v) is type(self.value) and v == self.value) or _num_eq(v, self.value)
        if self.op == "in":
            return any((type(v) is type(x) and v == x) or _num_eq(v, x) for x in self.value)  # type: ignore[attr-defined]
        if isinstance(v, bool) or not isinstance(v, int | float):
            return False
        t = self.value
        if self.op == "lt":
            return v < t  # type: ignore[operator]
        if self.op == "le":
            return v <= t  # type: ignore[operator]
        if self.op == "gt":
            return v > t  # type: ignore[operator]
        return v >= t  # type: ignore[operator]


def _num_eq(a: object, b: object) -> bool:
    return (
        isinstance(a, int | float)
        and isinstance(b, int | float)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


@dataclass(frozen=True, slots=True)
class CPattern:
    kind: str
    concepts: tuple[str, ...]
    tests: tuple[CTest, ...]

    def matches(self, fact: Mapping[str, object]) -> bool:
        if fact.get("kind") != self.kind:
            return False
        if self.concepts and fact.get("concept") not in self.concepts:
            return False
        return all(t.holds(fact) for t in self.tests)


@dataclass(frozen=True, slots=True)
class CRule:
    id: str
    concept: str
    branches: tuple[tuple[CPattern, ...], ...]


@dataclass(frozen=True)
class CompiledRules:
    """The whole compiled rule base, in a stable order."""

    rules: tuple[CRule, ...]
    #: (kind, concept) pairs whose absence some rule tests.
    absence: frozenset[tuple[str, str]]
    #: Concepts that some rule consumes as a ``conclusion`` pattern.
    consumed: frozenset[str]
    digest: str
    by_id: dict[str, CRule] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_id.update({r.id: r for r in self.rules})


#: Rule id -> keys of the facts that supported it. What every engine returns.
Firings = dict[str, frozenset[str]]
