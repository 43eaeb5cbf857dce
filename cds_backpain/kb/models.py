"""Pydantic models of the knowledge files: rules, guidelines, parameters, sources.

A rule file (``knowledge/rules/*.yaml``)::

    domain: cauda_equina
    title: Cauda equina syndrome
    rules:
      - id: ces-sphincter
        title: Bladder or bowel disturbance
        description: What the rule concludes, in words (shown in the catalog).
        when:
          all:                                  # every pattern must match
            - finding: [urinary_retention, fecal_incontinence]
            - patient: {age: {ge: $adult_min_age}}
          any:                                  # at least one branch
            - finding: saddle_anesthesia
            - all: [{finding: sciatica, laterality: left}, {finding: sciatica, laterality: right}]
          none:                                 # no current positive fact of these concepts
            - finding: sciatica
        conclude: ces_suspected                 # derived concept (defaults to the rule id)
        recommend: {...}                        # makes the rule a recommendation (see Recommend)
        provenance:                             # each item says what it is evidence for
          - {guideline: acp-2011-table2, supports: [urgency, imaging]}
          - source: 000_3fdf5a4f530aa6ea.txt
            quote: exact text that occurs in the source document
            supports: [advice]

A pattern names one fact kind (``patient``, ``finding``, ``measure``, ``med``,
``order``, ``conclusion``) with its concept key or a list of keys (``patient`` takes
a mapping of tests instead), plus attribute tests. A test value is a scalar
(equality), a list (membership) or a mapping ``{op: value}`` with ``op`` in
eq, ne, lt, le, gt, ge, in. ``$name`` refers to ``knowledge/parameters.yaml``.
Defaults: a ``finding`` pattern means present and active, a ``med`` pattern means a
current course, unless the pattern says otherwise (``status: [active, history]``).

``supports`` (required, non-empty) says what a provenance item is evidence for, from
:data:`SUPPORTS`: ``advice`` (what the card tells the clinician to do), ``urgency`` (how
soon), ``imaging`` (which imaging, or none) and ``background`` (why the rule fires: risk
factors, definitions, red-flag lists). The loader refuses a recommendation whose urgency or
imaging no item of its own provenance supports (``cds_backpain/kb/supports.py``).
"""

from __future__ import annotations

import re
from typing import Any, Literal, Protocol, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..vocabulary import SUPPORTS, Category, Imaging, Rating, Support, Urgency

PATTERN_KINDS = ("patient", "finding", "measure", "med", "order", "conclusion")
OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
RULE_ID_RE = re.compile(r"^[a-z][a-z0-9_.-]*$")

Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Test(_Strict):
    """One attribute test: ``attribute op value`` (value may be a ``$parameter``)."""

    attribute: str
    op: Literal["eq", "ne", "lt", "le", "gt", "ge", "in"]
    value: Scalar | tuple[Scalar, ...]


def _parse_tests(attribute: str, spec: Any) -> list[Test]:
    if isinstance(spec, dict):
        if not spec:
            raise ValueError(f"empty test for {attribute!r}")
        out = []
        for op, value in spec.items():
            if op not in OPS:
                raise ValueError(f"unknown operator {op!r} for {attribute!r} (use one of {OPS})")
            if op == "in":
                if not isinstance(value, list) or not value:
                    raise ValueError(f"'in' for {attribute!r} needs a non-empty list")
                value = tuple(value)
            out.append(Test(attribute=attribute, op=op, value=value))
        return out
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"empty list for {attribute!r}")
        return [Test(attribute=attribute, op="in", value=tuple(spec))]
    return [Test(attribute=attribute, op="eq", value=spec)]


