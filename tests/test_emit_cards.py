"""CDS Hooks cards: the CDS Hooks card requirements, order, determinism, escaping."""

from __future__ import annotations

import html
import json
import re
import uuid
from typing import Any

import pytest
from emit_support import GUIDELINE_URL, small_knowledge, source_document
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from cds_backpain._errors import KnowledgeError
from cds_backpain.emit import build_cards, escape_markdown, render_card_markdown
from cds_backpain.emit.markdown import markdown_link, normalize_text
from cds_backpain.evaluation import (
    Conclusion,
    Derivation,
    GuidelineCitation,
    SourceSpan,
    SuggestionOut,
)
from cds_backpain.facts import Fact
from cds_backpain.kb.knowledge import Knowledge
from cds_backpain.kb.models import SourceQuote
from cds_backpain.kb.provenance import resolve_quote

PATIENT = "Patient/p1"

# CommonMark + the GFM extensions markdown-it has, with (fuzzy) linkify switched on:
# stricter than GitHub, so text that stays text here stays text there.
MD = MarkdownIt("commonmark", {"linkify": True}).enable(["linkify", "table", "strikethrough"])


# -- a small real knowledge base: real source documents, real spans ------------------


def make_knowledge(digest: str = "d" * 64) -> Knowledge:
    name = "000_3fdf5a4f530aa6ea.txt"
    doc = source_document(name, "Back Spasm During Running", publisher="Example publisher")
    return small_knowledge(
        [(name, doc)],
        statement="Most acute low back pain improves; imaging is rarely needed early.",
        digest=digest,
        rules=[
            {
                "id": "ces-sphincter",
                "title": "Bladder or bowel disturbance with back pain",
                "description": "Sphincter disturbance suggests cauda equina syndrome.",
                "when": {"all": [{"finding": ["urinary_retention", "fecal_incontinence"]}]},
                "provenance": [{"guideline": "acp-2017", "supports": ["advice"]}],
            },
            {
                "id": "strain-self-care",
                "title": "Uncomplicated muscle strain",
                "description": "Back spasm after running without red flags.",
                "when": {"all": [{"finding": "back_spasm"}]},
                "provenance": [{"guideline": "acp-2017", "supports": ["advice"]}],
            },
        ],
        templates={
            "urgent_mri": {
                "resourceType": "ServiceRequest",
                "id": "template-id-to-drop",
                "status": "draft",
                "intent": "proposal",
                "priority": "stat",
                "code": {"text": "MRI lumbar spine"},
            },
            "spine_referral": {
                "resourceType": "ServiceRequest",
                "status": "draft",
                "intent": "proposal",
                "code": {"text": "Referral to spinal surgery"},
            },
        },
        labels={
            "urinary_retention": "Urinary retention",
            "fecal_incontinence": "Faecal incontinence",
            "saddle_anesthesia": "Saddle anaesthesia",
            "back_spasm": "Back spasm",
        },
    )


def span(kb: Knowledge, quote: str) -> SourceSpan:
    name = next(iter(kb.sources))
    got = resolve_quote(
        SourceQuote(source=name, quote=quote, supports=("advice",)),
        kb.sources[name],
        kb.texts[name],
    )
    assert isinstance(got, SourceSpan), got
    return got


def citation(kb: Knowledge) -> GuidelineCitation:
    g = kb.guidelines["acp-2017"]
    return GuidelineCitation(
        guideline=g.id,
        citation=g.citation,
        url=g.url,
        statement=g.statement,
        supports=("urgency", "imaging"),
    )


