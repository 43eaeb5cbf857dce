"""The outputs of an evaluation: conclusions with provenance, cards, FHIR bundle.

``Evaluation.to_json()`` is a stable contract (docs/integration.md)::

    {"urgency", "imaging", "knowledge": {"version", "digest"},
     "conclusions": [{"id", "category", "urgency", "imaging", "rules", "evidence",
                      "provenance": [{..., "supports"}], ...}],
     "cards": [...], "bundle": {...}, ...}
"""

from __future__ import annotations

from collections.abc import Mapping
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

from .kb.models import (
    IMAGING_ORDER,
    URGENCY_ORDER,
    Category,
    Imaging,
    Rating,
    Support,
    Urgency,
)

if TYPE_CHECKING:
    from .kb.knowledge import Knowledge


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceSpan(_Out):
    """A passage of a source document: ``text[start:end] == quote`` (code points)."""

    source: str
    start: int
    end: int
    sha256: str
    quote: str
    title: str | None = None
    #: What the passage is evidence for on this conclusion (advice, urgency, imaging,
    #: background), as the rule's provenance declares it.
    supports: tuple[Support, ...] = ()


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


class Derivation(_Out):
    """One fired rule: what it concluded and the facts / conclusions it rested on."""

    rule: str
    concept: str
    #: Input resources (``Condition/1``), conclusions (``conclusion:x``) and absences
    #: (``absent:finding:x``) the rule matched.
    support: tuple[str, ...]


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


def urgency_rank(u: str | None) -> int:
    return -1 if u is None else URGENCY_ORDER.index(u)


def imaging_rank(i: str) -> int:
    return IMAGING_ORDER.index(i)


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
