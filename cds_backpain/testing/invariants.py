"""The invariants every evaluation satisfies, as reusable checks for QA teams.

Each check is a plain function that returns nothing and raises ``AssertionError``
with a readable message when the invariant does not hold. Two families:

* single-evaluation checks take an :class:`~cds_backpain.Evaluation` (and, where
  they need it, the input ``data``); :func:`check_all_invariants` runs them all;
* relational checks take the input and an ``evaluate`` function (one argument, the
  input; e.g. ``functools.partial(cds_backpain.evaluate, now=EXAMPLE_NOW)``) and
  compare several evaluations: determinism, order independence, urgency
  monotonicity, negation and status soundness, engine agreement.

Extend them by writing your own function in the same style and calling it next to
:func:`check_all_invariants` (docs/qa.md).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..emit.cards import indication_order
from ..evaluation import AbsenceSupport, ConclusionSupport, SourceSpan
from .builders import reference
from .strategies import VOID_FORMS, negation_twins
from .timeshift import triage

if TYPE_CHECKING:
    from ..evaluation import Evaluation

__all__ = [
    "SINGLE_CHECKS",
    "check_all_invariants",
    "check_cards_conform",
    "check_engines_agree",
    "check_evidence_resolves",
    "check_headline",
    "check_json_contract",
    "check_markdown_safe",
    "check_negation_sound",
    "check_order_independent",
    "check_output_bundle_valid",
    "check_provenance_resolves",
    "check_red_flag_fires",
    "check_red_flag_sound",
    "check_rule_fires",
    "check_same_output",
    "check_same_triage",
    "check_single_patient",
    "check_urgency_monotone",
    "fired_rules",
    "label_example",
    "outcome",
]

Json = dict[str, Any]
Evaluate = Callable[[Any], "Evaluation"]

_INDICATORS = ("info", "warning", "critical")
_CARD_KEYS = {
    "uuid",
    "summary",
    "detail",
    "indicator",
    "source",
    "suggestions",
    "selectionBehavior",
    "overrideReasons",
    "links",
    "extension",
}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _knowledge(knowledge: Any | None) -> Any:
    if knowledge is not None:
        return knowledge
    from ..kb.loader import load_knowledge

    return load_knowledge()


def _rank(urgency: str | None) -> int:
    """The rank of ``urgency`` in the knowledge's ``urgency_order`` (knowledge/policy.yaml)."""
    return int(_knowledge(None).policy.urgency_rank(urgency))


def fired_rules(evaluation: Evaluation) -> frozenset[str]:
    """Ids of every rule that fired (intermediate and recommendation rules)."""
    return frozenset(d.rule for d in evaluation.derivations)


def label_example(evaluation: Evaluation) -> None:
    """Label the current hypothesis example with the rules that fired and the urgency, so
    ``pytest --hypothesis-show-statistics`` shows which rules a property reached."""
    from hypothesis import event

    event(f"urgency {evaluation.urgency}")
    for rule in sorted(fired_rules(evaluation)):
        event(f"rule {rule}")


def outcome(evaluation: Evaluation) -> Json:
    """What a clinician would see, as canonical JSON: headline, conclusions, rules fired,
    ratings, orders missing an indication, cards and output bundle (no input-position
    details such as issue paths)."""
    out = evaluation.to_json()
    return {
        "patient": out.get("patient"),
        "urgency": out.get("urgency"),
        "imaging": out.get("imaging"),
        "conclusions": out.get("conclusions", []),
        "derivations": sorted(
            (json.dumps(d, sort_keys=True) for d in out.get("derivations", [])),
        ),
        "ratings": out.get("ratings", {}),
        "missing_indication": out.get("missing_indication", []),
        "cards": out.get("cards", []),
        "bundle": out.get("bundle", {}),
    }


