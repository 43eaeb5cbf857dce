"""Turn facts into the engine input both engines share: keyed views plus absent facts."""

from __future__ import annotations

from collections.abc import Sequence

from ..facts import DEFAULT_QUALIFIERS, Fact
from .compiled import CompiledRules, absent_key


def counts_as_positive(fact: Fact) -> bool:
    """Whether ``fact`` is current positive evidence of its concept (defaults of a pattern)."""
    for attr, want in DEFAULT_QUALIFIERS.get(fact.kind, {}).items():
        if getattr(fact, attr) != want:
            return False
    return True


def engine_input(rules: CompiledRules, facts: Sequence[Fact]) -> list[dict[str, object]]:
    """Keyed flat views of ``facts`` (key ``f<i>``) followed by the absent facts."""
    views: list[dict[str, object]] = []
    positive: set[tuple[str, str]] = set()
    for i, fact in enumerate(facts):
        view = fact.engine_view()
        view["key"] = f"f{i}"
        views.append(view)
        if counts_as_positive(fact):
            positive.add((fact.kind, fact.concept))
    for kind, concept in sorted(rules.absence - positive):
        views.append(
            {"key": absent_key(kind, concept), "kind": "absent", "concept": f"{kind}:{concept}"}
        )
    return views
