"""CDS Hooks 2.0 cards from conclusions (one card per conclusion, most urgent first).

Cards are plain JSON dicts that follow the CDS Hooks ``Card`` model: deterministic
uuids, ``summary`` under 140 characters, ``indicator`` from the knowledge policy,
``source`` with a ``topic`` Coding and the ``url`` of the guideline the card's urgency
rests on, ``links`` (type ``absolute``) to every cited guideline, a short escaped
GitHub-flavoured Markdown ``detail`` whose Sources say what each passage is evidence for,
``suggestions`` (FHIR resources validated with the R4B models) and ``overrideReasons`` on
red-flag cards. No member is ever null or empty.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from fhir.resources.R4B import get_fhir_model_class

from .._errors import KnowledgeError
from ..evaluation import (
    AbsenceSupport,
    Conclusion,
    Derivation,
    GuidelineCitation,
    SourceSpan,
    SuggestionOut,
)
from .canonical import OVERRIDE_REASONS_SYSTEM, RULES_SYSTEM, rebase
from .ids import stable_uuid
from .markdown import escape_markdown, markdown_link, normalize_text, safe_url, truncate
from .ordering import ordered_conclusions
from .pruning import dedupe, prune
from .stamps import KNOWLEDGE_EXTENSION, knowledge_stamp
from .validation import validating
from .words import category_words

if TYPE_CHECKING:
    from ..facts import Fact
    from ..kb.knowledge import Knowledge

__all__ = [
    "ORDER_EXTENSION",
    "build_cards",
    "indication_order",
    "render_card_markdown",
    "suggestion_resource",
]

QUOTE_CHARS = 200
STATEMENT_CHARS = 160
MAX_LISTED = 8
LINK_LABEL_CHARS = 80
SUMMARY_MAX = 139
#: Evidence resource types a created request may cite as its reason.
_REASON_TYPES = ("Condition", "Observation")
#: Key of the card extension naming the draft order a card asks the indication of.
ORDER_EXTENSION = "cds-backpain.order"


def build_cards(
    conclusions: Sequence[Conclusion],
    *,
    knowledge: Knowledge,
    patient_ref: str | None,
    service_label: str = "cds-backpain",
    derivations: Sequence[Derivation] = (),
    facts: Sequence[Fact] = (),
    missing_indication: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """One CDS Hooks card per conclusion, most urgent first (red flags first at a tie),
    then one card per draft order of ``missing_indication`` asking for its indication
    (:func:`indication_card`).

    ``derivations`` (optional) adds the "no current record of" absences to the Why
    section; ``facts`` (optional) names each evidence resource by its concept label.
    Card and suggestion uuids are uuid5 over the knowledge digest, ``patient_ref``, the
    conclusion id and its evidence: identical inputs give identical cards, different
    patients never share uuids. Self-care cards are never emitted beside a red flag.

    Raises ``ValueError`` for a summary of 140 characters or more (or duplicate
    conclusion ids) and :class:`~cds_backpain.KnowledgeError` for a suggestion whose
    template is missing or does not validate as a FHIR R4 resource.
    """
    by_rule: dict[str, list[Derivation]] = {}
    for d in derivations:
        by_rule.setdefault(d.rule, []).append(d)
    ordered = ordered_conclusions(conclusions, knowledge)
    cards = [_card(c, knowledge, patient_ref, service_label, by_rule, facts) for c in ordered]
    cards = merge_same_actions(cards, knowledge)
    cards += [
        indication_card(order, knowledge, patient_ref, service_label, facts)
        for order in dedupe(missing_indication)
    ]
    return [rebase(card) for card in cards]


def indication_card(
    order: str,
    knowledge: Knowledge,
    patient_ref: str | None,
    service_label: str = "cds-backpain",
    facts: Sequence[Fact] = (),
) -> dict[str, Any]:
    """The card asking for the indication of ``order``, a draft order left unrated because
    it records none (knowledge/templates.yaml ``wording.indication_card``; PAMA). The order
    is named by its record's words (else ``wording.unnamed_order``), never by its FHIR id;
    the card's ``extension`` names it for machines (:data:`ORDER_EXTENSION`)."""
    words = knowledge.wording
    name = next(
        (
            normalize_text(f.name)
            for f in facts
            if f.kind == "order" and f.source == order and f.name and normalize_text(f.name)
        ),
        words.unnamed_order,
    )
    ask = words.indication_card
    return {
        "uuid": str(stable_uuid("indication", knowledge.digest, patient_ref, order)),
        "summary": ask.summary.format(order=name)[:SUMMARY_MAX],
        "indicator": ask.indicator,
        "detail": f"{words.disclaimer}\n\n{escape_markdown(ask.detail)}",
        "source": {"label": f"{service_label}: low back pain rules"},
        "extension": {KNOWLEDGE_EXTENSION: knowledge_stamp(knowledge), ORDER_EXTENSION: order},
    }


