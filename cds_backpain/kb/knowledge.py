"""The loaded, verified knowledge base: what the rest of the package reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..engine.compiled import CompiledRules
from ..vocabulary import SourceSpan
from .models import (
    FhirCodes,
    Guideline,
    LinkPolicy,
    Parameter,
    Policy,
    Rule,
    SourceDocument,
    Wording,
)

if TYPE_CHECKING:
    from .valuesets import ValueSetIndex


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
