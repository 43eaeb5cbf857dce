"""Turn facts into the engine input both engines share: keyed views plus absent facts."""

from __future__ import annotations

from collections.abc import Sequence

from ..facts import Fact, counts_as_positive
from .compiled import CompiledRules
from .keys import Absence, InputFact

__all__ = ["counts_as_positive", "engine_input"]


def engine_input(rules: CompiledRules, facts: Sequence[Fact]) -> list[dict[str, object]]:
    """Keyed flat views of ``facts`` (key ``f<i>``) followed by the absent facts."""
    views: list[dict[str, object]] = []
    positive: set[tuple[str, str]] = set()
    for i, fact in enumerate(facts):
        view = fact.engine_view()
        view["key"] = str(InputFact(i))
        views.append(view)
        if counts_as_positive(fact):
            positive.add((fact.kind, fact.concept))
    for kind, concept in sorted(rules.absence - positive):
        absence = Absence(kind, concept)
        views.append({"key": str(absence), "kind": "absent", "concept": absence.pattern_concept})
    return views