def _diff(a: Json, b: Json) -> str:
    keys = [k for k in a if a.get(k) != b.get(k)]
    parts = []
    for k in keys[:3]:
        left = json.dumps(a.get(k), sort_keys=True, default=str)[:300]
        right = json.dumps(b.get(k), sort_keys=True, default=str)[:300]
        parts.append(f"{k}: {left} != {right}")
    return "; ".join(parts) or "(no difference in the compared parts)"


# --------------------------------------------------------------------------- single


def check_red_flag_sound(evaluation: Evaluation) -> None:
    """Beside a red flag there is no self-care advice, the headline urgency is at least the
    red flag's, and every red flag has a card that is at least a warning."""
    flags = evaluation.red_flags
    if not flags:
        return
    self_care = [c.id for c in evaluation.conclusions if c.self_care and not c.red_flag]
    assert not self_care, (
        f"self-care conclusions {self_care} beside red flags {[c.id for c in flags]}"
    )
    top = max(_rank(c.urgency) for c in flags)
    assert _rank(evaluation.urgency) >= top, (
        f"headline urgency {evaluation.urgency!r} is below red flag urgency "
        f"{_knowledge(None).policy.urgency_order[top]!r}"
    )
    by_topic = {c.get("source", {}).get("topic", {}).get("code"): c for c in evaluation.cards}
    for c in flags:
        card = by_topic.get(c.id)
        assert card is not None, f"red flag {c.id!r} has no card"
        assert card.get("indicator") in ("warning", "critical"), (
            f"red flag {c.id!r} card indicator is {card.get('indicator')!r}"
        )
    for card in evaluation.cards:
        topic = card.get("source", {}).get("topic", {}).get("code")
        concl = next((c for c in evaluation.conclusions if c.id == topic), None)
        assert concl is None or not concl.self_care or concl.red_flag, (
            f"self-care card {topic!r} shown beside a red flag"
        )


def check_headline(evaluation: Evaluation) -> None:
    """The headline urgency is the highest urgency of the conclusions (None without any)."""
    if not evaluation.conclusions:
        assert evaluation.urgency is None, f"urgency {evaluation.urgency!r} with no conclusion"
        return
    top = max(evaluation.conclusions, key=lambda c: _rank(c.urgency)).urgency
    assert evaluation.urgency == top, (
        f"headline urgency {evaluation.urgency!r} but highest conclusion urgency {top!r}"
    )
    images = {c.imaging for c in evaluation.conclusions} | {"none"}
    assert evaluation.imaging in images, (
        f"headline imaging {evaluation.imaging!r} is not advised by any conclusion"
    )


def check_provenance_resolves(evaluation: Evaluation, knowledge: Any | None = None) -> None:
    """Every conclusion cites at least one source; every source span is really in its
    document (code-point offsets, quote, sha256 of the document); every guideline exists."""
    kb = _knowledge(knowledge)
    assert evaluation.knowledge.digest == kb.digest, (
        "evaluation was made with another knowledge base "
        f"({evaluation.knowledge.digest[:12]} != {kb.digest[:12]})"
    )
    for c in evaluation.conclusions:
        assert c.provenance, f"conclusion {c.id!r} has no provenance"
        assert c.rules and c.rules[0] in kb.rules, f"conclusion {c.id!r}: unknown rule {c.rules}"
        for p in c.provenance:
            if isinstance(p, SourceSpan):
                text = kb.texts.get(p.source)
                assert text is not None, f"{c.id}: unknown source document {p.source!r}"
                assert 0 <= p.start < p.end <= len(text), (
                    f"{c.id}: span {p.start}-{p.end} outside {p.source} ({len(text)} chars)"
                )
                assert text[p.start : p.end] == p.quote, (
                    f"{c.id}: {p.source}[{p.start}:{p.end}] is not the quoted text"
                )
                digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
                manifest = kb.sources[p.source].sha256 if p.source in kb.sources else None
                assert p.sha256 in (digest, manifest), f"{c.id}: sha256 of {p.source} differs"
            else:
                g = kb.guidelines.get(p.guideline)
                assert g is not None, f"{c.id}: unknown guideline {p.guideline!r}"
                assert p.url == g.url, f"{c.id}: guideline {p.guideline} url differs"


