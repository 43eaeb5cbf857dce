"""The outputs of an evaluation: conclusions with provenance, cards, FHIR bundle.

``Evaluation.to_json()`` is a stable contract (docs/integration.md)::

    {"urgency", "imaging", "knowledge": {"version", "digest"},
     "conclusions": [{"id", "category", "urgency", "imaging", "rules", "evidence",
                      "provenance": [{..., "supports"}], ...}],
     "cards": [...], "bundle": {...}, ...}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SkipValidation,
)

from .vocabulary import Category, Imaging, Rating, Support, Urgency
from .vocabulary import SourceSpan as SourceSpan  # part of the output model, defined below kb

if TYPE_CHECKING:
    from .kb.knowledge import Knowledge


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GuidelineCitation(_Out):
    guideline: str
    citation: str
    url: str
    statement: str | None = None
    #: What the statement is evidence for on this conclusion (as for SourceSpan).
    supports: tuple[Support, ...] = ()


Provenance = SourceSpan | GuidelineCitation


class SuggestionOut(_Out):
    label: str
    template: str
    recommended: bool = False


@dataclass(frozen=True, slots=True)
class ResourceSupport:
    """An input resource a rule matched (``Condition/1``)."""

    reference: str

    def __str__(self) -> str:
        return self.reference


@dataclass(frozen=True, slots=True)
class ConclusionSupport:
    """A conclusion a rule matched (``conclusion:x``)."""

    concept: str

    def __str__(self) -> str:
        return f"conclusion:{self.concept}"


@dataclass(frozen=True, slots=True)
class AbsenceSupport:
    """The absence of any current positive fact a rule matched (``absent:finding:x``)."""

    kind: str
    concept: str

    def __str__(self) -> str:
        return f"absent:{self.kind}:{self.concept}"


@dataclass(frozen=True, slots=True)
class FactSupport:
    """A fact that rests on no input resource (``fact:x``)."""

    concept: str

    def __str__(self) -> str:
        return f"fact:{self.concept}"


#: One item of :attr:`Derivation.support`, typed; ``str()`` gives the JSON string.
SupportItem = ResourceSupport | ConclusionSupport | AbsenceSupport | FactSupport


def parse_support(text: str) -> SupportItem:
    """The support item ``text`` spells (the inverse of ``str``)."""
    prefix, sep, rest = text.partition(":")
    if sep and rest:
        if prefix == "conclusion":
            return ConclusionSupport(rest)
        if prefix == "fact":
            return FactSupport(rest)
        if prefix == "absent":
            kind, sep, concept = rest.partition(":")
            if sep and kind and concept:
                return AbsenceSupport(kind, concept)
            raise ValueError(f"not an absence support (absent:kind:concept): {text!r}")
    return ResourceSupport(text)


class Derivation(_Out):
    """One fired rule: what it concluded and the facts / conclusions it rested on."""

    rule: str
    concept: str
    #: Input resources (``Condition/1``), conclusions (``conclusion:x``) and absences
    #: (``absent:finding:x``) the rule matched, as strings (:attr:`support_items` types them).
    support: tuple[str, ...]

    @property
    def support_items(self) -> tuple[SupportItem, ...]:
        """:attr:`support`, typed (:func:`parse_support`)."""
        return tuple(parse_support(s) for s in self.support)


class Conclusion(_Out):
    """A recommendation: what to tell the clinician, why, and on what sources."""

    id: str
    category: Category
    urgency: Urgency
    imaging: Imaging
    red_flag: bool = False
    self_care: bool = False
    summary: str
    advice: tuple[str, ...] = ()
    #: Every rule in the derivation, the recommendation rule first.
    rules: tuple[str, ...]
    #: Every input resource the derivation rests on.
    evidence: tuple[str, ...]
    provenance: tuple[Provenance, ...] = Field(min_length=1)
    suggestions: tuple[SuggestionOut, ...] = ()
    rating: Rating | None = None
    #: Draft orders (``ServiceRequest/x``) the rating applies to.
    orders: tuple[str, ...] = ()


class Issue(_Out):
    severity: Literal["warning", "information"]
    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()


class KnowledgeStamp(_Out):
    version: str
    digest: str


def _read_only(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


# Read-only mappings, validated from and serialized as plain dicts (the JSON contract and
# its schema are those of the dicts).
_Ratings = Annotated[
    Mapping[str, Rating],
    AfterValidator(_read_only),
    PlainSerializer(_plain, return_type=dict[str, Rating]),
]
_Counts = Annotated[
    Mapping[str, int],
    AfterValidator(_read_only),
    PlainSerializer(_plain, return_type=dict[str, int]),
]
_FactView = Annotated[
    Mapping[str, Any],
    AfterValidator(_read_only),
    PlainSerializer(_plain, return_type=dict[str, Any]),
]


class Rendering(Protocol):
    """Renders one evaluation's outputs with the knowledge it was evaluated with (the
    pipeline supplies it; the output model cannot import the emitters)."""

    @property
    def knowledge(self) -> Knowledge:
        """The knowledge base the evaluation used."""
        ...

    def cards(self) -> list[dict[str, Any]]:
        """The evaluation's CDS Hooks cards, most urgent first."""
        ...

    def bundle(self) -> dict[str, Any]:
        """The evaluation's FHIR R4 Bundle."""
        ...


