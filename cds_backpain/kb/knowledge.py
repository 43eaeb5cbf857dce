"""The loaded, verified knowledge base: what the rest of the package reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..engine.compiled import CompiledRules
from ..vocabulary import SourceSpan
from .models import (
    FhirCodes,
    Guideline,
    GuidelineRef,
    LinkPolicy,
    Parameter,
    Policy,
    Rule,
    SourceDocument,
    SourceQuote,
    Wording,
)

if TYPE_CHECKING:
    from .valuesets import ValueSetIndex


@dataclass(frozen=True, slots=True)
class CitedGuideline:
    """A rule's provenance item citing a guideline statement, with that guideline."""

    ref: GuidelineRef
    guideline: Guideline


@dataclass(frozen=True, slots=True)
class CitedPassage:
    """A rule's provenance item quoting a source document, with the span it resolved to."""

    ref: SourceQuote
    span: SourceSpan


#: One provenance item of a rule, resolved.
Citation = CitedGuideline | CitedPassage


@dataclass(frozen=True)
class Knowledge:
    """Everything in ``knowledge/``, validated, with provenance resolved and rules compiled."""

    version: str
    #: sha256 over every knowledge file (path + bytes), in sorted path order.
    digest: str
    root: str
    sources: dict[str, SourceDocument]
    #: Source file name -> full decoded text (for quotes and offsets).
    texts: dict[str, str]
    guidelines: dict[str, Guideline]
    parameters: dict[str, Parameter]
    policy: Policy
    #: Suggestion resource templates (knowledge/templates.yaml), name -> FHIR JSON dict.
    templates: dict[str, dict[str, Any]]
    valuesets: ValueSetIndex
    #: Rules in load order (file name order, then order in file); id -> Rule.
    rules: dict[str, Rule]
    #: Rule id -> domain (the rule file's ``domain``).
    domains: dict[str, str]
    #: Rule id -> resolved source spans of its quotes, in the rule's provenance order.
    spans: dict[str, tuple[SourceSpan, ...]]
    compiled: CompiledRules
    #: Our CodeSystems (knowledge/codesystems): system url -> code -> display.
    displays: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Concept key -> human label (from value sets, or the rule title for derived concepts).
    labels: dict[str, str] = field(default_factory=dict)
    #: Words around the rules' text on cards and service answers (templates.yaml).
    wording: Wording = None  # type: ignore[assignment]  # always set by the loader
    #: The FHIR codes the urgencies become in the Bundle (templates.yaml ``fhir``).
    fhir_codes: FhirCodes = None  # type: ignore[assignment]  # always set by the loader
    #: knowledge/links.yaml: allowed link hosts and internal-note phrases (None in
    #: hand-built test knowledge).
    link_policy: LinkPolicy | None = None

    def citations(self, rule_id: str) -> tuple[Citation, ...]:
        """The provenance of rule ``rule_id`` in its order, each item with what it resolved to
        (its guideline, or its quote's span in :attr:`spans`)."""
        spans = self.spans.get(rule_id, ())
        quotes = [r for r in self.rules[rule_id].provenance if isinstance(r, SourceQuote)]
        if len(quotes) != len(spans):
            raise ValueError(
                f"rule {rule_id!r} has {len(quotes)} quotes but {len(spans)} resolved spans"
            )
        passages = iter(spans)
        out: list[Citation] = []
        for ref in self.rules[rule_id].provenance:
            if isinstance(ref, GuidelineRef):
                out.append(CitedGuideline(ref, self.guidelines[ref.guideline]))
            else:
                out.append(CitedPassage(ref, next(passages)))
        return tuple(out)
