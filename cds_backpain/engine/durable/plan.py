"""Compile :class:`~cds_backpain.engine.compiled.CompiledRules` into a durable-rules
ruleset and the tables its facts are encoded with (:class:`.encode.DurablePlan`).

Each rule branch becomes the durable rule ``<rule id>#<branch>`` with patterns
``p0..pN`` as ``{"$and": [kind, concept (equality or "$or"), tests...]}``, every
kind, concept, constant and threshold written as its integer in the plan's tables
(:mod:`.encode`).

Limits measured on durable-rules 2.0.28 and checked here, before anything is
created (beyond them it hangs, crashes or fails; see the engine notes, D7-D9):
16 patterns per rule; fewer than 512 equality constants under one alpha node;
at most 64 range tests on one attribute under one alpha node; at most 64 alpha
nodes one fact can activate at once (error 303, after which the process crashes);
256 rules ending on one alpha node (error 108); 128 ``$or`` nodes under one
node (error 107); 250 properties per asserted fact (checked per fact by the encoder).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from typing import Literal, cast

from ..._errors import EngineError
from ..compiled import CompiledRules, CPattern, CTest
from .encode import DurablePlan, Scalar, Slot, fnv32

MAX_PATTERNS_PER_RULE = 16
MAX_EQUALITY_CONSTANTS = 511
MAX_RANGE_SIBLINGS = 64
MAX_ALPHA_ACTIVATIONS = 64
MAX_RULES_PER_ALPHA_NODE = 256
MAX_OR_SIBLINGS = 128

_RANGE_OPS = {"lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}
_ATTRIBUTE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_RULE_ID_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*\Z")
#: Property names of the session state that share the alpha network with facts.
_STATE_PROPERTIES = ("$s", "init", "sid", "id", "exception")


def compile_plan(rules: CompiledRules) -> DurablePlan:
    """Check ``rules`` against durable-rules' limits and build the ruleset definition."""
    seen: set[str] = set()
    for rule in rules.rules:
        if not isinstance(rule.id, str) or not _RULE_ID_RE.match(rule.id):
            raise EngineError(f"rule id {rule.id!r} is not usable as a durable-rules rule name")
        if rule.id in seen:
            raise EngineError(f"rule id {rule.id!r} appears twice")
        seen.add(rule.id)
        for b, branch in enumerate(rule.branches):
            where = f"rule {rule.id!r} branch {b}"
            if not branch:
                raise EngineError(f"{where} has no pattern")
            if len(branch) > MAX_PATTERNS_PER_RULE:
                raise EngineError(
                    f"{where} has {len(branch)} patterns; durable-rules allows "
                    f"{MAX_PATTERNS_PER_RULE} (error 304)"
                )
            for pattern in branch:
                _check_pattern(where, pattern)
            for (i, p), (j, q) in combinations(enumerate(branch), 2):
                if not _disjoint(p, q):
                    raise EngineError(
                        f"{where}: patterns {i} and {j} can match the same fact; durable-rules "
                        "never binds one fact to two patterns, so branch patterns must be disjoint"
                    )

    patterns = [p for r in rules.rules for br in r.branches for p in br]
    kinds = {k: i for i, k in enumerate(sorted({p.kind for p in patterns}))}
    concepts = {c: i for i, c in enumerate(sorted({c for p in patterns for c in p.concepts}))}

    # Which conclusions some pattern can match (a concept-less one matches them all).
    concl = [p for p in patterns if p.kind == "conclusion"]
    if any(not p.concepts for p in concl):
        asserted = {r.concept for r in rules.rules}
    else:
        asserted = {c for p in concl for c in p.concepts}
    conclusions = tuple(
        (r.concept, concepts.get(r.concept)) if r.concept in asserted else None for r in rules.rules
    )

    slots = _build_slots(patterns, kinds)
    slot_by_attr = {s.attribute: s for group in slots.values() for s in group}

    definition: dict[str, dict[str, object]] = {}
    root = _AlphaNode()
    root.add([("eq", "$s", 1), ("rng", "init", "nex", 1)])  # the $init guard rule
    for index, rule in enumerate(rules.rules):
        for b, branch in enumerate(rule.branches):
            all_: list[dict[str, object]] = []
            for j, pattern in enumerate(branch):
                conditions = _conditions(pattern, kinds, concepts, slot_by_attr)
                root.add(conditions)
                all_.append({f"p{j}": {"$and": [_condition_json(c) for c in conditions]}})
            definition[f"{rule.id}#{b}"] = {"all": all_, "run": f"fire:{index}"}
    _check_alpha(root)

    names = {"id", "sid", "kind", "concept", *_STATE_PROPERTIES}
    for group in slots.values():
        for s in group:
            names.update((s.eq_name, s.rank_name))
    hashes = Counter(fnv32(n) for n in names)
    if any(n > 1 for n in hashes.values()):
        clash = sorted(n for n in names if hashes[fnv32(n)] > 1)
        raise EngineError(f"property names {clash} share a 32-bit hash in durable-rules")

    return DurablePlan(
        definition=definition,
        rule_ids=tuple(r.id for r in rules.rules),
        kinds=kinds,
        concepts=concepts,
        slots=slots,
        conclusions=conclusions,
        conclusion_kind=kinds.get("conclusion"),
        property_names=frozenset(names),
    )


