"""The facts the rules see: small, flat, typed projections of FHIR resources.

Ingest turns each relevant FHIR resource into one fact per concept key it matches
(via the value sets in ``knowledge/valuesets``). Rules never see raw FHIR.

Semantics (status and negation of the input):

* ``finding`` facts come from Condition and Observation. ``present`` is False for a
  documented negation (Observation valued SNOMED 2667000 "Absent" or ``false``).
  Refuted and entered-in-error data never becomes a fact. ``status`` is ``active``
  (current problem: active/recurrence/relapse, or a valid Observation) or
  ``history`` (inactive/remission/resolved Condition).
* ``measure`` facts are numeric Observations (temperature in Cel, weight in kg,
  pain score, running distance) plus values derived from series (weight change).
* ``med`` facts are exposure episodes of a drug class: the union of the courses
  (MedicationRequest / MedicationStatement / MedicationDispense, systemic routes only)
  whose gaps are at most ``medication_course_gap_days``; ``current`` is False when none
  of them is an active course; ``days`` is the number of days they cover up to the
  evaluation instant; ``ended_days`` the days since the episode ended (0 while it lasts).
* ``order`` facts are draft imaging orders (ServiceRequest) to be rated; ``indication``
  says whether the order records why it is placed (``reasonCode`` / ``reasonReference``)
  and ``name`` is what the record calls it (its code's text, else a coding's display).
* ``patient`` is the one Patient: age in whole years at the evaluation instant, sex.
* ``absent`` facts are computed by the engine driver, never by ingest: one per concept
  that a rule's ``none`` clause names and for which no current positive fact exists.
* ``conclusion`` facts are derived by rules during forward chaining.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from .vocabulary import Laterality as Laterality  # re-exported: part of the fact model

FactKind = Literal["patient", "finding", "measure", "med", "order", "absent", "conclusion"]

#: Attributes a rule pattern may test, per fact kind (the compiler checks this).
TESTABLE_ATTRIBUTES: dict[str, frozenset[str]] = {
    "patient": frozenset({"age", "sex"}),
    "finding": frozenset({"present", "status", "laterality", "days", "onset_known"}),
    "measure": frozenset({"value", "days"}),
    "med": frozenset({"current", "days", "ended_days"}),
    "order": frozenset({"modality"}),
    "absent": frozenset(),
    "conclusion": frozenset(),
}

#: What a pattern requires when it does not say otherwise.
DEFAULT_QUALIFIERS: dict[str, dict[str, object]] = {
    "finding": {"present": True, "status": "active"},
    "med": {"current": True},
}


class Fact(BaseModel):
    """One fact about the patient, as the rules see it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FactKind
    concept: str
    #: Reference of the input resource this fact came from ("Condition/123"); None for
    #: facts computed by the engine (absent, conclusion) or derived from several resources.
    source: str | None = None
    #: Further input resources the fact rests on (e.g. the serial weights of a weight change).
    also: tuple[str, ...] = ()
    present: bool | None = None
    status: Literal["active", "history"] | None = None
    laterality: Laterality | None = None
    days: int | None = None
    #: Findings: whether ``days`` is known (False when the record gives no onset or date), so
    #: a rule can say "recent onset, or onset unknown" (the safe reading of an undated finding).
    #: Derived from ``days``; never set by hand.
    onset_known: bool | None = None
    value: float | None = None
    unit: str | None = None
    current: bool | None = None
    #: Meds: days since the exposure episode ended (0 while it lasts; None when undated).
    ended_days: int | None = None
    age: int | None = None
    sex: Literal["male", "female", "other", "unknown"] | None = None
    modality: str | None = None
    #: Orders: whether the order records its indication (``reasonCode`` /
    #: ``reasonReference``); None when not read from an order. Never tested by a rule: an
    #: order without one that no criterion rates is not rated (resolve).
    indication: bool | None = None
    #: Orders: the order's name in the record (its code's text, else a coding's display),
    #: for the words addressed to the orderer; never tested by a rule.
    name: str | None = None
    #: Human-readable label of the concept (from the value set, never from the input text).
    label: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _derive_onset_known(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("kind") == "finding":
            return {**data, "onset_known": data.get("days") is not None}
        return data

    def engine_view(self) -> dict[str, object]:
        """The flat dict both engines match on: only testable, non-None attributes."""
        out: dict[str, object] = {"kind": self.kind, "concept": self.concept}
        for name in TESTABLE_ATTRIBUTES[self.kind]:
            v = getattr(self, name)
            if v is not None:
                out[name] = v
        return out

    def resources(self) -> tuple[str, ...]:
        """Every input resource reference this fact rests on."""
        return ((self.source,) if self.source else ()) + self.also


def counts_as_positive(fact: Fact) -> bool:
    """Whether ``fact`` is current positive evidence of its concept (defaults of a pattern)."""
    for attr, want in DEFAULT_QUALIFIERS.get(fact.kind, {}).items():
        if getattr(fact, attr) != want:
            return False
    return True