def conclusions(kb: Knowledge) -> list[Conclusion]:
    spasm = span(kb, "Spasms are when the muscles in your lower back tighten up painfully.")
    long_quote = span(kb, kb.texts[next(iter(kb.sources))][0:400].split("\n\n", 1)[1])
    return [
        Conclusion(
            id="strain-self-care",
            category="muscle_strain",
            urgency="self_care",
            imaging="none",
            self_care=True,
            summary="Likely muscle strain: self-care and graded return to running.",
            advice=("Keep active.", "Return to running gradually."),
            rules=("strain-self-care",),
            evidence=("Condition/spasm",),
            provenance=(spasm,),
        ),
        Conclusion(
            id="imaging-not-needed",
            category="imaging",
            urgency="routine",
            imaging="none",
            summary="Early lumbar imaging is not indicated without red flags.",
            rules=("imaging-not-needed",),
            evidence=("ServiceRequest/draft-ct",),
            provenance=(citation(kb),),
        ),
        Conclusion(
            id="ces-sphincter",
            category="cauda_equina",
            urgency="emergency",
            imaging="urgent_mri",
            red_flag=True,
            summary="Possible cauda equina syndrome: same-day emergency assessment.",
            advice=("Arrange emergency assessment today.", "Do not delay for outpatient imaging."),
            rules=("ces-sphincter",),
            evidence=("Condition/c1", "Observation/o1", "Patient/p1"),
            provenance=(long_quote, citation(kb)),
            suggestions=(
                {
                    "label": "Order urgent MRI lumbar spine",
                    "template": "urgent_mri",
                    "recommended": True,
                },
                {
                    "label": "Refer to spinal surgery",
                    "template": "spine_referral",
                    "recommended": True,
                },
            ),
        ),
        Conclusion(
            id="fracture-steroids",
            category="fracture",
            urgency="urgent",
            imaging="xray",
            red_flag=True,
            summary="Possible vertebral fracture: long-term steroid use.",
            rules=("fracture-steroids",),
            evidence=("MedicationStatement/m1",),
            provenance=(citation(kb),),
        ),
        Conclusion(
            id="abscess-emergency",
            category="infection",
            urgency="emergency",
            imaging="mri",
            summary="Emergency without the red-flag mark (ordering check).",
            rules=("emergency-other",),
            evidence=("Observation/t1",),
            provenance=(citation(kb),),
        ),
    ]


FACTS = (
    Fact(kind="finding", concept="urinary_retention", source="Condition/c1", present=True),
    Fact(kind="finding", concept="saddle_anesthesia", source="Observation/o1", present=True),
    # Matched by no pattern of the conclusion's rule: must not be named in its Why.
    Fact(kind="finding", concept="back_spasm", source="Condition/c1", present=True),
)
DERIVATIONS = (
    Derivation(
        rule="ces-sphincter",
        concept="ces_sphincter",
        support=("Condition/c1", "absent:finding:saddle_anesthesia"),
    ),
)


@pytest.fixture(scope="module")
def kb() -> Knowledge:
    return make_knowledge()


@pytest.fixture(scope="module")
def cards(kb: Knowledge) -> list[dict[str, Any]]:
    return build_cards(
        conclusions(kb), knowledge=kb, patient_ref=PATIENT, derivations=DERIVATIONS, facts=FACTS
    )


def as_html(text: str) -> str:
    """``text`` escaped the way markdown-it escapes text content."""
    return html.escape(text, quote=False).replace('"', "&quot;")


def by_id(items: list[Conclusion]) -> dict[str, Conclusion]:
    return {c.id: c for c in items}


def by_code(cards: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["source"]["topic"]["code"]: c for c in cards}


# -- CDS Hooks card requirements -------------------------------------------------------