def _check_pattern(where: str, pattern: CPattern) -> None:
    if not isinstance(pattern.kind, str):
        raise EngineError(f"{where}: kind {pattern.kind!r} is not a string")
    if not all(isinstance(c, str) for c in pattern.concepts):
        raise EngineError(f"{where}: concepts {pattern.concepts!r} must be strings")
    for test in pattern.tests:
        if not isinstance(test.attribute, str) or not _ATTRIBUTE_RE.match(test.attribute):
            raise EngineError(f"{where}: attribute {test.attribute!r} is not an identifier")
        if test.attribute in {"kind", "concept", "key"}:
            raise EngineError(f"{where}: attribute {test.attribute!r} cannot be tested")
        if test.op in _RANGE_OPS:
            v = test.value
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise EngineError(f"{where}: {test.op} needs a finite number, got {v!r}")
        elif test.op in ("eq", "in"):
            values = (test.value,) if test.op == "eq" else test.value
            if not isinstance(values, tuple | list | frozenset) or not values:  # only "in"
                raise EngineError(f"{where}: 'in' needs a non-empty tuple, got {values!r}")
            for v in values:
                if type(v) not in (str, bool, int, float) or (
                    isinstance(v, float) and not math.isfinite(v)
                ):
                    raise EngineError(f"{where}: {v!r} is not a usable {test.op} constant")
        else:
            raise EngineError(f"{where}: unknown operator {test.op!r}")


def _typed(value: Scalar) -> tuple[str, Scalar]:
    """The equality class of a constant under :class:`CTest` semantics."""
    if type(value) is str:
        return ("s", value)
    if type(value) is bool:
        return ("b", value)
    return ("n", value)


# CTest.value is an ``object`` (a scalar, or a tuple for "in"); the two accessors below
# are typed by what :func:`_check_pattern` has checked before any other use.


def _eq_values(test: CTest) -> tuple[Scalar, ...]:
    """The constants of an ``eq`` or ``in`` test."""
    if test.op == "eq":
        return (cast("Scalar", test.value),)
    return tuple(cast("Iterable[Scalar]", test.value))


def _threshold(test: CTest) -> int | float:
    """The finite number a range test compares with."""
    return cast("int | float", test.value)


def _constant_index(slot: Slot, value: Scalar) -> int:
    """The index of a rule constant in the table of its :func:`_typed` class."""
    if isinstance(value, str):
        return slot.strs[value]
    if isinstance(value, bool):
        return slot.bools[value]
    return slot.nums[value]


def _satisfiable(tests: Sequence[CTest]) -> bool:
    """Whether one value could pass every test (all on the same attribute)."""
    ranges = [t for t in tests if t.op in _RANGE_OPS]
    sets = [{_typed(v) for v in _eq_values(t)} for t in tests if t.op in ("eq", "in")]
    if sets:
        candidates = set.intersection(*sets)
        probe = tests[0].attribute
        return any(
            (tag == "n" or not ranges) and all(t.holds({probe: v}) for t in ranges)
            for tag, v in candidates
        )
    lo, lo_strict, hi, hi_strict = -math.inf, False, math.inf, False
    for t in ranges:
        v = _threshold(t)
        if t.op in ("gt", "ge"):
            if v > lo:
                lo, lo_strict = v, t.op == "gt"
            elif v == lo:
                lo_strict = lo_strict or t.op == "gt"
        else:
            if v < hi:
                hi, hi_strict = v, t.op == "lt"
            elif v == hi:
                hi_strict = hi_strict or t.op == "lt"
    return lo < hi or (lo == hi and not lo_strict and not hi_strict)