class Evaluation(_Out):
    """Everything one evaluation produced. ``to_json()`` gives the documented contract."""

    # Immutable: every field is a tuple, a read-only mapping or a frozen model (this
    # docstring is the JSON Schema's description, so the note is a comment).

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    patient: str | None
    now: str
    #: Highest urgency of the conclusions (None when nothing was concluded).
    urgency: Urgency | None
    #: Imaging advice that goes with that urgency.
    imaging: Imaging
    knowledge: KnowledgeStamp
    engine: str
    conclusions: tuple[Conclusion, ...]
    derivations: tuple[Derivation, ...]
    #: The facts the rules saw (kind, concept, source resource and qualifiers), for explanation.
    facts: tuple[_FactView, ...] = Field(default=(), validate_default=True)
    #: Ratings of draft imaging orders: ServiceRequest reference -> rating (read-only).
    ratings: _Ratings = Field(default={}, validate_default=True)
    #: Resources read, used (matched a value set) and ignored (read-only).
    counts: _Counts = Field(default={}, validate_default=True)
    issues: tuple[Issue, ...] = ()
    #: Renders the cards and the bundle on first access (a batch that only needs the
    #: conclusions never pays for rendering); not part of the JSON contract.
    rendering: Annotated[Rendering | None, SkipValidation] = Field(
        default=None, exclude=True, repr=False
    )

    @property
    def knowledge_base(self) -> Knowledge | None:
        """The knowledge base this evaluation used (None when built without a renderer)."""
        return self.rendering.knowledge if self.rendering is not None else None

    @cached_property
    def cards(self) -> tuple[dict[str, Any], ...]:
        """CDS Hooks 2.0 cards, most urgent first (built on first access, then cached)."""
        return tuple(self.rendering.cards()) if self.rendering is not None else ()

    @cached_property
    def bundle(self) -> dict[str, Any]:
        """The FHIR R4 Bundle: RequestGroup, DetectedIssue per red flag, Provenance."""
        return self.rendering.bundle() if self.rendering is not None else {}

    @property
    def red_flags(self) -> tuple[Conclusion, ...]:
        return tuple(c for c in self.conclusions if c.red_flag)

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(c.category for c in self.conclusions)

    def to_json(self) -> dict[str, Any]:
        """The JSON contract (plain dicts and lists); ``urgency`` is null when nothing applies."""
        out = self.model_dump(mode="json", exclude_none=True)
        out["urgency"] = self.urgency
        out["cards"] = list(self.cards)
        out["bundle"] = self.bundle
        return out