def indication_order(card: Mapping[str, Any]) -> str | None:
    """The draft order a card asks the indication of (None for every other card)."""
    extension = card.get("extension")
    order = extension.get(ORDER_EXTENSION) if isinstance(extension, Mapping) else None
    return order if isinstance(order, str) else None


def _actions_key(card: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What a card offers: its indicator and its suggestions' labels (None: no buttons)."""
    labels = tuple(sorted(s["label"] for s in card.get("suggestions", ())))
    return (card["indicator"], labels) if labels else None


def merge_same_actions(cards: list[dict[str, Any]], knowledge: Knowledge) -> list[dict[str, Any]]:
    """No two cards offer the same buttons at the same indicator: the first (most
    urgent) keeps them; a later one keeps its own text, loses the repeated buttons and
    names the card that has them. Every conclusion still has its card."""
    first: dict[tuple[Any, ...], dict[str, Any]] = {}
    for card in cards:
        key = _actions_key(card)
        if key is None:
            continue
        kept = first.setdefault(key, card)
        if kept is card:
            continue
        del card["suggestions"]
        card.pop("selectionBehavior", None)
        note = knowledge.wording.same_actions_as.format(summary=kept["summary"])
        head, sep, tail = card["detail"].partition("\n\n**Why**")
        card["detail"] = f"{head}\n\n{escape_markdown(note)}{sep}{tail}"
    return cards


def _card(
    c: Conclusion,
    knowledge: Knowledge,
    patient_ref: str | None,
    service_label: str,
    by_rule: Mapping[str, list[Derivation]],
    facts: Sequence[Fact],
) -> dict[str, Any]:
    if len(c.summary) > SUMMARY_MAX:
        raise ValueError(f"summary of {c.id!r} has {len(c.summary)} characters (max {SUMMARY_MAX})")
    card_uuid = stable_uuid("card", knowledge.digest, patient_ref, c.id, sorted(set(c.evidence)))
    indicator = knowledge.policy.card_indicator(c.urgency, red_flag=c.red_flag, rating=c.rating)
    card: dict[str, Any] = {
        "uuid": str(card_uuid),
        "summary": c.summary,
        "indicator": indicator,
        "detail": _detail(c, knowledge, by_rule, facts),
        "source": {
            "label": f"{service_label}: low back pain rules",
            "url": primary_url(c),
            "topic": {
                "system": RULES_SYSTEM,
                "version": knowledge.version,
                "code": c.id,
                "display": category_words(c.category, knowledge),
            },
        },
        "links": card_links(c, knowledge),
        # CDS Hooks' Source takes no extension: the digest travels in the card's.
        "extension": {KNOWLEDGE_EXTENSION: knowledge_stamp(knowledge)},
    }
    suggestions = _suggestions(c, knowledge, patient_ref, str(card_uuid))
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "at-most-one"
    if c.red_flag:
        card["overrideReasons"] = [
            {"system": OVERRIDE_REASONS_SYSTEM, "code": code, "display": display}
            for code, display in knowledge.displays[OVERRIDE_REASONS_SYSTEM].items()
        ]
    return cast(dict[str, Any], prune(card))


# -- detail ---------------------------------------------------------------------------


def _detail(
    c: Conclusion,
    knowledge: Knowledge,
    by_rule: Mapping[str, list[Derivation]],
    facts: Sequence[Fact],
) -> str:
    words = knowledge.wording
    if c.rating is not None:
        headline = (
            f"**{escape_markdown(words.rating_label)}:** "
            f"{escape_markdown(words.rating.get(c.rating, c.rating))}"
        )
    else:
        headline = (
            f"**Urgency:** {escape_markdown(words.urgency.get(c.urgency, c.urgency))} · "
            f"**Imaging:** {escape_markdown(words.imaging.get(c.imaging, c.imaging))}"
        )
    blocks = [words.disclaimer, headline]
    if c.advice:
        blocks.append("\n".join(f"- {escape_markdown(a)}" for a in c.advice))
    why = _why(c, knowledge, by_rule, facts)
    if why:
        blocks.append("**Why**\n\n" + "\n".join(f"- {line}" for line in why))
    sources = _sources(c, knowledge)
    if sources:
        blocks.append("**Sources**\n\n" + "\n\n".join(sources))
    return "\n\n".join(blocks)


def _label(knowledge: Knowledge, concept: str) -> str:
    return knowledge.labels.get(concept) or concept.replace("_", " ")


def _rule_concepts(c: Conclusion, knowledge: Knowledge) -> set[str]:
    """Input concepts the conclusion's rules test (findings, measures, meds, orders)."""
    out: set[str] = set()
    for rule_id in c.rules:
        rule = knowledge.rules.get(rule_id)
        if rule is None:
            continue
        patterns = list(rule.when.all)
        for branch in rule.when.any:
            patterns.extend(branch.patterns)
        out.update(con for p in patterns if p.kind != "conclusion" for con in p.concepts)
    return out


def _listed(items: Sequence[str]) -> str:
    if len(items) <= MAX_LISTED:
        return "; ".join(items)
    return "; ".join(items[:MAX_LISTED]) + f"; and {len(items) - MAX_LISTED} more"


def _why(
    c: Conclusion,
    knowledge: Knowledge,
    by_rule: Mapping[str, list[Derivation]],
    facts: Sequence[Fact],
) -> list[str]:
    lines: list[str] = []
    wanted = _rule_concepts(c, knowledge)
    labels: dict[str, list[str]] = {}
    for f in facts:
        if f.kind in ("absent", "conclusion") or (wanted and f.concept not in wanted):
            continue
        label = knowledge.labels.get(f.concept) or f.label
        if not label:
            continue
        for ref in f.resources():
            labels.setdefault(ref, []).append(label)
    records = []
    for ref in dedupe(c.evidence):
        names = dedupe(labels.get(ref, ()))
        ref_md = escape_markdown(ref)
        if names:
            records.append(f"{escape_markdown(', '.join(names))} ({ref_md})")
        else:
            records.append(ref_md)
    if records:
        lines.append("Records: " + _listed(records))
    absent = dedupe(
        s.concept
        for rule_id in c.rules
        for d in by_rule.get(rule_id, ())
        for s in d.support_items
        if isinstance(s, AbsenceSupport)
    )
    if absent:
        names = [escape_markdown(_label(knowledge, a)) for a in absent]
        lines.append("No current record of: " + _listed(names))
    evidence = set(c.evidence)
    undated = dedupe(
        knowledge.labels.get(f.concept) or f.label or _label(knowledge, f.concept)
        for f in facts
        if f.kind == "finding"
        and f.onset_known is False
        and f.concept in wanted
        and evidence.intersection(f.resources())
    )
    if undated:
        names = [escape_markdown(n) for n in undated]
        lines.append(
            "No onset date recorded for: " + _listed(names) + " - ask whether this is new."
        )
    rules = []
    for rule_id in c.rules:
        rule = knowledge.rules.get(rule_id)
        rules.append(rule.title if rule is not None else _label(knowledge, rule_id))
    if rules:
        lines.append("Rules: " + _listed([escape_markdown(r) for r in dedupe(rules)]))
    return lines


def _citations(c: Conclusion) -> list[GuidelineCitation]:
    """The conclusion's guideline citations whose URL may be linked, first per URL."""
    out: list[GuidelineCitation] = []
    urls: set[str] = set()
    for item in c.provenance:
        if isinstance(item, GuidelineCitation) and item.url not in urls and safe_url(item.url):
            urls.add(item.url)
            out.append(item)
    return out


def primary_url(c: Conclusion) -> str | None:
    """``source.url``: the guideline the card's urgency rests on (else its imaging, else the
    first cited guideline)."""
    cited = _citations(c)
    for wanted in ("urgency", "imaging"):
        for item in cited:
            if wanted in item.supports:
                return item.url
    return cited[0].url if cited else None


def card_links(c: Conclusion, knowledge: Knowledge) -> list[dict[str, str]]:
    """One ``absolute`` CDS Hooks link per cited guideline page (the guideline's ``label``,
    else its citation shortened)."""
    links = []
    for item in _citations(c):
        g = knowledge.guidelines.get(item.guideline)
        label = g.label if g is not None and g.label else None
        links.append(
            {
                "label": label or truncate(normalize_text(item.citation), LINK_LABEL_CHARS),
                "url": item.url,
                "type": "absolute",
            }
        )
    return links


def _supports_words(supports: Sequence[str]) -> str:
    return f" · _evidence for {', '.join(supports)}_" if supports else ""


def _sources(c: Conclusion, knowledge: Knowledge) -> list[str]:
    quotes: list[str] = []
    citations: list[str] = []
    for item in dedupe(c.provenance):
        if isinstance(item, SourceSpan):
            doc = knowledge.sources.get(item.source)
            title = item.title or (doc.title if doc is not None else item.source)
            quotes.append(
                f"> {escape_markdown(item.quote, limit=QUOTE_CHARS)}\n>\n"
                f"> — _{escape_markdown(title)}_, chars {item.start}–{item.end}"
                + _supports_words(item.supports)
            )
        elif isinstance(item, GuidelineCitation):
            line = "- " + markdown_link(item.citation, item.url)
            if item.statement:
                line += ": " + escape_markdown(item.statement, limit=STATEMENT_CHARS)
            citations.append(line + _supports_words(item.supports))
    if citations:
        quotes.append("\n".join(citations))
    return quotes


# -- suggestions ----------------------------------------------------------------------


def _suggestions(
    c: Conclusion, knowledge: Knowledge, patient_ref: str | None, card_uuid: str
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    recommended_given = False
    for index, s in enumerate(c.suggestions):
        resource = suggestion_resource(s, knowledge, patient_ref, reasons=c.evidence)
        recommended = s.recommended and not recommended_given
        recommended_given = recommended_given or recommended
        out.append(
            {
                "label": s.label,
                "uuid": str(stable_uuid("suggestion", card_uuid, index, s.template)),
                "isRecommended": recommended,
                "actions": [
                    {
                        "type": "create",
                        "description": f"Create {resource['resourceType']}: {s.label}",
                        "resource": resource,
                    }
                ],
            }
        )
    return out


def suggestion_resource(
    s: SuggestionOut,
    knowledge: Knowledge,
    patient_ref: str | None,
    *,
    reasons: Sequence[str] = (),
) -> dict[str, Any]:
    """The FHIR resource a suggestion creates: its template with the patient as subject.

    The template is deep-copied, its ``id`` dropped, ``subject`` (or ``patient`` for
    resource types without ``subject``) set to ``patient_ref``, ``reasonReference`` set
    to the Condition / Observation references among ``reasons`` when the type has that
    element and the template gives no reason, and the result validated with the
    fhir.resources R4B model of its type.
    """
    template = knowledge.templates.get(s.template)
    if template is None:
        raise KnowledgeError(f"suggestion template {s.template!r} is not in knowledge/templates")
    resource = copy.deepcopy(template)
    resource.pop("id", None)
    try:
        model = get_fhir_model_class(str(resource.get("resourceType")))
    except (KeyError, ValueError) as exc:
        raise KnowledgeError(f"template {s.template!r}: unknown resourceType") from exc
    if patient_ref:
        field = "subject" if "subject" in model.model_fields else "patient"
        if field in model.model_fields:
            resource[field] = {"reference": patient_ref}
    why = [r for r in dedupe(reasons) if r.split("/", 1)[0] in _REASON_TYPES]
    if (
        why
        and "reasonReference" in model.model_fields
        and not resource.get("reasonReference")
        and not resource.get("reasonCode")
    ):
        resource["reasonReference"] = [{"reference": r} for r in why]
    try:
        if validating():
            model.model_validate(resource)
    except Exception as exc:  # pydantic.ValidationError, or a FHIR model error
        raise KnowledgeError(
            f"template {s.template!r} is not a valid FHIR R4 resource: {exc}"
        ) from exc
    return cast(dict[str, Any], prune(resource))


# -- gallery --------------------------------------------------------------------------

_INDICATOR_BADGE = {"critical": "🔴 critical", "warning": "🟠 warning", "info": "🔵 info"}


def render_card_markdown(card: Mapping[str, Any]) -> str:
    """A card as a Markdown section (for docs/cards.md and reviews), detail included."""
    lines = [
        f"### {escape_markdown(str(card.get('summary', '')))}",
        "",
        f"*{_INDICATOR_BADGE.get(str(card.get('indicator')), 'unknown indicator')}* · "
        f"source: {escape_markdown(str(card.get('source', {}).get('label', '')))}",
        "",
    ]
    detail = card.get("detail")
    if detail:
        lines += [str(detail), ""]
    suggestions: Iterable[Mapping[str, Any]] = card.get("suggestions", ())
    for s in suggestions:
        mark = " (recommended)" if s.get("isRecommended") else ""
        lines.append(f"- [ ] Suggestion: {escape_markdown(str(s.get('label', '')))}{mark}")
    links: Iterable[Mapping[str, Any]] = card.get("links", ())
    labels = [escape_markdown(str(link.get("label", ""))) for link in links]
    if labels:
        lines.append("- Links: " + "; ".join(labels))
    reasons: Iterable[Mapping[str, Any]] = card.get("overrideReasons", ())
    displays = [escape_markdown(str(r.get("display", ""))) for r in reasons]
    if displays:
        lines.append("- Override reasons: " + "; ".join(displays))
    return "\n".join(lines).rstrip() + "\n"