def empty_members(value: Any, path: str = "$") -> list[str]:
    """JSON paths of every null, empty string, empty array or empty object in ``value``."""
    bad = []
    if value is None or value == "" or value == [] or value == {}:
        return [path]
    if isinstance(value, dict):
        for k, v in value.items():
            bad += empty_members(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            bad += empty_members(v, f"{path}[{i}]")
    return bad


def is_uuid(s: str) -> bool:
    try:
        return str(uuid.UUID(s)) == s
    except ValueError:
        return False


def test_cards_meet_the_cds_hooks_card_checklist(cards):
    assert empty_members(cards) == []
    json.dumps(cards)  # plain JSON
    uuids = []
    for card in cards:
        assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140
        assert card["indicator"] in {"info", "warning", "critical"}
        assert card["source"]["label"] == "cds-backpain: low back pain rules"
        topic = card["source"]["topic"]
        assert topic["system"] == "https://cds-backpain.example.org/fhir/CodeSystem/rules"
        assert topic["code"] and topic["display"]
        cited = [p for p in by_id(conclusions(make_knowledge()))[topic["code"]].provenance]
        if any(isinstance(p, GuidelineCitation) for p in cited):
            # The guideline page travels as a real link, not only inside the Markdown.
            assert card["source"]["url"] == GUIDELINE_URL
            assert card["links"] == [
                {
                    "label": "Qaseem A et al. Ann Intern Med. 2017;166:514-530",
                    "url": GUIDELINE_URL,
                    "type": "absolute",
                }
            ]
        else:
            assert "url" not in card["source"] and "links" not in card
        assert is_uuid(card["uuid"])
        uuids.append(card["uuid"])
        if "suggestions" in card:
            assert card["selectionBehavior"] == "at-most-one"
            assert sum(s["isRecommended"] for s in card["suggestions"]) <= 1
            for s in card["suggestions"]:
                assert s["label"] and is_uuid(s["uuid"])
                uuids.append(s["uuid"])
                for action in s["actions"]:
                    assert action["type"] == "create" and action["description"]
                    res = action["resource"]
                    get_fhir_model_class(res["resourceType"]).model_validate(res)
                    assert res["subject"] == {"reference": PATIENT}
                    assert "id" not in res
        else:
            assert "selectionBehavior" not in card
        for reason in card.get("overrideReasons", []):
            assert reason["system"] and reason["code"] and reason["display"]
    assert len(uuids) == len(set(uuids))


def test_suggestions_keep_one_recommendation_and_the_template_untouched(cards, kb):
    ces = by_code(cards)["ces-sphincter"]
    assert [s["label"] for s in ces["suggestions"]] == [
        "Order urgent MRI lumbar spine",
        "Refer to spinal surgery",
    ]
    assert [s["isRecommended"] for s in ces["suggestions"]] == [True, False]
    mri = ces["suggestions"][0]["actions"][0]["resource"]
    assert mri["code"] == {"text": "MRI lumbar spine"} and mri["priority"] == "stat"
    # The order cites the clinical evidence (not the Patient) as its reason.
    assert mri["reasonReference"] == [
        {"reference": "Condition/c1"},
        {"reference": "Observation/o1"},
    ]
    assert kb.templates["urgent_mri"]["id"] == "template-id-to-drop"
    assert "subject" not in kb.templates["urgent_mri"]


def test_cards_are_ordered_most_urgent_first_red_flags_first(cards):
    assert [c["source"]["topic"]["code"] for c in cards] == [
        "ces-sphincter",  # emergency, red flag
        "abscess-emergency",  # emergency, no red flag: after the red flag despite its id
        "fracture-steroids",  # urgent, red flag
        "imaging-not-needed",  # routine
    ]


def test_no_self_care_card_beside_a_red_flag(cards, kb):
    assert "strain-self-care" not in by_code(cards)
    calm = [c for c in conclusions(kb) if not c.red_flag]
    codes = by_code(build_cards(calm, knowledge=kb, patient_ref=PATIENT))
    assert codes["strain-self-care"]["indicator"] == "info"
    assert "overrideReasons" not in codes["strain-self-care"]


def test_red_flag_cards_are_urgent_and_can_be_overridden_with_a_reason(cards):
    codes = by_code(cards)
    assert codes["ces-sphincter"]["indicator"] == "critical"
    assert codes["fracture-steroids"]["indicator"] == "critical"
    assert codes["imaging-not-needed"]["indicator"] == "warning"
    reasons = codes["ces-sphincter"]["overrideReasons"]
    assert {r["code"] for r in reasons} >= {"already-assessed", "not-applicable"}
    assert "overrideReasons" not in codes["imaging-not-needed"]


def test_a_red_flag_card_is_never_merely_informational(kb):
    lax = make_knowledge()
    object.__setattr__(
        lax,
        "policy",
        kb.policy.model_copy(
            update={
                "indicator": {
                    "emergency": "critical",
                    "urgent": "warning",
                    "routine": "info",
                    "self_care": "info",
                }
            }
        ),
    )
    fracture = next(c for c in conclusions(kb) if c.id == "fracture-steroids")
    routine = fracture.model_copy(update={"urgency": "routine"})
    other = next(c for c in conclusions(kb) if c.id == "imaging-not-needed")
    cards = by_code(build_cards([routine, other], knowledge=lax, patient_ref=PATIENT))
    assert cards["fracture-steroids"]["indicator"] == "warning"
    assert cards["imaging-not-needed"]["indicator"] == "info"


def test_identical_inputs_give_identical_cards_in_any_input_order(kb, cards):
    again = build_cards(
        list(reversed(conclusions(kb))),
        knowledge=kb,
        patient_ref=PATIENT,
        derivations=DERIVATIONS,
        facts=FACTS,
    )
    assert json.dumps(again, sort_keys=True) == json.dumps(cards, sort_keys=True)


def all_uuids(cards: list[dict[str, Any]]) -> set[str]:
    return {c["uuid"] for c in cards} | {s["uuid"] for c in cards for s in c.get("suggestions", [])}


def test_different_patients_or_knowledge_never_share_uuids(kb, cards):
    other = build_cards(conclusions(kb), knowledge=kb, patient_ref="Patient/p2")
    assert all_uuids(other).isdisjoint(all_uuids(cards))
    assert other[0]["suggestions"][0]["actions"][0]["resource"]["subject"] == {
        "reference": "Patient/p2"
    }
    newer = build_cards(conclusions(kb), knowledge=make_knowledge("e" * 64), patient_ref=PATIENT)
    assert all_uuids(newer).isdisjoint(all_uuids(cards))


# -- detail ----------------------------------------------------------------------------


def test_detail_says_decision_support_then_urgency_advice_why_and_sources(cards, kb):
    detail = by_code(cards)["ces-sphincter"]["detail"]
    assert detail.splitlines()[0] == kb.wording.disclaimer
    assert detail.splitlines()[0] == (
        "_Decision support to weigh with your clinical judgement; not a diagnosis._"
    )
    assert "not a diagnosis" in MD.render(detail.splitlines()[0])
    assert "**Urgency:** emergency, now · **Imaging:** urgent MRI" in detail
    assert "- Arrange emergency assessment today." in detail
    rendered = MD.render(detail)
    # Why: evidence named by knowledge labels of the rule's concepts, not by other facts.
    assert "Records: Urinary retention (Condition/c1); Observation/o1; Patient/p1" in rendered
    assert "Back spasm (" not in rendered and "Back spasm, " not in rendered
    assert "No current record of: Saddle anaesthesia" in rendered
    assert "Rules: Bladder or bowel disturbance with back pain" in rendered
    # Sources: the quote in a blockquote, truncated, with title and offsets.
    quote = next(p for p in conclusions(kb)[2].provenance if isinstance(p, SourceSpan))
    assert len(quote.quote) > 200
    m = re.search(
        r"<blockquote>\n<p>(.*?)</p>\n<p>— <em>(.*?)</em>, chars (\d+)–(\d+)"
        r" · <em>evidence for (.*?)</em></p>",
        rendered,
    )
    assert m, rendered
    shown = html.unescape(m.group(1))
    assert shown.endswith("…") and len(shown) <= 200
    assert normalize_text(quote.quote).startswith(shown[:-1])
    assert m.group(2) == "Back Spasm During Running"
    assert (int(m.group(3)), int(m.group(4))) == (quote.start, quote.end)
    assert m.group(5) == "advice"  # what the passage is evidence for, as the rule declares
    assert f'<a href="{GUIDELINE_URL}">Qaseem A et al. Ann Intern Med. 2017;166:514-530</a>' in (
        rendered
    )
    assert "<em>evidence for urgency, imaging</em>" in rendered


HOSTILE = (
    "Condition/<script>alert(1)</script>",
    "Observation/[x](javascript:alert(1))",
    "Observation/![img](http://evil.example/p.png)",
    "Observation/see http://evil.example and www.evil.example",
    "Observation/<img src=x onerror=alert(1)>",
)


def test_hostile_evidence_ids_render_as_inert_text(kb):
    c = conclusions(kb)[1].model_copy(update={"evidence": HOSTILE})
    hostile_kb = make_knowledge()
    hostile_kb.labels["urinary_retention"] = "<b>Retention</b> [x](http://evil.example)"
    fact = Fact(kind="finding", concept="urinary_retention", source=HOSTILE[0], present=True)
    [card] = build_cards([c], knowledge=hostile_kb, patient_ref=PATIENT, facts=[fact])
    detail = card["detail"]
    assert "<" not in detail and "](" not in detail.replace(f"]({GUIDELINE_URL})", "")
    rendered = MD.render(detail)
    assert "<script" not in rendered and "<img" not in rendered
    hrefs = re.findall(r'<a href="([^"]*)"', rendered)
    assert hrefs == [GUIDELINE_URL]
    for text in (*HOSTILE, "<b>Retention</b> [x](http://evil.example)"):
        assert as_html(text) in rendered


def test_linkify_is_really_on_in_the_test_renderer():
    # Guards the tests above: unescaped, these would become links or HTML.
    assert "<a href" in MD.render("see example.com and http://evil.example")
    assert "<script>" in MD.render("<script>alert(1)</script>")


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "[x](javascript:alert(1))",
        "[ref]: http://evil.example",
        "![i](http://x.example/y.png)",
        "<http://a.example>",
        "- item",
        "+ item",
        "12. item",
        "1) item",
        "# heading",
        "> quote",
        "| a | b |",
        "~~struck~~",
        "*em* _em_ **strong** __strong__",
        "`code`",
        "&lt;b&gt; &amp; &#60;",
        "trailing backslash \\",
        "a@b.example www.example.org example.com 1.5 mg.",
        "---",
        "multi\nline\n\n# not a heading",
        "\u202eright-to-left override\u200b",
    ],
)
def test_escape_markdown_renders_as_the_literal_text(text):
    assert MD.render(escape_markdown(text)) == f"<p>{as_html(normalize_text(text))}</p>\n"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_escape_markdown_is_inert_for_any_text(text):
    plain = normalize_text(text)
    expected = f"<p>{as_html(plain)}</p>\n" if plain else ""
    assert MD.render(escape_markdown(text)) == expected


