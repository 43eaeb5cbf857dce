"""The integer tables of a compiled plan, and the fact encoder that uses them.

Only small integers (and the session id) ever reach durable-rules:

* ``kind`` and ``concept`` are replaced by their index in tables built from the
  rules; a fact whose kind no pattern names is not asserted at all, an unknown
  concept is left out (no pattern that names concepts can match it).
* An attribute ``a`` tested by equality or membership becomes ``eq_a``: the index
  of the rule constant the value equals under the exact rule of
  :class:`~cds_backpain.engine.compiled.CTest` (``True`` is not ``1``, ``"1"`` is not
  ``1``, ``1`` is ``1.0``). durable-rules itself treats ``true``, ``1`` and ``1.0`` as
  equal and compares strings with numbers, so typed values never reach it.
* An attribute tested by ``lt/le/gt/ge`` becomes ``rank_a``: the position of the
  value among the sorted thresholds of ``a`` (``2*i`` strictly between threshold
  ``i-1`` and ``i``, ``2*i+1`` on threshold ``i``). Order against every threshold is
  preserved exactly, whatever the magnitude, so no float is ever serialised (D6)
  and int/double rounding in the C comparison cannot matter.

A fact wider than 250 properties is refused (a wider one silently truncates the batch,
D7). The tables are built by :func:`.plan.compile_plan`.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..._errors import EngineError

MAX_FACT_PROPERTIES = 250

Scalar = str | bool | int | float
_MISSING = object()


def fnv32(text: str) -> int:
    """The 32-bit hash durable-rules identifies sessions, facts and names by."""
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


@dataclass(frozen=True, slots=True)
class Slot:
    """How one tested attribute of a fact is encoded."""

    attribute: str
    eq_name: str
    strs: Mapping[str, int]
    bools: Mapping[bool, int]
    nums: Mapping[int | float, int]
    rank_name: str
    thresholds: tuple[int | float, ...] | None
    threshold_set: frozenset[int | float]


@dataclass
class DurablePlan:
    """A compiled rule base: the durable ruleset definition and how to encode facts."""

    definition: dict[str, dict[str, object]]
    rule_ids: tuple[str, ...]
    kinds: dict[str, int]
    concepts: dict[str, int]
    slots: dict[int, tuple[Slot, ...]]
    #: Per rule index: (concept, concept index or None) to assert when it fires, or None.
    conclusions: tuple[tuple[str, int | None] | None, ...]
    conclusion_kind: int | None
    property_names: frozenset[str] = field(default_factory=frozenset)

    @property
    def max_conclusions(self) -> int:
        return len({c[0] for c in self.conclusions if c is not None})

    def encode(
        self, facts: Sequence[Mapping[str, object]], sid: str, ids: Sequence[int]
    ) -> tuple[list[dict[str, object]], list[str]]:
        """Wire rows for the facts a pattern can match, and every fact's key by position."""
        rows: list[dict[str, object]] = []
        keys: list[str] = []
        kinds, concepts, slots = self.kinds, self.concepts, self.slots
        isfinite = math.isfinite
        for pos, fact in enumerate(facts):
            try:
                kind = fact["kind"]
                key = str(fact["key"])
            except (KeyError, TypeError) as exc:
                raise EngineError(f"fact {pos} needs 'kind' and 'key': {exc!r}") from None
            keys.append(key)
            kid = kinds.get(kind) if isinstance(kind, str) else None
            if kid is None:
                continue
            row: dict[str, object] = {"id": ids[pos], "sid": sid, "kind": kid}
            concept = fact.get("concept")
            if isinstance(concept, str):
                cid = concepts.get(concept)
                if cid is not None:
                    row["concept"] = cid
            for slot in slots[kid]:
                value = fact.get(slot.attribute, _MISSING)
                # Exactly a str (a str subclass, an enum, is no rule constant); a bool; a number.
                if type(value) is str and isinstance(value, str):
                    index = slot.strs.get(value)
                elif isinstance(value, bool):
                    index = slot.bools.get(value)
                elif isinstance(value, int | float):
                    if isinstance(value, float) and not isfinite(value):
                        raise EngineError(
                            f"fact {key!r}: {slot.attribute} is {value!r}; only finite numbers"
                        )
                    index = slot.nums.get(value)
                    if slot.thresholds is not None:
                        row[slot.rank_name] = 2 * bisect_left(slot.thresholds, value) + (
                            value in slot.threshold_set
                        )
                else:
                    continue
                if index is not None:
                    row[slot.eq_name] = index
            if len(row) > MAX_FACT_PROPERTIES:
                raise EngineError(
                    f"fact {key!r} would have {len(row)} properties in durable-rules "
                    f"(limit {MAX_FACT_PROPERTIES}; wider facts silently truncate the batch)"
                )
            rows.append(row)
        return rows, keys