def _input_refs(data: Any) -> set[str] | None:
    """How the input names its resources: ``Type/id`` and, in a Bundle, each ``fullUrl``."""
    if isinstance(data, Mapping) and data.get("resourceType") == "Bundle":
        entries = [e for e in data.get("entry", []) if isinstance(e, Mapping)]
        items = [e.get("resource") for e in entries]
        urls = {e["fullUrl"] for e in entries if isinstance(e.get("fullUrl"), str)}
    elif isinstance(data, list):
        items, urls = list(data), set()
    elif isinstance(data, Mapping):
        items, urls = [data], set()
    else:
        return None
    refs = {
        reference(r) for r in items if isinstance(r, Mapping) and "id" in r and "resourceType" in r
    }
    return refs | urls


def check_evidence_resolves(evaluation: Evaluation, data: Any = None) -> None:
    """Every rule a conclusion names fired; every derivation's support is an input resource,
    a conclusion some fired rule asserted, or an absence; with ``data``, every evidence
    reference names a resource of the input."""
    fired = fired_rules(evaluation)
    concluded = {d.concept for d in evaluation.derivations}
    for c in evaluation.conclusions:
        missing = [r for r in c.rules if r not in fired]
        assert not missing, f"conclusion {c.id!r} names rules that did not fire: {missing}"
    refs = _input_refs(data) if data is not None else None
    for d in evaluation.derivations:
        for s in d.support_items:
            if isinstance(s, ConclusionSupport):
                assert s.concept in concluded, (
                    f"rule {d.rule} rests on {s}, which no fired rule concluded"
                )
            elif isinstance(s, AbsenceSupport):
                continue
            elif refs is not None:
                assert str(s) in refs, (
                    f"rule {d.rule} rests on {str(s)!r}, not a resource of the input"
                )
    if refs is not None:
        for c in evaluation.conclusions:
            bad = [e for e in c.evidence if e not in refs]
            assert not bad, f"conclusion {c.id!r} cites {bad}, not resources of the input"
            bad_orders = [o for o in c.orders if o not in refs]
            assert not bad_orders, f"conclusion {c.id!r} rates unknown orders {bad_orders}"
        for ref in evaluation.ratings:
            assert ref in refs, f"rating for {ref!r}, not a resource of the input"


def _walk(value: Any, path: str = "") -> Iterable[tuple[str, Any]]:
    yield path, value
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


