"""Fact keys: how a support names the fact it rests on (:mod:`.compiled`).

Engines see keys as strings (``f<i>``, ``c:<concept>``, ``a:<kind>:<concept>``); these
types build them (``str(key)``) and read them back (:func:`parse_key`), so no other
module spells or splits the strings.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Absence", "ConcludedConcept", "FactKey", "InputFact", "parse_key"]


@dataclass(frozen=True, slots=True)
class InputFact:
    """The input fact at ``index`` of the facts given to the engine (key ``f<index>``)."""

    index: int

    def __str__(self) -> str:
        return f"f{self.index}"


@dataclass(frozen=True, slots=True)
class ConcludedConcept:
    """The conclusion fact a fired rule asserted (key ``c:<concept>``)."""

    concept: str

    def __str__(self) -> str:
        return f"c:{self.concept}"


@dataclass(frozen=True, slots=True)
class Absence:
    """No current positive fact of ``kind`` and ``concept`` (key ``a:<kind>:<concept>``)."""

    kind: str
    concept: str

    def __str__(self) -> str:
        return f"a:{self.kind}:{self.concept}"

    @property
    def pattern_concept(self) -> str:
        """The ``concept`` of the absent fact and of the patterns matching it (``kind:concept``)."""
        return f"{self.kind}:{self.concept}"

    @classmethod
    def from_pattern_concept(cls, text: str) -> Absence:
        """The absence an ``absent`` pattern's concept (``kind:concept``) names."""
        kind, sep, concept = text.partition(":")
        if not sep or not kind or not concept:
            raise ValueError(f"not an absence concept (kind:concept): {text!r}")
        return cls(kind, concept)


FactKey = InputFact | ConcludedConcept | Absence


def parse_key(text: str) -> FactKey:
    """The key ``text`` spells (the inverse of ``str``); ValueError for anything else."""
    if text.startswith("c:") and len(text) > 2:
        return ConcludedConcept(text[2:])
    if text.startswith("a:"):
        return Absence.from_pattern_concept(text[2:])
    if text.startswith("f") and text[1:].isdigit() and text[1:].isascii():
        return InputFact(int(text[1:]))
    raise ValueError(f"not a fact key: {text!r}")
