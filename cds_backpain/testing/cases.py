"""Coherent patients built from the rules: the strategies behind :func:`rule_cases`.

A *plan* is one way to satisfy a recommendation rule: bounds on the patient's age and
sex, the facts it needs (patterns of the chosen branch, plus those of the rules its
``conclusion`` patterns rest on) and the concepts that must be missing (``none``
clauses and the rule's ``unless`` list). Plans are enumerated from the compiled rules
(capped), kept only when their representative facts fire the rule in the reference
engine, and drawn as FHIR resources whose predicted facts are checked again per draw.
No clinical content lives here: rules, thresholds and codes all come from knowledge.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, get_args

from hypothesis import assume
from hypothesis import strategies as st

from ..engine.compiled import CompiledRules, CPattern, CRule, CTest
from ..engine.keys import Absence
from ..engine.prepare import engine_input
from ..engine.reference import ReferenceEngine
from ..facts import Fact
from ..vocabulary import Laterality, Modality
from . import builders as _fhir
from .builders import ABSENT, PRESENT
from .strategies import (
    CURRENT_CLINICAL,
    EVIDENCE_OBSERVATION,
    EVIDENCE_VERIFICATION,
    HISTORY_CLINICAL,
    MEASURE_RANGES,
    CodeBook,
    Json,
    Knowledgeish,
    ValueSetCode,
    assemble_bundle,
    clinical_resources,
    code_book,
    concept_codes,
    days_before,
    evaluation_instant,
    knowledge_or_default,
    round_to,
)

__all__ = [
    "RuleCase",
    "category_bundles",
    "mechanical_bundles",
    "red_flag_bundles",
    "red_flag_cases",
    "red_flag_rules",
    "rule_cases",
]

_MAX_AGE = 120
_MAX_DAYS = 3650
_PLANS_PER_RULE = 48
_SEXES = ("female", "male", "other", "unknown")
#: The indication every built draft order records (an order without one is not rated
#: "no criteria apply" but asked for its indication).
ORDER_REASON = "Low back pain"
_SIDES: tuple[str, ...] = get_args(Laterality)
#: The values of a finding Observation that answer no / yes: a boolean or Absent / Present.
_NO_ANSWERS: tuple[bool | Mapping[str, Any], ...] = (False, ABSENT)
_YES_ANSWERS: tuple[bool | Mapping[str, Any], ...] = (True, PRESENT)
_MODALITIES: tuple[str, ...] = get_args(Modality)


def red_flag_rules(knowledge: Knowledgeish | None = None) -> tuple[str, ...]:
    """Ids of the recommendation rules flagged ``red_flag`` in the knowledge base."""
    kb = knowledge_or_default(knowledge)
    return tuple(
        rid for rid, r in kb.rules.items() if r.recommend is not None and r.recommend.red_flag
    )


def _rules_concluding(compiled: CompiledRules, concept: str) -> list[CRule]:
    return [r for r in compiled.rules if r.concept == concept]


def _allows(t: CTest, value: object) -> bool:
    return t.holds({t.attribute: value})


def positive(p: CPattern) -> bool:
    """Whether facts matching ``p`` can be current positive evidence."""
    for t in p.tests:
        if t.attribute == "present" and not _allows(t, True):
            return False
        if t.attribute == "current" and not _allows(t, True):
            return False
        if t.attribute == "status" and not _allows(t, "active"):
            return False
    return True


@dataclass(frozen=True)
class _Interval:
    lo: int
    hi: int

    @property
    def empty(self) -> bool:
        return self.lo > self.hi


def _int_interval(tests: Iterable[CTest], attr: str, lo: int, hi: int) -> _Interval:
    for t in tests:
        if t.attribute != attr or isinstance(t.value, bool):
            continue
        if not isinstance(t.value, int | float):
            continue
        v = t.value
        if t.op == "eq":
            lo, hi = max(lo, math.ceil(v)), min(hi, math.floor(v))
        elif t.op == "gt":
            lo = max(lo, math.floor(v) + 1)
        elif t.op == "ge":
            lo = max(lo, math.ceil(v))
        elif t.op == "lt":
            hi = min(hi, math.ceil(v) - 1)
        elif t.op == "le":
            hi = min(hi, math.floor(v))
    return _Interval(lo, hi)


_T = TypeVar("_T")


def _choices(tests: Iterable[CTest], attr: str, universe: Sequence[_T]) -> list[_T]:
    relevant = [t for t in tests if t.attribute == attr]
    return [u for u in universe if all(t.holds({attr: u}) for t in relevant)]


@dataclass(frozen=True)
class _Plan:
    rule: str
    age: _Interval
    sexes: frozenset[str]
    needs: tuple[CPattern, ...]
    forbid: frozenset[str]
    rules: tuple[str, ...]
    #: An (age, sex) known to fire the rule with representative facts.
    witness: tuple[int, str] | None = None

    def merge(self, other: _Plan) -> _Plan | None:
        age = _Interval(max(self.age.lo, other.age.lo), min(self.age.hi, other.age.hi))
        sexes = self.sexes & other.sexes
        if age.empty or not sexes:
            return None
        return _Plan(
            self.rule,
            age,
            sexes,
            self.needs + other.needs,
            self.forbid | other.forbid,
            tuple(dict.fromkeys(self.rules + other.rules)),
        )


def _step(rule: str, **kw: Any) -> _Plan:
    base: dict[str, Any] = {
        "age": _Interval(0, _MAX_AGE),
        "sexes": frozenset(_SEXES),
        "needs": (),
        "forbid": frozenset(),
        "rules": (),
    }
    base.update(kw)
    return _Plan(rule, **base)


def _branch_plans(
    compiled: CompiledRules, rule: CRule, branch: Sequence[CPattern], stack: tuple[str, ...]
) -> list[_Plan]:
    plans = [_step(rule.id, rules=(rule.id,))]
    for pat in branch:
        if pat.kind == "conclusion":
            subs = [
                sp
                for c in pat.concepts
                for r in _rules_concluding(compiled, c)
                if r.id not in stack
                for sp in _rule_plans(compiled, r, (*stack, r.id))
            ]
        elif pat.kind == "patient":
            subs = [
                _step(
                    rule.id,
                    age=_int_interval(pat.tests, "age", 0, _MAX_AGE),
                    sexes=frozenset(_choices(pat.tests, "sex", _SEXES)),
                )
            ]
        elif pat.kind == "absent":
            subs = [
                _step(
                    rule.id,
                    forbid=frozenset(Absence.from_pattern_concept(c).concept for c in pat.concepts),
                )
            ]
        else:
            subs = [_step(rule.id, needs=(pat,))]
        plans = [m for p in plans for s in subs if (m := p.merge(s)) is not None]
        plans = plans[:_PLANS_PER_RULE]
        if not plans:
            break
    return plans


def _rule_plans(compiled: CompiledRules, rule: CRule, stack: tuple[str, ...]) -> list[_Plan]:
    if len(stack) > 8:
        return []
    out: list[_Plan] = []
    for branch in rule.branches:
        out.extend(_branch_plans(compiled, rule, branch, stack))
    return out[:_PLANS_PER_RULE]


def _concepts(need: CPattern, forbid: frozenset[str]) -> list[str]:
    if not positive(need):
        return list(need.concepts)
    return [c for c in need.concepts if c not in forbid]


def _ended(tests: Iterable[CTest]) -> _Interval:
    """Days since a med course ended that satisfy ``tests``."""
    return _int_interval(tests, "ended_days", 0, _MAX_DAYS)


def _pick(iv: _Interval, preferred: int) -> int:
    return min(max(preferred, iv.lo), iv.hi)


def _representative(need: CPattern, concept: str) -> dict[str, Any]:
    tests = need.tests
    attrs: dict[str, Any] = {}
    if need.kind == "finding":
        attrs["present"] = _choices(tests, "present", (True, False))[0]
        attrs["status"] = _choices(tests, "status", ("active", "history"))[0]
        if any(t.attribute == "laterality" for t in tests):
            attrs["laterality"] = _choices(tests, "laterality", _SIDES)[0]
        attrs["days"] = _pick(_int_interval(tests, "days", 0, _MAX_DAYS), 7)
    elif need.kind == "measure":
        exact = [t.value for t in tests if t.attribute == "value" and t.op in ("eq", "in")]
        if exact:
            attrs["value"] = exact[0][0] if isinstance(exact[0], tuple) else exact[0]
        else:
            attrs["value"] = float(_pick(_int_interval(tests, "value", -(10**6), 10**6), 0))
        attrs["days"] = _pick(_int_interval(tests, "days", 0, _MAX_DAYS), 0)
    elif need.kind == "med":
        attrs["current"] = _choices(tests, "current", (True, False))[0]
        attrs["days"] = _pick(_int_interval(tests, "days", 0, _MAX_DAYS), 7)
        attrs["ended_days"] = 0 if attrs["current"] else _pick(_ended(tests), 1)
    elif need.kind == "order":
        attrs["modality"] = _choices(tests, "modality", _MODALITIES)[0]
    return attrs


def _fires(kb: Knowledgeish, rule: str, facts: Sequence[Fact]) -> tuple[bool, frozenset[str]]:
    """Whether ``rule`` fires on ``facts`` (reference engine) and is not dropped by its
    ``unless`` list; also every rule that fired."""
    firings = ReferenceEngine().run(kb.compiled, engine_input(kb.compiled, facts))
    if rule not in firings:
        return False, frozenset(firings)
    rec = kb.rules[rule].recommend if rule in kb.rules else None
    unless = set(rec.unless) if rec is not None else set()
    concluded = {kb.compiled.by_id[r].concept for r in firings}
    found = {f.concept for f in facts if f.kind != "patient" and f.present is not False}
    return not (unless & (concluded | found)), frozenset(firings)


#: Ages tried, in order, when looking for an assignment that fires a plan's rule.
_TRY_AGES = (35, 25, 45, 55, 17, 70, 80, 12, 8)


def _witness(kb: Knowledgeish, plan: _Plan) -> tuple[int, str] | None:
    """An (age, sex) at which the plan's representative facts fire its rule, if any."""
    needs: list[Fact] = []
    for i, need in enumerate(plan.needs):
        allowed = _concepts(need, plan.forbid)
        if not allowed:
            return None
        try:
            attrs = _representative(need, allowed[0])
        except IndexError:
            return None
        needs.append(
            Fact.model_validate(
                {"kind": need.kind, "concept": allowed[0], "source": f"Need/{i}", **attrs}
            )
        )
    ages = dict.fromkeys([*(_pick(plan.age, a) for a in _TRY_AGES), plan.age.lo, plan.age.hi])
    for age in ages:
        for sex in sorted(plan.sexes):
            patient = Fact.model_validate(
                {"kind": "patient", "concept": "patient", "age": age, "sex": sex}
            )
            if _fires(kb, plan.rule, [patient, *needs])[0]:
                return age, sex
    return None