def check_cards_conform(evaluation: Evaluation, knowledge: Any | None = None) -> None:
    """Cards follow CDS Hooks 2.0: required members, summary under 140 characters, known
    indicator, no null or empty member, selectionBehavior with suggestions, displays on
    override reasons, unique uuids, most urgent first, one card per conclusion with the
    policy's indicator, one card after them per order left unrated for want of an
    indication (never ``info``: it asks, it does not reassure), and the decision-support
    disclaimer in every detail."""
    kb = _knowledge(knowledge)

    uuids: list[str] = []
    ranks = []
    asked: list[str] = []
    by_id = {c.id: c for c in evaluation.conclusions}
    topics = []
    for i, card in enumerate(evaluation.cards):
        where = f"card[{i}]"
        for path, v in _walk(card):
            assert v is not None and v != "" and v != [] and v != {}, f"{where}{path} is empty"
        extra = set(card) - _CARD_KEYS
        assert not extra, f"{where}: unknown members {sorted(extra)}"
        summary = card.get("summary")
        assert isinstance(summary, str) and 0 < len(summary) < 140, f"{where}: bad summary"
        assert card.get("indicator") in _INDICATORS, f"{where}: indicator {card.get('indicator')}"
        source = card.get("source")
        assert isinstance(source, Mapping) and isinstance(source.get("label"), str), (
            f"{where}: source.label is required"
        )
        detail = card.get("detail")
        assert isinstance(detail, str) and kb.wording.disclaimer in detail, (
            f"{where}: detail lacks the decision-support disclaimer"
        )
        if "uuid" in card:
            assert _UUID.match(card["uuid"]), f"{where}: uuid {card['uuid']!r}"
            uuids.append(card["uuid"])
        suggestions = card.get("suggestions")
        if suggestions:
            behaviour = card.get("selectionBehavior")
            assert behaviour in ("at-most-one", "any"), f"{where}: selectionBehavior {behaviour}"
            recommended = [s for s in suggestions if s.get("isRecommended")]
            assert behaviour == "any" or len(recommended) <= 1, (
                f"{where}: several recommended suggestions with at-most-one"
            )
            for s in suggestions:
                assert isinstance(s.get("label"), str), f"{where}: suggestion without label"
                if "uuid" in s:
                    uuids.append(s["uuid"])
                for a in s.get("actions", []):
                    assert a.get("type") in ("create", "update", "delete"), f"{where}: action"
                    assert isinstance(a.get("description"), str), f"{where}: action description"
        for reason in card.get("overrideReasons", []):
            assert reason.get("display") and reason.get("code") and reason.get("system"), (
                f"{where}: override reason without code, system and display"
            )
        for link in card.get("links", []):
            assert link.get("type") in ("absolute", "smart"), f"{where}: link type"
            assert str(link.get("url", "")).startswith(("https://", "http://")), (
                f"{where}: link url is not absolute"
            )
        order = indication_order(card)
        if order is not None:
            assert order in evaluation.missing_indication, (
                f"{where}: asks the indication of {order!r}, which is not missing one"
            )
            assert card["indicator"] != "info", f"{where}: an indication request is info"
            asked.append(order)
            continue
        assert not asked, f"{where}: a conclusion card after an indication request"
        topic = source.get("topic", {}).get("code")
        topics.append(topic)
        concl = by_id.get(topic)
        assert concl is not None, f"{where}: topic {topic!r} is not a conclusion"
        ranks.append((_rank(concl.urgency), concl.red_flag))
        want = kb.policy.card_indicator(concl.urgency, red_flag=concl.red_flag, rating=concl.rating)
        assert card["indicator"] == want, (
            f"{where}: indicator {card['indicator']!r} for {concl.urgency} (policy says {want!r})"
        )
    assert len(set(uuids)) == len(uuids), "card or suggestion uuids repeat"
    assert sorted(asked) == sorted(evaluation.missing_indication), (
        f"indication asked of {sorted(asked)}, missing for {list(evaluation.missing_indication)}"
    )
    unrated = set(evaluation.missing_indication) & set(evaluation.ratings)
    assert not unrated, f"orders both rated and missing an indication: {sorted(unrated)}"
    assert ranks == sorted(ranks, reverse=True), "cards are not ordered most urgent first"
    shown = set(topics)
    flagged = any(c.red_flag for c in evaluation.conclusions)
    for c in evaluation.conclusions:
        if flagged and c.self_care and not c.red_flag:
            continue
        assert c.id in shown, f"conclusion {c.id!r} has no card"


#: Rendered HTML tags a card detail may produce (Markdown's own structure).
_SAFE_TAGS = frozenset(
    {"p", "em", "strong", "ul", "ol", "li", "br", "code", "hr", "blockquote", "a", "del", "s"}
)
_TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>")
_HREF = re.compile(r'href="([^"]*)"')


def _allowed_urls(kb: Any) -> set[str]:
    urls = {g.url for g in kb.guidelines.values()}
    urls |= {s.url for s in kb.sources.values() if getattr(s, "url", None)}
    return urls


def _render(markdown: str) -> str | None:
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # pragma: no cover - markdown-it-py is a dev extra
        return None
    md = MarkdownIt("gfm-like", {"html": True, "linkify": True})
    # markdown-it-py types render() as returning Any; it returns the HTML text.
    html: str
    try:
        html = md.render(markdown)
    except Exception:  # linkify-it missing: render without autolinks
        html = MarkdownIt("commonmark", {"html": True}).render(markdown)
    return html