def _disjoint(p: CPattern, q: CPattern) -> bool:
    """Whether no fact can match both patterns (provably, from their tests)."""
    if p.kind != q.kind:
        return True
    if p.concepts and q.concepts and not set(p.concepts) & set(q.concepts):
        return True
    shared = {t.attribute for t in p.tests} & {t.attribute for t in q.tests}
    return any(
        not _satisfiable([t for t in (*p.tests, *q.tests) if t.attribute == a]) for a in shared
    )


def _build_slots(
    patterns: Sequence[CPattern], kinds: Mapping[str, int]
) -> dict[int, tuple[Slot, ...]]:
    constants: dict[str, set[tuple[str, Scalar]]] = defaultdict(set)
    thresholds: dict[str, set[int | float]] = defaultdict(set)
    attrs_by_kind: dict[str, set[str]] = defaultdict(set)
    for p in patterns:
        for t in p.tests:
            attrs_by_kind[p.kind].add(t.attribute)
            if t.op in _RANGE_OPS:
                thresholds[t.attribute].add(_threshold(t))
            else:
                constants[t.attribute].update(_typed(v) for v in _eq_values(t))
    built: dict[str, Slot] = {}
    for attr in sorted({a for attrs in attrs_by_kind.values() for a in attrs}):
        strs: dict[str, int] = {}
        bools: dict[bool, int] = {}
        nums: dict[int | float, int] = {}
        ordered = sorted(constants[attr], key=lambda tv: (tv[0], repr(tv[1])))
        for index, (_, value) in enumerate(ordered):
            # the tag is the value's exact type (constants are checked str/bool/int/float)
            if isinstance(value, str):
                strs[value] = index
            elif isinstance(value, bool):
                bools[value] = index
            else:
                nums[value] = index
        ths = tuple(sorted(thresholds[attr])) if attr in thresholds else None
        built[attr] = Slot(
            attribute=attr,
            eq_name=f"eq_{attr}",
            strs=strs,
            bools=bools,
            nums=nums,
            rank_name=f"rank_{attr}",
            thresholds=ths,
            threshold_set=frozenset(ths or ()),
        )
    return {
        kid: tuple(built[a] for a in sorted(attrs_by_kind.get(kind, ())))
        for kind, kid in kinds.items()
    }


def _rank(slot: Slot, value: int | float) -> int:
    assert slot.thresholds is not None
    return 2 * bisect_left(slot.thresholds, value) + (value in slot.threshold_set)


#: ("eq", property, constant index): the property equals the constant.
EqCondition = tuple[Literal["eq"], str, int]
#: ("rng", property, operator, rank): a range test (``nex`` for the $init guard).
RangeCondition = tuple[Literal["rng"], str, str, int]
#: ("or", property, constant indices): the property equals one of them.
OrCondition = tuple[Literal["or"], str, tuple[int, ...]]
#: One alpha-network condition of a pattern.
Condition = EqCondition | RangeCondition | OrCondition


def _conditions(
    pattern: CPattern,
    kinds: Mapping[str, int],
    concepts: Mapping[str, int],
    slots: Mapping[str, Slot],
) -> list[Condition]:
    """The pattern as alpha conditions in durable order: kind, concept, eq, range, $or."""
    out: list[Condition] = [("eq", "kind", kinds[pattern.kind])]
    cids = sorted({concepts[c] for c in pattern.concepts})
    if len(cids) == 1:
        out.append(("eq", "concept", cids[0]))
    elif cids:
        out.append(("or", "concept", tuple(cids)))
    eqs: set[EqCondition] = set()
    ranges: set[RangeCondition] = set()
    ors: set[OrCondition] = set()
    for t in pattern.tests:
        slot = slots[t.attribute]
        if t.op in _RANGE_OPS:
            ranges.add(("rng", slot.rank_name, t.op, _rank(slot, _threshold(t))))
            continue
        ids = sorted({_constant_index(slot, v) for v in _eq_values(t)})
        if len(ids) == 1:
            eqs.add(("eq", slot.eq_name, ids[0]))
        else:
            ors.add(("or", slot.eq_name, tuple(ids)))
    return out + sorted(eqs) + sorted(ranges) + sorted(ors)