def _plans_for(book: CodeBook, rule_id: str) -> list[_Plan]:
    with book.lock:
        if rule_id in book.plans:
            cached: list[_Plan] = book.plans[rule_id]  # the cache this function fills
            return cached
    kb = book.knowledge
    rec = kb.rules[rule_id].recommend
    unless = frozenset(rec.unless) if rec is not None else frozenset()
    plans = []
    for p in _rule_plans(kb.compiled, kb.compiled.by_id[rule_id], (rule_id,)):
        p = _Plan(p.rule, p.age, p.sexes, p.needs, p.forbid | unless, p.rules)
        found = _witness(kb, p)
        if found is not None:
            plans.append(_Plan(p.rule, p.age, p.sexes, p.needs, p.forbid, p.rules, found))
    with book.lock:
        book.plans[rule_id] = plans
    return plans


def _days(tests: Sequence[CTest], preferred: tuple[int, int], usual: int) -> st.SearchStrategy[int]:
    """Days satisfying ``tests``: first the representative value, then a preferred range."""
    iv = _int_interval(tests, "days", 0, _MAX_DAYS)
    if iv.empty:
        return st.nothing()
    lo, hi = max(iv.lo, preferred[0]), min(iv.hi, preferred[1])
    spread = st.integers(lo, hi) if lo <= hi else st.integers(iv.lo, iv.hi)
    return st.one_of(st.just(_pick(iv, usual)), spread)