def check_markdown_safe(evaluation: Evaluation, knowledge: Any | None = None) -> None:
    """Card details carry no raw HTML and no links other than the knowledge base's own
    source and guideline URLs, rendered as GitHub-flavoured Markdown (with autolinks).

    Without markdown-it-py installed, a textual check is made instead (no ``<`` tag, no
    inline link or image syntax).
    """
    kb = _knowledge(knowledge)
    allowed = _allowed_urls(kb)
    for i, card in enumerate(evaluation.cards):
        texts = [("detail", card.get("detail", ""))]
        texts += [
            (f"suggestions[{j}].label", s.get("label", ""))
            for j, s in enumerate(card.get("suggestions", []))
        ]
        texts.append(("summary", card.get("summary", "")))
        for name, text in texts:
            where = f"card[{i}].{name}"
            html = _render(text) if name == "detail" else None
            if html is None:
                assert not re.search(r"<\s*[a-zA-Z/!?]", text), f"{where}: raw HTML in {text!r}"
                if name == "detail":
                    for m in re.finditer(r"!?\[[^\]]*\]\(([^)]*)\)", text):
                        assert m.group(1) in allowed, f"{where}: link to {m.group(1)!r}"
                continue
            for m in _TAG.finditer(html):
                tag = m.group(2).lower()
                assert tag in _SAFE_TAGS, f"{where}: renders a <{tag}> element: {m.group(0)!r}"
                if tag == "a" and not m.group(1):
                    href = _HREF.search(m.group(3))
                    url = href.group(1).replace("&amp;", "&") if href else ""
                    assert url in allowed, f"{where}: renders a link to {url!r}"


def check_output_bundle_valid(evaluation: Evaluation) -> None:
    """The output Bundle and every resource in it validate with the R4B models, and every
    Patient reference in it is the evaluated patient."""
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    bundle = evaluation.bundle
    try:
        Bundle.model_validate(bundle)
        for e in bundle.get("entry", []):
            res = e["resource"]
            get_fhir_model_class(res["resourceType"]).model_validate(res)
    except ValidationError as exc:
        raise AssertionError(f"output bundle is not valid FHIR R4: {exc}") from exc
    for path, v in _walk(bundle):
        if path.endswith(".reference") and isinstance(v, str) and v.startswith("Patient/"):
            assert v == evaluation.patient, (
                f"output bundle{path} points at {v!r}, not at {evaluation.patient!r}"
            )


def check_single_patient(evaluation: Evaluation, data: Any = None) -> None:
    """Outputs speak of one patient: the input's Patient (no other patient's data)."""
    refs = _input_refs(data) if data is not None else None
    if refs is not None:
        patients = {r for r in refs if r.startswith(("Patient/", "urn:"))}
        if evaluation.patient is not None:
            assert evaluation.patient in patients, (
                f"evaluation is about {evaluation.patient!r}, input holds {sorted(patients)}"
            )
    text = json.dumps(evaluation.cards, default=str)
    for m in re.finditer(r"Patient/[A-Za-z0-9\-.]{1,64}", text):
        assert m.group(0) == evaluation.patient, (
            f"a card names {m.group(0)!r}, not the evaluated {evaluation.patient!r}"
        )


def check_json_contract(evaluation: Evaluation) -> None:
    """``to_json()`` is plain JSON that round-trips, with the documented top-level keys."""
    out = evaluation.to_json()
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out, "to_json() does not round-trip through JSON"
    for key in ("urgency", "imaging", "knowledge", "conclusions", "cards", "bundle"):
        assert key in out, f"to_json() lacks {key!r}"


#: The single-evaluation checks :func:`check_all_invariants` runs, in order.
SINGLE_CHECKS: tuple[Callable[..., None], ...] = (
    check_json_contract,
    check_headline,
    check_red_flag_sound,
    check_evidence_resolves,
    check_provenance_resolves,
    check_cards_conform,
    check_markdown_safe,
    check_output_bundle_valid,
    check_single_patient,
)
_NEEDS_DATA = {check_evidence_resolves, check_single_patient}
_NEEDS_KB = {check_provenance_resolves, check_cards_conform, check_markdown_safe}