def _condition_json(c: Condition) -> dict[str, object]:
    if c[0] == "eq":
        return {c[1]: c[2]}
    if c[0] == "rng":
        return {_RANGE_OPS[c[2]]: {c[1]: c[3]}}
    return {"$or": [{c[1]: v} for v in c[2]]}


class _AlphaNode:
    """A model of durable-rules' alpha network: equal prefixes share nodes, ``$or`` never."""

    __slots__ = ("eq", "ors", "rng", "rules")

    def __init__(self) -> None:
        self.eq: dict[tuple[object, object], _AlphaNode] = {}
        self.rng: dict[tuple[object, ...], _AlphaNode] = {}
        self.ors: list[tuple[object, tuple[object, ...], _AlphaNode]] = []
        self.rules = 0

    def add(self, conditions: Sequence[Condition]) -> None:
        node = self
        for c in conditions:
            if c[0] == "eq":
                node = node.eq.setdefault((c[1], c[2]), _AlphaNode())
            elif c[0] == "rng":
                node = node.rng.setdefault(c[1:], _AlphaNode())
            else:
                child = _AlphaNode()
                node.ors.append((c[1], c[2], child))
                node = child
        node.rules += 1

    def children(self) -> list[_AlphaNode]:
        return [*self.eq.values(), *self.rng.values(), *(c for _, _, c in self.ors)]


def _check_alpha(root: _AlphaNode) -> None:
    """Reject rule bases durable-rules would hang, fail or crash on (D8, D9, errors 107/108/303)."""

    def peak(node: _AlphaNode) -> int:
        constants = set(node.eq) | {(a, v) for a, vs, _ in node.ors for v in vs}
        if len(constants) > MAX_EQUALITY_CONSTANTS:
            raise EngineError(
                f"{len(constants)} equality constants under one alpha node; durable-rules "
                f"hangs at {MAX_EQUALITY_CONSTANTS + 1} (D8): resolve value sets to concept "
                "keys in Python"
            )
        per_attr = Counter(a for a, *_ in node.rng)
        for attr, n in per_attr.items():
            if n > MAX_RANGE_SIBLINGS:
                raise EngineError(
                    f"{n} range tests on {attr!r} under one alpha node; durable-rules allows "
                    f"{MAX_RANGE_SIBLINGS} (D9, error 303)"
                )
        if len(node.ors) > MAX_OR_SIBLINGS:
            raise EngineError(
                f"{len(node.ors)} '$or' tests under one alpha node (limit {MAX_OR_SIBLINGS})"
            )
        if node.rules > MAX_RULES_PER_ALPHA_NODE:
            raise EngineError(
                f"{node.rules} rule patterns share one alpha path; durable-rules allows "
                f"{MAX_RULES_PER_ALPHA_NODE} (error 108)"
            )
        hits: dict[object, Counter[object]] = defaultdict(Counter)
        for attr, values, _ in node.ors:
            hits[attr].update(values)
        # At most this many children can match one fact; durable pushes them all, then
        # descends into one while the others wait on its 64-entry stack.
        pushed = (
            len({a for a, _ in node.eq})
            + len(node.rng)
            + sum(max(c.values()) for c in hits.values())
        )
        deepest = max((peak(c) for c in node.children()), default=0)
        return max(pushed, pushed - 1 + deepest)

    worst = peak(root)
    if worst > MAX_ALPHA_ACTIVATIONS:
        raise EngineError(
            f"one fact could activate {worst} alpha nodes at once; durable-rules allows "
            f"{MAX_ALPHA_ACTIVATIONS} (error 303, then a crash). Use fewer distinct thresholds "
            "or concept lists per kind"
        )