class Pattern(_Strict):
    """A condition on one fact: its kind, concept key(s) and attribute tests."""

    kind: Literal["patient", "finding", "measure", "med", "order", "conclusion"]
    concepts: tuple[str, ...] = ()
    tests: tuple[Test, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "kind" in data:
            return data
        kinds = [k for k in PATTERN_KINDS if k in data]
        if len(kinds) != 1:
            raise ValueError(f"a pattern names exactly one of {PATTERN_KINDS}, got {sorted(data)}")
        kind = kinds[0]
        head = data[kind]
        tests: list[Test] = []
        concepts: tuple[str, ...] = ()
        if kind == "patient":
            if not isinstance(head, dict) or not head:
                raise ValueError(
                    "'patient' takes a mapping of attribute tests, e.g. {age: {ge: 16}}"
                )
            for attr, spec in head.items():
                tests.extend(_parse_tests(attr, spec))
        else:
            concepts = tuple(head) if isinstance(head, list) else (head,)
            if not concepts or not all(isinstance(c, str) for c in concepts):
                raise ValueError(f"'{kind}' takes a concept key or a list of keys")
        for attr, spec in data.items():
            if attr != kind:
                tests.extend(_parse_tests(attr, spec))
        return {"kind": kind, "concepts": concepts, "tests": tuple(tests)}

    @field_validator("concepts")
    @classmethod
    def _keys(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for c in v:
            if not KEY_RE.match(c):
                raise ValueError(f"concept key {c!r} must be snake_case")
        return v


class Branch(_Strict):
    """One alternative of an ``any`` clause: a conjunction of patterns."""

    patterns: tuple[Pattern, ...]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and "patterns" not in data:
            if set(data) == {"all"}:
                return {"patterns": data["all"]}
            return {"patterns": [data]}
        return data


class AbsentPattern(_Strict):
    """A ``none`` entry: no current positive fact of this kind and concept exists."""

    kind: Literal["finding", "measure", "med", "order"]
    concepts: tuple[str, ...]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and "kind" not in data:
            kinds = [k for k in ("finding", "measure", "med", "order") if k in data]
            if len(kinds) != 1 or len(data) != 1:
                raise ValueError(
                    "a 'none' entry is {finding|measure|med|order: key-or-list} and nothing else "
                    "(absence of derived conclusions is expressed with recommend.unless)"
                )
            head = data[kinds[0]]
            return {
                "kind": kinds[0],
                "concepts": tuple(head) if isinstance(head, list) else (head,),
            }
        return data


class When(_Strict):
    all: tuple[Pattern, ...] = ()
    any: tuple[Branch, ...] = ()
    none: tuple[AbsentPattern, ...] = ()

    @model_validator(mode="after")
    def _not_empty(self) -> When:
        if not self.all and not self.any:
            raise ValueError("'when' needs at least one 'all' pattern or 'any' branch")
        return self


class _Cited(_Strict):
    """A provenance item: what it cites, and what on the card it is evidence for."""

    supports: tuple[Support, ...] = Field(min_length=1)
    #: Cited only when the conclusion rests on one of these concluded concepts (e.g. a
    #: paediatric imaging variant on a rating rule that also serves adults); empty: always.
    #: What a rule's recommendation needs supported must be supported by unconditional items.
    when_chain: tuple[str, ...] = ()

    @field_validator("supports")
    @classmethod
    def _distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"'supports' lists a value twice: {list(v)}")
        return tuple(sorted(v, key=SUPPORTS.index))


class SourceQuote(_Cited):
    """A passage of a source document, given by its exact text."""

    source: str
    quote: str = Field(min_length=12)
    #: Which occurrence (1-based) when the quote occurs more than once.
    occurrence: int | None = None


class GuidelineRef(_Cited):
    """A guideline statement of knowledge/guidelines.yaml, by id."""

    guideline: str


ProvenanceRef = SourceQuote | GuidelineRef


class Suggestion(_Strict):
    """A suggestion a clinician can accept on the card (a FHIR resource to create)."""

    label: str
    #: Name of a resource template in knowledge/templates.yaml.
    template: str
    recommended: bool = False


class Recommend(_Strict):
    """What a recommendation rule tells the clinician."""

    category: Category
    urgency: Urgency
    imaging: Imaging = "none"
    red_flag: bool = False
    #: Self-care / keep-running advice: never shown beside a red flag.
    self_care: bool = False
    #: An info-level (urgency self_care) message that stays beside a red flag because it warns
    #: of a harm (e.g. an NSAID with steroids). Every other info-level message, reassuring or
    #: not, is removed whenever a red flag stands (knowledge/policy.yaml).
    safety_warning: bool = False
    summary: str = Field(min_length=10, max_length=139)
    advice: tuple[str, ...] = ()
    #: Dropped when any of these concepts was concluded or found (stratified negation,
    #: applied after forward chaining).
    unless: tuple[str, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    #: For imaging-order ratings: the rating this rule gives to matching draft orders.
    rating: Rating | None = None


class Rule(_Strict):
    id: str
    title: str = Field(min_length=3)
    description: str = Field(min_length=10)
    when: When
    conclude: str | None = None
    recommend: Recommend | None = None
    provenance: tuple[ProvenanceRef, ...] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not RULE_ID_RE.match(v):
            raise ValueError(f"rule id {v!r} must be lower-case letters, digits, '.', '-', '_'")
        return v

    @property
    def concept(self) -> str:
        """The concept this rule asserts when it fires."""
        return self.conclude or self.id.replace("-", "_").replace(".", "_")


class RuleFile(_Strict):
    domain: str
    title: str
    rules: tuple[Rule, ...] = Field(min_length=1)


class Guideline(_Strict):
    id: str
    #: A paraphrase of the statement, never the guideline's own words.
    statement: str = Field(min_length=10)
    citation: str = Field(min_length=5)
    #: The publisher's page, DOI, PubMed/PMC or the issuing body's page (hosts on the
    #: allowlist of knowledge/links.yaml).
    url: str
    #: Short text of the card link to ``url`` (defaults to the citation, shortened).
    label: str | None = Field(default=None, min_length=3, max_length=80)
    #: For rule authors and the clinical owner only (how the paraphrase was sourced, what
    #: is unverified): the emitters never render it.
    note: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("url must be absolute http(s)")
        return v


class GuidelineFile(_Strict):
    guidelines: tuple[Guideline, ...]


class Parameter(_Strict):
    value: int | float | str
    unit: str | None = None
    description: str
    basis: tuple[str, ...] = Field(default=(), description="guideline ids")
    alternatives: str | None = None


class ParameterFile(_Strict):
    parameters: dict[str, Parameter]


class SourceDocument(_Strict):
    file: str
    title: str
    publisher: str
    date: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    url: str | None = None


class SourceManifest(_Strict):
    sources: tuple[SourceDocument, ...]


class IndicationCard(_Strict):
    """The card asking for the indication of an order that cannot be rated."""

    #: ``{order}`` is the order's name (its code's text or display).
    summary: str = Field(min_length=10, max_length=139)
    detail: str = Field(min_length=10)
    #: Wording of the indicator (a question to the orderer, not a red flag).
    indicator: Literal["info", "warning"] = "warning"


class Wording(_Strict):
    """Words the card emitter and the service put around the rules' own text
    (knowledge/templates.yaml ``wording``); ``{...}`` fields are filled in."""

    #: First line of every card detail (Markdown, placed as it is).
    disclaimer: str = Field(min_length=10)
    #: After "**Urgency:**" on every card: says how soon, never contradicting a summary.
    urgency: dict[Urgency, str]
    #: After "**Imaging:**" on every card.
    imaging: dict[Imaging, str]
    #: Display of each order rating (Argonaut pama-rating codes) in the PAMA system actions.
    rating: dict[Rating, str]
    #: Label of the line a rating card shows in place of "Urgency · Imaging": a rating
    #: judges a draft order; it advises no urgency or imaging of its own.
    rating_label: str = Field(default="Order rating", min_length=3, max_length=40)
    #: On a card whose suggestions another card already offers: ``{summary}`` of that one.
    same_actions_as: str = Field(min_length=5)
    #: Label and description of the PAMA "remove the draft order" suggestion; ``{order}``.
    remove_order_label: str = Field(min_length=5, max_length=80)
    remove_order_description: str = Field(min_length=5)
    #: Description of a rating system action; ``{rating}``, ``{order}``.
    rating_description: str = Field(min_length=5)
    #: Name of an order whose code has no text or display.
    unnamed_order: str = Field(min_length=3)
    indication_card: IndicationCard

    @field_validator("urgency", "imaging", "rating")
    @classmethod
    def _complete(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return _every_value(v, info)


#: The vocabulary each per-value mapping of the knowledge must cover.
_VOCABULARIES: dict[str, Any] = {
    "urgency": Urgency,
    "imaging": Imaging,
    "rating": Rating,
    "priority": Urgency,
    "detected_issue_severity": Urgency,
}


def _every_value(v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
    """``v`` when it has an entry for every value of its field's vocabulary."""
    missing = [x for x in get_args(_VOCABULARIES[str(info.field_name)]) if x not in v]
    if missing:
        raise ValueError(f"needs an entry for every value; missing {missing}")
    return v


class FhirCodes(_Strict):
    """The FHIR codes the urgencies become in the Bundle (knowledge/templates.yaml ``fhir``)."""

    #: RequestGroup.action.priority and CommunicationRequest.priority (request-priority).
    priority: dict[Urgency, Literal["routine", "urgent", "asap", "stat"]]
    #: DetectedIssue.severity of a red-flag conclusion (detectedissue-severity).
    detected_issue_severity: dict[Urgency, Literal["high", "moderate", "low"]]

    @field_validator("priority", "detected_issue_severity")
    @classmethod
    def _complete(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return _every_value(v, info)


class LinkPolicy(_Strict):
    """knowledge/links.yaml: where card links may point, and text that must not reach a card."""

    #: Hosts (and their subdomains) a guideline or source URL may use.
    allowed_hosts: tuple[str, ...] = Field(min_length=1)
    #: Hosts refused even if a subdomain rule would allow them (copies, dead sites).
    refused_hosts: tuple[str, ...] = ()
    #: Phrases of notes meant for rule authors; case-insensitive, whole words.
    internal_note_phrases: tuple[str, ...] = ()

    def host_allowed(self, host: str) -> bool:
        """True when ``host`` is an allowed host or a subdomain of one, and not refused."""
        host = host.lower().rstrip(".")

        def under(hosts: tuple[str, ...]) -> bool:
            return any(host == h or host.endswith("." + h) for h in hosts)

        return under(self.allowed_hosts) and not under(self.refused_hosts)


class BesideRedFlag(Protocol):
    """What the red-flag policy reads of a recommendation (a :class:`Recommend`, or what an
    emitter knows of a conclusion)."""

    @property
    def red_flag(self) -> bool: ...
    @property
    def self_care(self) -> bool: ...
    @property
    def safety_warning(self) -> bool: ...
    @property
    def urgency(self) -> Urgency: ...
    @property
    def rating(self) -> Rating | None: ...


class Policy(_Strict):
    """Conflict resolution applied after forward chaining (knowledge/policy.yaml)."""

    #: Recommendations flagged self_care are removed whenever any red flag is present.
    suppress_self_care_beside_red_flag: Literal[True] = True
    #: Info-level recommendations (urgency self_care, no order rating) are removed whenever any
    #: red flag is present, unless they are a ``safety_warning``: no reassurance beside a red flag.
    suppress_info_beside_red_flag: Literal[True] = True
    #: Every urgency once, least urgent first: the headline urgency is the highest of the
    #: conclusions, and cards and actions are listed most urgent first.
    urgency_order: tuple[Urgency, ...]
    #: Every imaging advice once, least intensive first: the headline imaging is the highest
    #: among the most urgent conclusions (a clinical judgement: CT ranks below urgent MRI).
    imaging_order: tuple[Imaging, ...]
    #: When several ratings apply to one order, the first in this list wins.
    rating_precedence: tuple[Rating, ...] = ("appropriate", "not-appropriate", "no-criteria-apply")
    #: Card indicator per urgency.
    indicator: dict[Urgency, Literal["info", "warning", "critical"]] = {
        "emergency": "critical",
        "urgent": "critical",
        "routine": "warning",
        "self_care": "info",
    }
    #: The lowest indicator a red-flag card may carry, whatever its urgency.
    red_flag_min_indicator: Literal["warning", "critical"] = "warning"
    #: The lowest indicator of a card rating a draft order "not-appropriate".
    not_appropriate_min_indicator: Literal["warning", "critical"] = "warning"

    @field_validator("urgency_order", "imaging_order", "rating_precedence")
    @classmethod
    def _each_once(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        vocabulary = {
            "urgency_order": Urgency,
            "imaging_order": Imaging,
            "rating_precedence": Rating,
        }[str(info.field_name)]
        wanted = get_args(vocabulary)
        if sorted(v) != sorted(wanted):
            missing = [x for x in wanted if x not in v]
            repeated = sorted({x for x in v if v.count(x) > 1})
            raise ValueError(
                f"must list each of {list(wanted)} exactly once "
                f"(missing {missing}, repeated {repeated})"
            )
        return v

    def urgency_rank(self, urgency: str | None) -> int:
        """Position of ``urgency`` in :attr:`urgency_order` (-1 for None: nothing concluded)."""
        return -1 if urgency is None else self.urgency_order.index(urgency)

    def imaging_rank(self, imaging: str) -> int:
        """Position of ``imaging`` in :attr:`imaging_order`."""
        return self.imaging_order.index(imaging)

    def card_indicator(self, urgency: Urgency, *, red_flag: bool, rating: Rating | None) -> str:
        """The CDS Hooks indicator of a card: by urgency, raised to the floors above."""
        order = ("info", "warning", "critical")
        indicator = self.indicator[urgency]
        floors = [indicator]
        if red_flag:
            floors.append(self.red_flag_min_indicator)
        if rating == "not-appropriate":
            floors.append(self.not_appropriate_min_indicator)
        return max(floors, key=order.index)

    def withdrawn_beside_red_flag(self, rec: BesideRedFlag) -> bool:
        """Whether ``rec`` is removed when a red flag stands: the one statement of the
        red-flag policy (resolve applies it, the emitters check it again).

        A red flag always stays. An order rating is withdrawn when it is "not-appropriate"
        (an order a red flag may justify) and kept otherwise. Self-care advice is withdrawn,
        and so is every other info-level message unless it is a ``safety_warning``.
        """
        if rec.red_flag:
            return False
        if rec.rating is not None:
            return rec.rating == "not-appropriate"
        if self.suppress_self_care_beside_red_flag and rec.self_care:
            return True
        return (
            self.suppress_info_beside_red_flag
            and rec.urgency == "self_care"
            and not rec.safety_warning
        )
