"""From engine firings to recommendations: derivations, suppression, evidence, provenance.

This stage runs after forward chaining and is shared by both engines, so it cannot
make them disagree. It applies, in order:

1. ``recommend.unless``: a recommendation is dropped when any concept it names was
   concluded or found (stratified negation over the finished fixpoint);
2. the safety policy: when any red flag stands, self-care advice, info-level messages
   that are no safety warning and "not appropriate" imaging ratings are removed
   (:meth:`~cds_backpain.kb.models.Policy.withdrawn_beside_red_flag`; non-negotiable);
3. evidence: the input resources of every fact the derivation rests on, followed
   transitively through the conclusions it used;
4. ratings of draft imaging orders by the policy's precedence; an order that records no
   indication and that only "no criteria apply" would rate is not rated (PAMA asks for
   the indication instead: :func:`missing_indication`, and a card per order).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

from .engine.compiled import Firings
from .engine.keys import Absence, ConcludedConcept, FactKey, InputFact, parse_key
from .evaluation import (
    AbsenceSupport,
    Conclusion,
    ConclusionSupport,
    Derivation,
    FactSupport,
    GuidelineCitation,
    Provenance,
    ResourceSupport,
    SuggestionOut,
    SupportItem,
)
from .facts import Fact, counts_as_positive
from .kb.knowledge import CitedGuideline, Knowledge
from .kb.models import Policy, Recommend

#: Rule id -> the keys of the facts it fired on, read back from the engine's strings.
_KeyedFirings = dict[str, frozenset[FactKey]]


def _typed(firings: Firings) -> _KeyedFirings:
    return {rid: frozenset(parse_key(k) for k in keys) for rid, keys in firings.items()}


def _support_items(key: FactKey, facts: Sequence[Fact]) -> list[SupportItem]:
    match key:
        case InputFact(index):
            fact = facts[index]
            refs: list[SupportItem] = [ResourceSupport(r) for r in fact.resources()]
            return refs or [FactSupport(fact.concept)]
        case ConcludedConcept(concept):
            return [ConclusionSupport(concept)]
        case Absence(kind, concept):
            return [AbsenceSupport(kind, concept)]


def derivations(
    knowledge: Knowledge, facts: Sequence[Fact], firings: Firings
) -> tuple[Derivation, ...]:
    """One Derivation per fired rule, in knowledge order."""
    out = []
    for rule_id, rule in knowledge.rules.items():
        if rule_id not in firings:
            continue
        labels = sorted(
            {str(item) for k in firings[rule_id] for item in _support_items(parse_key(k), facts)}
        )
        out.append(Derivation(rule=rule_id, concept=rule.concept, support=tuple(labels)))
    return tuple(out)


class _Support:
    """What each fired rule rests on, computed once per evaluation (not once per conclusion)."""

    def __init__(
        self,
        knowledge: Knowledge,
        facts: Sequence[Fact],
        firings: _KeyedFirings,
        withdrawn: frozenset[str] = frozenset(),
    ):
        self._knowledge, self._facts, self._firings = knowledge, facts, firings
        # Concept -> the fired rules that concluded it. Where some of them stand and others
        # were withdrawn by their own ``unless`` (a more specific card took their place), a
        # chain goes through the standing ones only: a card never names, as its reason, a
        # rule whose premise the record contradicts ("no back pain recorded" beside recorded
        # back pain). What only withdrawn rules concluded keeps them all.
        concluders: dict[str, list[str]] = {}
        for rid in firings:
            concluders.setdefault(knowledge.rules[rid].concept, []).append(rid)
        self.by_concept: dict[str, list[str]] = {
            concept: [r for r in rids if r not in withdrawn] or rids
            for concept, rids in concluders.items()
        }
        self._standing = {
            concept for concept, rids in concluders.items() if any(r not in withdrawn for r in rids)
        }
        self.uses: dict[str, list[str]] = {
            rid: sorted(k.concept for k in keys if isinstance(k, ConcludedConcept))
            for rid, keys in firings.items()
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
            used = self.uses[rid]
            # Of several conclusions a rule fired on (an ``any`` of red flags), the ones that
            # stand are its reasons; only if none stands are the withdrawn ones named.
            for concept in [c for c in used if c in self._standing] or used:
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
                if isinstance(key, InputFact)
                for r in facts[key.index].resources()
            )
        return got

    def orders(self, rule_id: str) -> set[str]:
        """Draft imaging orders among the facts ``rule_id`` fired on."""
        facts = self._facts
        return {
            fact.source
            for key in self._firings[rule_id]
            if isinstance(key, InputFact)
            and (fact := facts[key.index]).kind == "order"
            and fact.source
        }


def _provenance(knowledge: Knowledge, chain: Sequence[str]) -> tuple[Provenance, ...]:
    items: list[Provenance] = []
    seen: set[tuple[object, ...]] = set()
    rested_on = {knowledge.rules[rid].concept for rid in chain}
    for rid in chain:
        for cited in knowledge.citations(rid):
            if cited.ref.when_chain and rested_on.isdisjoint(cited.ref.when_chain):
                continue  # e.g. a paediatric variant on an adult's rating card
            if isinstance(cited, CitedGuideline):
                g = cited.guideline
                item: Provenance = GuidelineCitation(
                    guideline=g.id,
                    citation=g.citation,
                    url=g.url,
                    statement=g.statement,
                    supports=cited.ref.supports,
                )
                k: tuple[object, ...] = ("g", g.id)
            else:
                span = cited.span
                item, k = span, ("s", span.source, span.start, span.end)
            if k not in seen:
                seen.add(k)
                items.append(item)
    return tuple(items)


def apply_red_flag_policy(
    knowledge: Knowledge, candidates: Sequence[tuple[str, Recommend]]
) -> list[tuple[str, Recommend]]:
    """``candidates`` (rule id, recommendation) without what the red-flag policy withdraws
    (:meth:`~cds_backpain.kb.models.Policy.withdrawn_beside_red_flag`) when any is a red flag."""
    if not any(rec.red_flag for _, rec in candidates):
        return list(candidates)
    policy = knowledge.policy
    return [(rid, rec) for rid, rec in candidates if not policy.withdrawn_beside_red_flag(rec)]


def resolve(
    knowledge: Knowledge, facts: Sequence[Fact], firings: Firings
) -> tuple[tuple[Conclusion, ...], dict[str, str]]:
    """Recommendations (most urgent first) and the rating of each draft imaging order."""
    concluded = {knowledge.rules[rid].concept for rid in firings}
    found = {f.concept for f in facts if f.kind != "patient" and counts_as_positive(f)}
    present = concluded | found

    candidates = []
    unless_withdrawn: set[str] = set()
    for rid, rule in knowledge.rules.items():
        rec = rule.recommend
        if rec is None or rid not in firings:
            continue
        if any(c in present for c in rec.unless):
            unless_withdrawn.add(rid)
            continue
        candidates.append((rid, rec))
    candidates = apply_red_flag_policy(knowledge, candidates)

    support = _Support(knowledge, facts, _typed(firings), frozenset(unless_withdrawn))
    conclusions = []
    for rid, rec in candidates:
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
    unrated = _withheld(facts, ratings)
    for order in unrated:
        del ratings[order]
    conclusions = [
        c.model_copy(update={"orders": tuple(o for o in c.orders if o not in unrated)})
        if unrated.intersection(c.orders)
        else c
        for c in conclusions
    ]
    # A rating conclusion that lost on every order it rated (or rates none any more) would
    # contradict the winner: drop it.
    conclusions = [
        c
        for c in conclusions
        if c.rating is None or any(ratings.get(o) == c.rating for o in c.orders)
    ]
    return tuple(conclusions), dict(sorted(ratings.items()))


def _without_indication(facts: Sequence[Fact]) -> set[str]:
    return {f.source for f in facts if f.kind == "order" and f.indication is False and f.source}


def _withheld(facts: Sequence[Fact], ratings: dict[str, str]) -> set[str]:
    """Orders that record no indication and whose only rating is "no-criteria-apply":
    they are not rated (the orderer is asked for the indication instead)."""
    lacking = _without_indication(facts)
    return {o for o, r in ratings.items() if r == "no-criteria-apply" and o in lacking}


def missing_indication(facts: Sequence[Fact], ratings: Mapping[str, str]) -> tuple[str, ...]:
    """The draft orders :func:`resolve` left unrated because they record no indication
    (``ratings`` is what it returned): each gets a card asking for the indication.

    With the bundled knowledge every draft imaging order has a rating rule
    (``imaging-order-no-criteria`` rates any), so these are exactly the orders whose
    "no criteria apply" rating was withheld.
    """
    return tuple(sorted(_without_indication(facts) - set(ratings)))


def headline(conclusions: Sequence[Conclusion], policy: Policy) -> tuple[str | None, str]:
    """Top-level urgency (the highest) and the imaging advice that goes with it (the most
    intensive among the most urgent conclusions), ranked by ``policy`` (knowledge/policy.yaml)."""
    if not conclusions:
        return None, "none"
    top = max(policy.urgency_rank(c.urgency) for c in conclusions)
    at_top = [c for c in conclusions if policy.urgency_rank(c.urgency) == top]
    imaging = max((c.imaging for c in at_top), key=policy.imaging_rank)
    return at_top[0].urgency, imaging