def test_links_only_for_http_urls():
    assert markdown_link("Guide (2017)", "https://x.example/a b(c)") == (
        "[Guide \\(2017\\)](https://x.example/a%20b%28c%29)"
    )
    assert markdown_link("click", "javascript:alert(1)") == "click"
    assert markdown_link("click", "data:text/html,<b>") == "click"


# -- failure modes and the gallery -----------------------------------------------------


def test_a_summary_of_140_characters_is_refused(kb):
    c = conclusions(kb)[1].model_copy(update={"summary": "x" * 140})
    with pytest.raises(ValueError, match="140 characters"):
        build_cards([c], knowledge=kb, patient_ref=PATIENT)


def test_a_missing_or_invalid_template_is_a_knowledge_error(kb):
    from cds_backpain.settings import Settings, applied

    with applied(Settings(validate_output=True)):  # invalid templates are caught at load
        _missing_or_invalid_template_is_a_knowledge_error(kb)


def _missing_or_invalid_template_is_a_knowledge_error(kb):
    c = conclusions(kb)[2]
    broken = c.model_copy(
        update={"suggestions": (SuggestionOut(label="Order", template="no_such_template"),)}
    )
    with pytest.raises(KnowledgeError, match="no_such_template"):
        build_cards([broken], knowledge=kb, patient_ref=PATIENT)
    bad_kb = make_knowledge()
    bad_kb.templates["urgent_mri"] = {"resourceType": "ServiceRequest", "status": "bogus"}
    with pytest.raises(KnowledgeError, match="urgent_mri"):
        build_cards([c], knowledge=bad_kb, patient_ref=PATIENT)


def test_no_conclusions_no_cards(kb):
    assert build_cards([], knowledge=kb, patient_ref=PATIENT) == []


def test_render_card_markdown_shows_summary_indicator_suggestions_and_reasons(cards):
    text = render_card_markdown(by_code(cards)["ces-sphincter"])
    assert text.startswith("### Possible cauda equina syndrome: same-day emergency assessment.")
    assert "critical" in text
    assert "Suggestion: Order urgent MRI lumbar spine (recommended)" in text
    assert "Override reasons: Already assessed or being managed" in text
    assert "<" not in text