def check_all_invariants(
    evaluation: Evaluation,
    *,
    data: Any = None,
    evaluate: Evaluate | None = None,
    knowledge: Any | None = None,
) -> None:
    """Run every single-evaluation check; with ``data`` also the checks against the input,
    and with ``data`` and ``evaluate`` also determinism (:func:`check_same_output`)."""
    kb = _knowledge(knowledge)
    for check in SINGLE_CHECKS:
        if check in _NEEDS_DATA:
            check(evaluation, data)
        elif check in _NEEDS_KB:
            check(evaluation, kb)
        else:
            check(evaluation)
    if data is not None and evaluate is not None:
        check_same_output(data, evaluate, first=evaluation)


# --------------------------------------------------------------------------- relational


def check_same_output(data: Any, evaluate: Evaluate, *, first: Evaluation | None = None) -> None:
    """Same input, same output (the whole JSON contract), and the input is not modified."""
    before = copy.deepcopy(data)
    a = first if first is not None else evaluate(data)
    b = evaluate(copy.deepcopy(data))
    assert a.to_json() == b.to_json(), f"two evaluations differ: {_diff(outcome(a), outcome(b))}"
    assert data == before, "evaluate() modified its input"


def check_same_triage(
    data: Any, other: Any, evaluate: Evaluate, *, why: str = "", first: Evaluation | None = None
) -> None:
    """``other`` (the same facts in another shape, e.g. drawn by
    :func:`cds_backpain.testing.shapes.reshaped`) gets the same triage as ``data``: headline,
    each recommendation (category, urgency, imaging, red flag), every rule fired and the
    order ratings (:func:`cds_backpain.testing.timeshift.triage`)."""
    a = triage(first if first is not None else evaluate(data))
    b = triage(evaluate(other))
    assert a == b, f"the shape change {why or '(unnamed)'} changed the triage: {_diff(a, b)}"


def _shuffled(data: Json, order: str) -> Json:
    out = copy.deepcopy(data)
    entries = out.get("entry", [])
    if order == "reversed":
        entries.reverse()
    elif order == "rotated" and entries:
        entries.append(entries.pop(0))
    elif order == "patient-last" and entries:
        entries.sort(key=lambda e: e.get("resource", {}).get("resourceType") == "Patient")
    for e in entries:
        res = e.get("resource", {})
        for key in ("code", "medicationCodeableConcept"):
            cc = res.get(key)
            if isinstance(cc, dict) and isinstance(cc.get("coding"), list):
                cc["coding"].reverse()
    return out


def check_order_independent(
    data: Json, evaluate: Evaluate, *, orders: Iterable[str] = ("reversed", "rotated")
) -> None:
    """Reordering the Bundle's entries (and the codings inside each code) changes nothing a
    clinician sees: conclusions, rules fired, ratings, cards and output bundle."""
    base = outcome(evaluate(data))
    for order in orders:
        other = outcome(evaluate(_shuffled(data, order)))
        assert base == other, f"entry order {order!r} changed the result: {_diff(base, other)}"


def check_urgency_monotone(data: Json, added: Json, evaluate: Evaluate) -> None:
    """Adding a (red-flag) finding never lowers the headline urgency."""
    from .builders import with_resource

    before = evaluate(data)
    after = evaluate(with_resource(data, added))
    assert _rank(after.urgency) >= _rank(before.urgency), (
        f"adding {reference(added)} lowered urgency {before.urgency!r} -> {after.urgency!r} "
        f"(rules before {sorted(fired_rules(before))}, after {sorted(fired_rules(after))})"
    )


def _tests_negation(kb: Any, rule_id: str) -> bool:
    rule = kb.compiled.by_id.get(rule_id)
    if rule is None:
        return False
    return any(
        t.attribute == "present" and t.holds({"present": False})
        for b in rule.branches
        for p in b
        for t in p.tests
    )