def _value(tests: Sequence[CTest], unit: str) -> st.SearchStrategy[float | int]:
    lo, hi, dec = MEASURE_RANGES.get(unit, (0.0, 100.0, 1))
    scale = 10**dec
    exact = [t.value for t in tests if t.attribute == "value" and t.op in ("eq", "in")]
    if exact:
        return st.sampled_from(list(exact[0] if isinstance(exact[0], tuple) else (exact[0],)))
    scaled = [
        CTest(t.attribute, t.op, t.value * scale)
        for t in tests
        if t.attribute == "value" and isinstance(t.value, int | float)
    ]
    iv = _int_interval(scaled, "value", -(10**9), 10**9)
    if iv.empty:
        return st.nothing()
    plo, phi = max(iv.lo, int(lo * scale)), min(iv.hi, int(hi * scale))
    if plo > phi:
        plo, phi = iv.lo, min(iv.hi, iv.lo + 10 * scale)
    return st.integers(plo, phi).map(lambda n: round_to(n / scale, dec))


def _facts_of(book: CodeBook, code: ValueSetCode, kind: str, i: int, **attrs: Any) -> list[Fact]:
    """The facts ingest should make of a resource coded ``code`` (one per concept)."""
    out = []
    for concept in sorted(code.concepts):
        if book.kinds.get(concept) != kind:
            continue
        out.append(
            Fact.model_validate({"kind": kind, "concept": concept, "source": f"Need/{i}", **attrs})
        )
    return out


