"""Facts the rules cannot tell apart: one representative per class goes to the engine.

A pattern reads one fact at a time (:mod:`.compiled`: kind, concept, tests on the
fact's own attributes; no test compares two facts). So two facts that match exactly
the same patterns of a rule base are interchangeable for every rule: a branch is
satisfied by one of them whenever it is satisfied by the other, and a fired rule's
support contains both or neither. A long record's series (thousands of temperatures,
weights, pain scores) therefore falls into a few classes per concept, one per cell of
the thresholds and windows the rules test (below/above the fever threshold, inside or
outside a window...), whatever the record's length.

:func:`reduce_facts` keeps the first fact of each class (and drops facts no pattern
matches); :meth:`FactClasses.expand` turns the engine's support back into every member
of each class. The result is exactly the firings of the unreduced facts:

* a branch's patterns are pairwise disjoint (the compiler proves it), so no class
  matches two patterns of one branch and the representatives of a satisfied branch
  are distinct facts, as the engines require;
* support is "every fact that matches a pattern of a satisfied branch", which is the
  union of the classes whose representatives are in the reduced support.

The classes are derived from the compiled rules alone (nothing about windows or
thresholds is written here), so they follow every change of the knowledge base.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .base import Engine
from .compiled import CompiledRules, CPattern, Firings

__all__ = ["FactClasses", "PatternIndex", "pattern_index", "reduce_facts", "run_on_classes"]

View = Mapping[str, object]
#: A keyed engine view, as :meth:`Engine.run` takes it (:func:`.prepare.engine_input`).
EngineFact = dict[str, object]


@dataclass(frozen=True)
class PatternIndex:
    """The distinct patterns of a rule base, by the (kind, concept) they can match."""

    #: (kind, concept) -> indices of the patterns naming that concept.
    by_concept: Mapping[tuple[object, object], tuple[int, ...]]
    #: kind -> indices of the patterns of that kind that name no concept (match any).
    any_concept: Mapping[object, tuple[int, ...]]
    patterns: tuple[CPattern, ...]

    def signature(self, fact: View) -> tuple[int, ...]:
        """Indices of every pattern ``fact`` matches (empty: no rule can use it)."""
        kind = fact.get("kind")
        try:
            named = self.by_concept.get((kind, fact.get("concept")), ())
            loose = self.any_concept.get(kind, ())
        except TypeError:  # an unhashable kind or concept matches no pattern
            return ()
        patterns = self.patterns
        return tuple(i for i in (*named, *loose) if patterns[i].matches(fact))


def _build_index(rules: CompiledRules) -> PatternIndex:
    distinct: dict[CPattern, int] = {}
    for rule in rules.rules:
        for branch in rule.branches:
            for p in branch:
                distinct.setdefault(p, len(distinct))
    by_concept: dict[tuple[object, object], list[int]] = {}
    any_concept: dict[object, list[int]] = {}
    for p, i in distinct.items():
        if p.concepts:
            for c in dict.fromkeys(p.concepts):
                by_concept.setdefault((p.kind, c), []).append(i)
        else:
            any_concept.setdefault(p.kind, []).append(i)
    return PatternIndex(
        by_concept={k: tuple(v) for k, v in by_concept.items()},
        any_concept={k: tuple(v) for k, v in any_concept.items()},
        patterns=tuple(distinct),
    )


_lock = threading.Lock()
_indexes: dict[str, tuple[CompiledRules, PatternIndex]] = {}
_CACHE_SIZE = 8


def pattern_index(rules: CompiledRules) -> PatternIndex:
    """The pattern index of ``rules`` (built once per rule base and cached)."""
    with _lock:
        hit = _indexes.get(rules.digest)
        if hit is not None and hit[0] is rules:
            return hit[1]
    index = _build_index(rules)
    with _lock:
        _indexes[rules.digest] = (rules, index)
        while len(_indexes) > _CACHE_SIZE:
            del _indexes[next(iter(_indexes))]
    return index


@dataclass(frozen=True)
class FactClasses:
    """The representatives of each class, in input order, and the members behind each."""

    #: One fact per class (the first in input order); what the engine is given.
    facts: tuple[EngineFact, ...]
    #: Representative key -> every member key of its class (itself included), input order.
    members: Mapping[str, tuple[str, ...]]
    #: Facts given (before reduction).
    given: int

    def expand(self, firings: Firings) -> Firings:
        """The engine's firings over the representatives, with every member put back."""
        members = self.members
        return {
            rule: frozenset(k for key in keys for k in members.get(key, (key,)))
            for rule, keys in firings.items()
        }


def reduce_facts(rules: CompiledRules, facts: Sequence[EngineFact]) -> FactClasses:
    """Group ``facts`` (keyed engine views) by the set of patterns of ``rules`` they match."""
    index = pattern_index(rules)
    first: dict[tuple[int, ...], str] = {}
    members: dict[str, list[str]] = {}
    kept: list[EngineFact] = []
    for fact in facts:
        sig = index.signature(fact)
        if not sig:
            continue
        key = str(fact["key"])
        rep = first.get(sig)
        if rep is None:
            first[sig] = key
            members[key] = [key]
            kept.append(fact)
        else:
            members[rep].append(key)
    return FactClasses(
        facts=tuple(kept),
        members={k: tuple(v) for k, v in members.items()},
        given=len(facts),
    )


def run_on_classes(engine: Engine, rules: CompiledRules, facts: Sequence[EngineFact]) -> Firings:
    """``engine.run(rules, facts)``, computed on one representative per class of facts."""
    classes = reduce_facts(rules, facts)
    return classes.expand(engine.run(rules, classes.facts))