def check_negation_sound(
    data: Json,
    ref: str,
    evaluate: Evaluate,
    *,
    knowledge: Any | None = None,
    forms: Iterable[str] | None = None,
) -> None:
    """A negated, refuted or voided twin of resource ``ref`` fires nothing its positive
    form fires beyond what the bundle without it fires.

    Refuted, entered-in-error and cancelled twins must give exactly the result of leaving
    the resource out. Absent / ``false`` twins may additionally fire only rules that test
    ``present: false`` (rules about documented absence).
    """
    from .builders import without_resource

    kb = _knowledge(knowledge)
    removed = evaluate(without_resource(data, ref))
    base = fired_rules(removed)
    twins = negation_twins(data, ref)
    for form, twin_data in twins.items():
        if forms is not None and form not in forms:
            continue
        twin = evaluate(twin_data)
        got = fired_rules(twin)
        if form in VOID_FORMS:
            assert got == base, (
                f"{ref} as {form!r} is not ignored: fires {sorted(got - base)}, "
                f"stops {sorted(base - got)}"
            )
            assert _rank(twin.urgency) == _rank(removed.urgency), (
                f"{ref} as {form!r} changes urgency {removed.urgency!r} -> {twin.urgency!r}"
            )
        else:
            extra = [r for r in got - base if not _tests_negation(kb, r)]
            assert not extra, f"{ref} negated as {form!r} fires {sorted(extra)}"


def check_rule_fires(case: Any, evaluation: Evaluation, knowledge: Any | None = None) -> None:
    """For a :class:`~cds_backpain.testing.RuleCase`: its rule fired and its recommendation
    is among the conclusions (self-care advice and info-level messages that are not safety
    warnings are held back beside a red flag: the red-flag policy)."""
    kb = _knowledge(knowledge)
    rec = kb.rules[case.rule].recommend
    assert case.rule in fired_rules(evaluation), (
        f"rule {case.rule} did not fire (fired: {sorted(fired_rules(evaluation))})"
    )
    if rec is None:
        return
    info = rec.urgency == "self_care" and rec.rating is None and not rec.safety_warning
    if evaluation.red_flags and not rec.red_flag and (rec.self_care or info):
        return
    heads = {c.rules[0] for c in evaluation.conclusions}
    assert case.rule in heads, f"rule {case.rule} fired but gave no conclusion ({sorted(heads)})"


def check_red_flag_fires(case: Any, evaluation: Evaluation, knowledge: Any | None = None) -> None:
    """For a :class:`~cds_backpain.testing.RuleCase` of a red-flag rule: the rule fired and
    a red-flag conclusion at least as urgent as the rule's is shown on a card."""
    kb = _knowledge(knowledge)
    rule = kb.rules[case.rule]
    assert case.rule in fired_rules(evaluation), (
        f"red-flag rule {case.rule} did not fire (fired: {sorted(fired_rules(evaluation))})"
    )
    want = _rank(rule.recommend.urgency)
    flags = [c for c in evaluation.red_flags if _rank(c.urgency) >= want]
    assert flags, (
        f"rule {case.rule} fired but no red-flag conclusion of urgency >= "
        f"{rule.recommend.urgency!r} (got {[(c.id, c.urgency) for c in evaluation.conclusions]})"
    )
    topics = {c.get("source", {}).get("topic", {}).get("code") for c in evaluation.cards}
    assert any(c.id in topics for c in flags), f"no card for the red flag of {case.rule}"


def check_engines_agree(
    data: Any, evaluate: Callable[..., Evaluation], engines: Iterable[str] = ("reference",)
) -> None:
    """The default engine and each of ``engines`` derive the same rules, support and output.

    ``evaluate`` must accept an ``engine=`` keyword (as :func:`cds_backpain.evaluate` does).
    """
    base = evaluate(data)
    for name in engines:
        other = evaluate(data, engine=name)
        a, b = outcome(base), outcome(other)
        assert a == b, f"engine {base.engine!r} and {name!r} disagree: {_diff(a, b)}"