def _need_resource(
    book: CodeBook, need: CPattern, forbid: frozenset[str], now: dt.datetime, i: int
) -> st.SearchStrategy[tuple[Json, list[Fact]]]:
    """A resource ingest turns into a fact matching ``need``, with the facts predicted."""
    concepts = _concepts(need, forbid) or list(need.concepts)
    bad = forbid if positive(need) else frozenset()
    tests = need.tests

    @st.composite
    def gen(draw: st.DrawFn) -> tuple[Json, list[Fact]]:
        concept = draw(st.sampled_from(concepts))
        kind = need.kind
        if kind == "finding":
            present = draw(st.sampled_from(_choices(tests, "present", (True, False))))
            status = draw(st.sampled_from(_choices(tests, "status", ("active", "history"))))
            side = None
            if any(t.attribute == "laterality" for t in tests):
                side = draw(st.sampled_from(_choices(tests, "laterality", _SIDES)))
            days = draw(_days(tests, (0, 120), 7))
            code = draw(concept_codes(book, concept, laterality=side, forbid=bad - {concept}))
            body_side = side if side is not None and code.laterality != side else None
            when = days_before(now, days)
            facts = _facts_of(
                book,
                code,
                "finding",
                i,
                present=present,
                status=status,
                laterality=side or code.laterality,
                days=days,
            )
            if not present:
                res = _fhir.observation(
                    "x",
                    [code.coding()],
                    status=draw(st.sampled_from(EVIDENCE_OBSERVATION)),
                    effective=when,
                    value=draw(st.sampled_from(_NO_ANSWERS)),
                    side=body_side,
                )
            elif status == "active" and body_side is None and draw(st.booleans()):
                res = _fhir.observation(
                    "x",
                    [code.coding()],
                    status=draw(st.sampled_from(EVIDENCE_OBSERVATION)),
                    effective=when,
                    value=draw(st.sampled_from(_YES_ANSWERS)),
                )
            else:
                clinical = CURRENT_CLINICAL if status == "active" else HISTORY_CLINICAL
                res = _fhir.condition(
                    "x",
                    [code.coding()],
                    clinical=draw(st.sampled_from(clinical)),
                    verification=draw(st.sampled_from(EVIDENCE_VERIFICATION)),
                    onset=when,
                    side=body_side,
                )
            return res, facts
        if kind == "measure":
            unit = book.units.get(concept) or ""
            value = draw(_value(tests, unit))
            days = draw(_days(tests, (0, 30), 0))
            code = draw(concept_codes(book, concept, forbid=bad - {concept}))
            res = _fhir.observation(
                "x",
                [code.coding()],
                status=draw(st.sampled_from(EVIDENCE_OBSERVATION)),
                effective=days_before(now, days),
                value=(value, unit),
                category="vital-signs",
            )
            return res, _facts_of(book, code, "measure", i, value=float(value), days=days)
        if kind == "med":
            ended_iv = _ended(tests)
            zero_ok = ended_iv.lo <= 0 <= ended_iv.hi
            currents = [c for c in _choices(tests, "current", (True, False)) if zero_ok or not c]
            current = draw(st.sampled_from(currents))
            days = draw(_days(tests, (1, 400), 7))
            code = draw(concept_codes(book, concept, forbid=bad - {concept}))
            if current:
                facts = _facts_of(book, code, "med", i, current=True, days=days, ended_days=0)
                res = _fhir.medication_statement(
                    "x", [code.coding()], status="active", start=days_before(now, days)
                )
                return res, facts
            ended = draw(st.integers(max(1, ended_iv.lo), max(1, min(ended_iv.hi, 365))))
            facts = _facts_of(book, code, "med", i, current=False, days=days, ended_days=ended)
            res = _fhir.medication_statement(
                "x",
                [code.coding()],
                status=draw(st.sampled_from(["completed", "stopped"])),
                start=days_before(now, ended + days),
                end=days_before(now, ended),
            )
            return res, facts
        modality = draw(st.sampled_from(_choices(tests, "modality", _MODALITIES)))
        options = [c for c in concepts if book.modalities.get(c) == modality] or [concept]
        concept = draw(st.sampled_from(options))
        code = draw(concept_codes(book, concept, forbid=bad - {concept}))
        # With its indication recorded, so that a rating rule's conclusion stands.
        res = _fhir.service_request(
            "x",
            [code.coding()],
            status="draft",
            authored=now - dt.timedelta(minutes=10),
            reason=ORDER_REASON,
        )
        facts = _facts_of(
            book, code, "order", i, modality=book.modalities.get(concept), indication=True
        )
        return res, facts

    return gen()


