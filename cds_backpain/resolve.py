"""From engine firings to recommendations: derivations, suppression, evidence, provenance.

This stage runs after forward chaining and is shared by both engines, so it cannot
make them disagree. It applies, in order:

1. ``recommend.unless``: a recommendation is dropped when any concept it names was
   concluded or found (stratified negation over the finished fixpoint);
2. the safety policy: when any red flag stands, self-care advice and
   "not appropriate" imaging ratings are removed (non-negotiable, not configurable);
3. evidence: the input resources of every fact the derivation rests on, followed
   transitively through the conclusions it used;
4. ratings of draft imaging orders by the policy's precedence.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from .engine.compiled import Firings
from .engine.prepare import counts_as_positive
from .facts import Fact
from .kb.knowledge import Knowledge
from .kb.models import Policy, Recommend
from .results import (
    Conclusion,
    Derivation,
    GuidelineCitation,
    Provenance,
    SuggestionOut,
)


def _support_label(key: str, facts: Sequence[Fact]) -> list[str]:
    if key.startswith("f"):
        return list(facts[int(key[1:])].resources()) or [f"fact:{facts[int(key[1:])].concept}"]
    if key.startswith("c:"):
        return [f"conclusion:{key[2:]}"]
    return [f"absent:{key[2:]}"]


def derivations(
    knowledge: Knowledge, facts: Sequence[Fact], firings: Firings
) -> tuple[Derivation, ...]:
    """One Derivation per fired rule, in knowledge order."""
    out = []
    for rule_id, rule in knowledge.rules.items():
        if rule_id not in firings:
            continue
        labels = sorted({lab for k in firings[rule_id] for lab in _support_label(k, facts)})
        out.append(Derivation(rule=rule_id, concept=rule.concept, support=tuple(labels)))
    return tuple(out)


class _Support:
    """What each fired rule rests on, computed once per evaluation (not once per conclusion)."""

    def __init__(self, knowledge: Knowledge, facts: Sequence[Fact], firings: Firings):
        self._knowledge, self._facts, self._firings = knowledge, facts, firings
        self.by_concept: dict[str, list[str]] = {}
        for rid in firings:
            self.by_concept.setdefault(knowledge.rules[rid].concept, []).append(rid)
        self.uses: dict[str, list[str]] = {
            rid: sorted(k[2:] for k in keys if k.startswith("c:")) for rid, keys in firings.items()
        }
        self._resources: dict[str, frozenset[str]] = {}

    def chain(self, rule_id: str) -> list[str]:
        """The rule and, transitively, every fired rule whose conclusion it used."""
        order, seen, todo = [], set(), deque([rule_id])
        while todo:
            rid = todo.popleft()
            if rid in seen:
                continue
            seen.add(rid)
            order.append(rid)
            for concept in self.uses[rid]:
                todo.extend(sorted(self.by_concept.get(concept, ())))
        return order

    def resources(self, rule_id: str) -> frozenset[str]:
        """The input resources of the facts ``rule_id`` fired on (not through conclusions)."""
        got = self._resources.get(rule_id)
        if got is None:
            facts = self._facts
            got = self._resources[rule_id] = frozenset(
                r
                for key in self._firings[rule_id]
                if key.startswith("f")
                for r in facts[int(key[1:])].resources()
            )
        return got

    def orders(self, rule_id: str) -> set[str]:
        """Draft imaging orders among the facts ``rule_id`` fired on."""
        facts = self._facts
        return {
            fact.source
            for key in self._firings[rule_id]
            if key.startswith("f") and (fact := facts[int(key[1:])]).kind == "order" and fact.source
        }


def _provenance(knowledge: Knowledge, chain: Sequence[str]) -> tuple[Provenance, ...]:
    items: list[Provenance] = []
    seen: set[tuple[object, ...]] = set()
    for rid in chain:
        spans = iter(knowledge.spans[rid])
        for ref in knowledge.rules[rid].provenance:
            if hasattr(ref, "guideline"):
                g = knowledge.guidelines[ref.guideline]
                item: Provenance = GuidelineCitation(
                    guideline=g.id,
                    citation=g.citation,
                    url=g.url,
                    statement=g.statement,
                    supports=ref.supports,
                )
                k: tuple[object, ...] = ("g", g.id)
            else:
                item = next(spans)
                k = ("s", item.source, item.start, item.end)
            if k not in seen:
                seen.add(k)
                items.append(item)
    return tuple(items)


def _withdrawn_beside_red_flag(knowledge: Knowledge, rec: Recommend) -> bool:
    """The red-flag policy (knowledge/policy.yaml): what never stands beside a red flag."""
    policy = knowledge.policy
    if rec.red_flag:
        return False
    if rec.rating is not None:
        return rec.rating == "not-appropriate"
    if policy.suppress_self_care_beside_red_flag and rec.self_care:
        return True
    return (
        policy.suppress_info_beside_red_flag
        and rec.urgency == "self_care"
        and not rec.safety_warning
    )


def resolve(
    knowledge: Knowledge, facts: Sequence[Fact], firings: Firings
) -> tuple[tuple[Conclusion, ...], dict[str, str]]:
    """Recommendations (most urgent first) and the rating of each draft imaging order."""
    concluded = {knowledge.rules[rid].concept for rid in firings}
    found = {f.concept for f in facts if f.kind != "patient" and counts_as_positive(f)}
    present = concluded | found

    candidates = []
    for rid, rule in knowledge.rules.items():
        rec = rule.recommend
        if rec is None or rid not in firings:
            continue
        if any(c in present for c in rec.unless):
            continue
        candidates.append((rid, rule, rec))
    if any(rec.red_flag for _, _, rec in candidates):
        candidates = [
            (rid, rule, rec)
            for rid, rule, rec in candidates
            if not _withdrawn_beside_red_flag(knowledge, rec)
        ]

    support = _Support(knowledge, facts, firings)
    conclusions = []
    for rid, _rule, rec in candidates:
        chain = support.chain(rid)
        evidence: set[str] = set().union(*(support.resources(r) for r in chain))
        orders = support.orders(rid) if rec.rating else set()
        conclusions.append(
            Conclusion(
                id=rid,
                category=rec.category,
                urgency=rec.urgency,
                imaging=rec.imaging,
                red_flag=rec.red_flag,
                self_care=rec.self_care,
                summary=rec.summary,
                advice=rec.advice,
                rules=tuple(chain),
                evidence=tuple(sorted(evidence)),
                provenance=_provenance(knowledge, chain),
                suggestions=tuple(
                    SuggestionOut(label=s.label, template=s.template, recommended=s.recommended)
                    for s in rec.suggestions
                ),
                rating=rec.rating,
                orders=tuple(sorted(orders)) if rec.rating else (),
            )
        )
    rank = knowledge.policy.urgency_rank
    conclusions.sort(key=lambda c: (-rank(c.urgency), not c.red_flag, c.id))

    ratings: dict[str, str] = {}
    precedence = knowledge.policy.rating_precedence
    for c in conclusions:
        for order in c.orders:
            current = ratings.get(order)
            if current is None or precedence.index(c.rating) < precedence.index(current):
                ratings[order] = c.rating  # type: ignore[assignment]
    # A rating conclusion that lost on every order it rated would contradict the winner: drop it.
    conclusions = [
        c
        for c in conclusions
        if c.rating is None or any(ratings.get(o) == c.rating for o in c.orders)
    ]
    return tuple(conclusions), dict(sorted(ratings.items()))


def headline(conclusions: Sequence[Conclusion], policy: Policy) -> tuple[str | None, str]:
    """Top-level urgency (the highest) and the imaging advice that goes with it (the most
    intensive among the most urgent conclusions), ranked by ``policy`` (knowledge/policy.yaml)."""
    if not conclusions:
        return None, "none"
    top = max(policy.urgency_rank(c.urgency) for c in conclusions)
    at_top = [c for c in conclusions if policy.urgency_rank(c.urgency) == top]
    imaging = max((c.imaging for c in at_top), key=policy.imaging_rank)
    return at_top[0].urgency, imaging
