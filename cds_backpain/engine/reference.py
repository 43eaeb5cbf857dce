"""The reference engine: a small, obviously-correct pure-Python forward chainer.

It is the oracle the durable-rules engine is tested against, and the engine used
where durable-rules cannot be installed. Semantics: :mod:`.compiled`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from .compiled import CompiledRules, Firings
from .keys import ConcludedConcept


class ReferenceEngine:
    """Naive fixpoint iteration over the compiled rules (monotone, so order-free)."""

    name = "reference"

    def run(self, rules: CompiledRules, facts: Sequence[dict[str, object]]) -> Firings:
        by_kind: dict[object, list[dict[str, object]]] = defaultdict(list)
        for f in facts:
            by_kind[f["kind"]].append(f)
        fired: dict[str, frozenset[str]] = {}
        concluded: set[str] = set()
        changed = True
        while changed:
            changed = False
            for rule in rules.rules:
                support: set[str] = set()
                satisfied = False
                for branch in rule.branches:
                    matched = [
                        [str(f["key"]) for f in by_kind.get(p.kind, ()) if p.matches(f)]
                        for p in branch
                    ]
                    if all(matched):
                        satisfied = True
                        for keys in matched:
                            support.update(keys)
                if not satisfied:
                    continue
                frozen = frozenset(support)
                if fired.get(rule.id) != frozen:
                    fired[rule.id] = frozen
                    changed = True
                if rule.concept not in concluded:
                    concluded.add(rule.concept)
                    by_kind["conclusion"].append(
                        {
                            "key": str(ConcludedConcept(rule.concept)),
                            "kind": "conclusion",
                            "concept": rule.concept,
                        }
                    )
                    changed = True
        return fired