@dataclass(frozen=True)
class RuleCase:
    """A generated patient built to fire ``rule`` (a recommendation rule).

    ``rules`` are the rules the case was built through (``rule`` first); ``needed`` the
    references of the resources the rule needs (any further entries are noise);
    ``bundle`` is the FHIR input.
    """

    rule: str
    rules: tuple[str, ...]
    bundle: Json
    needed: tuple[str, ...]


def _case_strategy(
    book: CodeBook,
    plans: Sequence[_Plan],
    now: dt.datetime,
    noise: st.SearchStrategy[list[Json]],
    avoid: frozenset[str] = frozenset(),
) -> st.SearchStrategy[RuleCase]:
    """Cases of ``plans``; draws whose predicted facts do not fire the plan's rule (or do
    fire one of the ``avoid`` rules) are rejected."""
    if not plans:
        return st.nothing()
    kb = book.knowledge
    by_rule: dict[str, list[_Plan]] = {}
    for p in plans:
        by_rule.setdefault(p.rule, []).append(p)
    # A rule first (uniformly), then one of its plans: rules with many plans do not crowd
    # out the others, and shrinking goes to the first rule's first plan.
    pick = st.sampled_from(sorted(by_rule)).flatmap(lambda r: st.sampled_from(by_rule[r]))

    @st.composite
    def gen(draw: st.DrawFn) -> RuleCase:
        plan = draw(pick)
        age0, sex0 = plan.witness or (plan.age.lo, sorted(plan.sexes)[0])
        age = draw(st.one_of(st.just(age0), st.integers(plan.age.lo, plan.age.hi)))
        sex = draw(st.one_of(st.just(sex0), st.sampled_from(sorted(plan.sexes))))
        pat = _fhir.patient(
            "pat",
            gender=sex,
            birth_date=_fhir.birth_date_for_age(age, now, draw(st.integers(0, 364))),
        )
        facts = [
            Fact.model_validate({"kind": "patient", "concept": "patient", "age": age, "sex": sex})
        ]
        needed = []
        for i, n in enumerate(plan.needs):
            res, predicted = draw(_need_resource(book, n, plan.forbid, now, i))
            needed.append(res)
            facts.extend(predicted)
        ok, fired = _fires(kb, plan.rule, facts)
        assume(ok and not (fired & avoid))
        extra = draw(noise)
        bundle = assemble_bundle(pat, [*needed, *extra], now)
        refs = tuple(_fhir.reference(e["resource"]) for e in bundle["entry"][1 : 1 + len(needed)])
        return RuleCase(plan.rule, plan.rules, bundle, refs)

    return gen()


def rule_cases(
    rules: str | Sequence[str] | Callable[[Any], bool] | None = None,
    *,
    now: dt.datetime | str | None = None,
    knowledge: Knowledgeish | None = None,
    max_noise: int = 0,
) -> st.SearchStrategy[RuleCase]:
    """Patients built to fire a recommendation rule, as :class:`RuleCase`.

    ``rules`` selects the rules: an id, a list of ids, or a predicate over the
    :class:`~cds_backpain.kb.models.Rule` (default: every recommendation rule).
    ``max_noise`` adds up to that many random resources (which may, by design, change
    the outcome). Rules no case can be built for are left out.
    """
    instant = evaluation_instant(now)

    def build() -> st.SearchStrategy[RuleCase]:
        book = code_book(knowledge)
        kb = book.knowledge
        if rules is None:
            ids = [rid for rid, r in kb.rules.items() if r.recommend is not None]
        elif isinstance(rules, str):
            ids = [rules]
        elif callable(rules):
            ids = [rid for rid, r in kb.rules.items() if rules(r)]
        else:
            ids = list(rules)
        plans = [p for rid in ids for p in _plans_for(book, rid)]
        noise: st.SearchStrategy[list[Json]] = (
            st.lists(clinical_resources(now=instant, knowledge=kb), max_size=max_noise)
            if max_noise
            else st.just([])
        )
        return _case_strategy(book, plans, instant, noise)

    return st.deferred(build)


def red_flag_cases(
    category: str | None = None,
    *,
    now: dt.datetime | str | None = None,
    knowledge: Knowledgeish | None = None,
    max_noise: int = 0,
) -> st.SearchStrategy[RuleCase]:
    """:func:`rule_cases` of the red-flag rules (of one ``category`` if given)."""

    def pick(rule: Any) -> bool:
        rec = rule.recommend
        return bool(rec and rec.red_flag and (category is None or rec.category == category))

    return rule_cases(pick, now=now, knowledge=knowledge, max_noise=max_noise)


def red_flag_bundles(
    category: str | None = None,
    *,
    now: dt.datetime | str | None = None,
    knowledge: Knowledgeish | None = None,
    max_noise: int = 0,
) -> st.SearchStrategy[Json]:
    """Bundles of a patient with a red flag, e.g. ``red_flag_bundles("cauda_equina")``."""
    return red_flag_cases(category, now=now, knowledge=knowledge, max_noise=max_noise).map(
        lambda c: c.bundle
    )


def category_bundles(
    category: str,
    *,
    red_flag: bool | None = None,
    now: dt.datetime | str | None = None,
    knowledge: Knowledgeish | None = None,
    max_noise: int = 0,
) -> st.SearchStrategy[Json]:
    """Bundles built to fire a recommendation of ``category``: red flags only
    (``red_flag=True``), none (``False``) or either (None)."""

    def pick(rule: Any) -> bool:
        rec = rule.recommend
        return bool(
            rec and rec.category == category and (red_flag is None or rec.red_flag == red_flag)
        )

    return rule_cases(pick, now=now, knowledge=knowledge, max_noise=max_noise).map(
        lambda c: c.bundle
    )


def mechanical_bundles(
    *,
    now: dt.datetime | str | None = None,
    knowledge: Knowledgeish | None = None,
) -> st.SearchStrategy[Json]:
    """A patient with only mechanical findings: built to fire a ``muscle_strain``
    recommendation that is not a red flag, with no red-flag rule firing."""

    def build() -> st.SearchStrategy[Json]:
        book = code_book(knowledge)
        kb = book.knowledge
        ids = [
            rid
            for rid, r in kb.rules.items()
            if r.recommend and r.recommend.category == "muscle_strain" and not r.recommend.red_flag
        ]
        plans = [p for rid in ids for p in _plans_for(book, rid)]
        avoid = frozenset(red_flag_rules(kb))
        return _case_strategy(book, plans, evaluation_instant(now), st.just([]), avoid).map(
            lambda c: c.bundle
        )

    return st.deferred(build)
