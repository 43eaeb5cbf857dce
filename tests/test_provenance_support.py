"""Provenance that supports, not only exists; card links a clinician can trust.

Every provenance item says what it is evidence for (``supports``), every recommendation's
urgency and imaging rest on an item of its own provenance, and the loader refuses a
knowledge base where they do not. Card links go to the allowlisted publisher, DOI, PubMed
or issuing-body pages, and notes meant for rule authors never reach a card.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_backpain import KnowledgeError, evaluate, load_knowledge
from cds_backpain.emit import build_cards
from cds_backpain.emit.canonical import SUPPORTS_EXTENSION
from cds_backpain.evaluation import Conclusion, GuidelineCitation
from cds_backpain.examples import load_examples
from cds_backpain.kb.links import internal_notes
from cds_backpain.kb.loader import knowledge_root
from cds_backpain.kb.models import SUPPORTS, Rule
from cds_backpain.kb.supports import required_supports, unsupported
from cds_backpain.resolve import _provenance

EXAMPLES = load_examples()
REFUSED = ("studylib.net", "scribd.com", "docslib.org", "doczz.net", "slideplayer.com")


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


@pytest.fixture(scope="module")
def evaluations():
    return [evaluate(e.path.read_bytes(), now=e.now) for e in EXAMPLES]


def rule_cards(kb) -> list[dict]:
    """A card for every recommendation rule, with the provenance its derivation would cite."""
    conclusions = []
    for rid, rule in kb.rules.items():
        rec = rule.recommend
        if rec is None:
            continue
        shown = rec.model_dump(include={"category", "urgency", "imaging", "summary", "advice"})
        conclusions.append(
            Conclusion(
                id=rid,
                rules=(rid,),
                evidence=(),
                provenance=_provenance(kb, [rid]),
                suggestions=[s.model_dump() for s in rec.suggestions],
                **shown,
            )
        )
    return build_cards(conclusions, knowledge=kb, patient_ref="Patient/p")


# -- every item declares what it supports ------------------------------------------------


def test_every_provenance_item_in_the_rule_files_declares_what_it_supports():
    for path in sorted((knowledge_root() / "rules").glob("*.yaml")):
        for rule in yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]:
            for item in rule["provenance"]:
                where = f"{path.name}: {rule['id']}: {item}"
                assert isinstance(item.get("supports"), list) and item["supports"], where
                assert set(item["supports"]) <= set(SUPPORTS), where


def test_every_recommendation_rests_on_its_own_provenance(kb):
    for rule in kb.rules.values():
        if rule.recommend is None:
            continue
        given = {s for ref in rule.provenance for s in ref.supports}
        assert set(required_supports(rule.recommend)) <= given, rule.id
        if rule.recommend.urgency != "self_care":
            assert "urgency" in given, rule.id
        if rule.recommend.imaging != "none":
            assert "imaging" in given, rule.id


def test_conclusions_json_and_fhir_say_what_each_source_is_evidence_for(evaluations):
    seen_span = seen_guideline = False
    for ev in evaluations:
        out = ev.to_json()
        for c in out["conclusions"]:
            for item in c["provenance"]:
                assert item["supports"] and set(item["supports"]) <= set(SUPPORTS), c["id"]
                seen_span |= "quote" in item
                seen_guideline |= "guideline" in item
        for entry in ev.bundle["entry"]:
            res = entry["resource"]
            cited = []
            if res["resourceType"] == "Provenance":
                cited = [e for e in res["entity"] if e["role"] in ("quotation", "derivation")]
            elif res["resourceType"] == "RequestGroup":
                cited = [d for a in res.get("action", []) for d in a.get("documentation", [])]
            for item in cited:
                codes = [
                    x["valueCode"] for x in item["extension"] if x["url"] == SUPPORTS_EXTENSION
                ]
                assert codes and set(codes) <= set(SUPPORTS), item
    assert seen_span and seen_guideline


def test_provenance_of_a_conclusion_keeps_the_recommendation_rules_own_supports(kb):
    ev = evaluate(
        next(e for e in EXAMPLES if e.name == "40-major-trauma-fall-from-height").path.read_bytes(),
        now="2026-06-01T12:00:00Z",
    )
    trauma = next(c for c in ev.conclusions if c.id == "fx-major-trauma")
    by_id = {p.guideline: p for p in trauma.provenance if isinstance(p, GuidelineCitation)}
    assert by_id["nice-ng41-spinal-injury"].supports == ("advice", "urgency", "imaging")
    assert by_id["downie-bmj-2013"].supports == ("background",)


# -- the mismatched passages named by the review stay removed ---------------------------


@pytest.mark.parametrize(
    ("rule_id", "passage"),
    [
        ("fx-major-trauma", "like the impact from running"),
        ("fx-contusion", "like the impact from running"),
        ("sf-adolescent-pars", "This can occur in young athletes"),
        ("stenosis-vascular-alternative", "Spinal stenosis develops when the spinal canal"),
        ("med-nsaid-caution", "Over-the-counter anti-inflammatory"),
        ("neuro-progressive", "This can exacerbate back pain"),
    ],
)
def test_a_passage_that_does_not_support_the_card_is_not_cited(kb, rule_id, passage):
    assert not any(passage in s.quote for s in kb.spans[rule_id])


@pytest.mark.parametrize(
    ("rule_id", "guideline"),
    [
        ("fx-minor-trauma-fragility", "acp-2011-t2-defer"),  # defers imaging; card: X-ray now
        ("fx-fragility-lbp", "acp-2011-t2-defer"),
        ("fx-older-age-lbp", "acp-2011-t2-defer"),
        ("mal-weight-loss", "acp-2011-t2-defer"),
        ("mal-weak-flag", "cw-nass-imaging"),  # age over 50 is its imaging flag; card: none
        ("neuro-motor-deficit", "cw-nass-imaging"),
        ("sf-sacral-runner", "acr-stress-fracture-2024"),  # radiographs first; card: MRI
    ],
)
def test_a_guideline_whose_imaging_advice_contradicts_the_card_is_not_cited(kb, rule_id, guideline):
    assert guideline not in [getattr(r, "guideline", None) for r in kb.rules[rule_id].provenance]


# -- the loader refuses unsupported claims (real loader, knowledge copied to a temp dir) --


@pytest.fixture
def kb_copy(tmp_path):
    dst = tmp_path / "knowledge"
    shutil.copytree(knowledge_root(), dst)
    return dst


def _edit_rule(root: Path, rule_id: str, edit) -> None:
    for path in sorted((root / "rules").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rule in data["rules"]:
            if rule["id"] == rule_id:
                edit(rule)
                path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
                return
    raise AssertionError(f"no rule {rule_id}")


def _drop(kind: str):
    def edit(rule):
        for item in rule["provenance"]:
            item["supports"] = [s for s in item["supports"] if s != kind] or ["background"]

    return edit


def _problems(root: Path) -> str:
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(root, reload=True)
    return "\n".join(info.value.problems)


def test_a_recommendation_whose_urgency_nothing_supports_does_not_load(kb_copy):
    _edit_rule(kb_copy, "ces-established", _drop("urgency"))
    problems = _problems(kb_copy)
    assert "rule ces-established" in problems
    assert "no provenance item supports its urgency 'emergency'" in problems


def test_a_recommendation_whose_imaging_nothing_supports_does_not_load(kb_copy):
    _edit_rule(kb_copy, "fx-major-trauma", _drop("imaging"))
    problems = _problems(kb_copy)
    assert "rule fx-major-trauma: no provenance item supports its imaging 'ct'" in problems


def test_self_care_advice_needs_urgency_support_but_an_info_message_does_not(kb_copy):
    _edit_rule(kb_copy, "mech-self-care", _drop("urgency"))
    _edit_rule(kb_copy, "med-nsaid-caution", _drop("urgency"))
    problems = _problems(kb_copy)
    assert "rule mech-self-care: no provenance item supports its urgency 'self_care'" in problems
    assert "med-nsaid-caution" not in problems


def test_an_order_rating_needs_imaging_support(kb_copy):
    _edit_rule(kb_copy, "imaging-order-not-indicated-early", _drop("imaging"))
    assert "supports its rating 'not-appropriate'" in _problems(kb_copy)


def test_a_provenance_item_without_supports_does_not_load(kb_copy):
    def edit(rule):
        del rule["provenance"][0]["supports"]

    _edit_rule(kb_copy, "ces-established", edit)
    assert "supports" in _problems(kb_copy)


def test_knowledge_verify_reports_the_unsupported_urgency(kb_copy):
    _edit_rule(kb_copy, "ces-established", _drop("urgency"))
    env = {**os.environ, "CDS_BACKPAIN_KNOWLEDGE": str(kb_copy)}
    done = subprocess.run(
        [sys.executable, "-m", "cds_backpain.cli", "knowledge", "verify"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    assert "no provenance item supports its urgency 'emergency'" in done.stdout


# -- links and internal notes ------------------------------------------------------------


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def test_every_card_link_goes_to_an_allowlisted_host(kb, evaluations):
    policy = kb.link_policy
    cards = [card for ev in evaluations for card in ev.cards] + rule_cards(kb)
    linked = 0
    for card in cards:
        urls = [link["url"] for link in card.get("links", [])]
        for link in card.get("links", []):
            assert link["type"] == "absolute" and link["label"], link
        if "url" in card["source"]:
            urls.append(card["source"]["url"])
            assert card["source"]["url"] in [link["url"] for link in card["links"]]
        for url in urls:
            assert urlsplit(url).scheme == "https", url
            assert policy.host_allowed(_host(url)), url
            assert not any(_host(url).endswith(h) for h in (*REFUSED, "guideline.gov")), url
            linked += 1
    assert linked > 0
    for g in kb.guidelines.values():
        assert policy.host_allowed(_host(g.url)), g.id


def test_a_guideline_linked_to_a_document_sharing_copy_does_not_load(kb_copy):
    path = kb_copy / "guidelines.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            "https://doi.org/10.7326/0003-4819-147-7-200710020-00006",
            "https://studylib.net/doc/10804806/",
            1,
        ),
        encoding="utf-8",
    )
    assert "host 'studylib.net' is not on the allowlist" in _problems(kb_copy)


def test_no_card_or_bundle_text_carries_a_note_for_rule_authors(kb, evaluations):
    policy = kb.link_policy
    assert {"clinical brief", "unverified", "as cited in"} <= {
        p.lower() for p in policy.internal_note_phrases
    }
    texts = [json.dumps(card, ensure_ascii=False) for card in rule_cards(kb)]
    for ev in evaluations:
        texts += [json.dumps(list(ev.cards), ensure_ascii=False)]
        texts += [json.dumps(ev.bundle, ensure_ascii=False)]
    for text in texts:
        assert internal_notes(text, policy) == [], internal_notes(text, policy)
    # the notes are kept, where no emitter reads them
    assert "recommendation numbers" in kb.guidelines["nice-ng59-pharmacological"].note


def test_a_note_for_rule_authors_in_card_text_does_not_load(kb_copy):
    path = kb_copy / "guidelines.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            "recommendation 1.1.3.", "recommendation 1.1.3 (as cited in the clinical brief).", 1
        ),
        encoding="utf-8",
    )
    problems = _problems(kb_copy)
    assert "nice-ng59-1.1.3: citation: internal note" in problems


# -- the support rule as a property --------------------------------------------------------

_RECS = st.fixed_dictionaries(
    {
        "urgency": st.sampled_from(["self_care", "routine", "urgent", "emergency"]),
        "imaging": st.sampled_from(["none", "xray", "mri", "urgent_mri", "ct"]),
        "self_care": st.booleans(),
        "rating": st.sampled_from([None, "appropriate", "not-appropriate", "no-criteria-apply"]),
    }
)
_ITEMS = st.lists(
    st.lists(st.sampled_from(SUPPORTS), min_size=1, max_size=4, unique=True), min_size=1, max_size=4
)


@settings(max_examples=200, deadline=None)
@given(_RECS, _ITEMS)
def test_a_recommendation_loads_exactly_when_its_urgency_and_imaging_are_supported(rec, items):
    rule = Rule.model_validate(
        {
            "id": "r",
            "title": "A rule",
            "description": "A rule for the property.",
            "when": {"all": [{"finding": "x"}]},
            "recommend": {"category": "imaging", "summary": "A summary long enough.", **rec},
            "provenance": [{"guideline": "g", "supports": s} for s in items],
        }
    )
    given_ = {s for item in items for s in item}
    problems = unsupported(rule)
    claims_urgency = rec["urgency"] != "self_care" or rec["self_care"]
    claims_imaging = rec["imaging"] != "none" or rec["rating"] is not None
    wanted = {p.rsplit("[", 1)[1].rstrip("]'") for p in problems}
    assert ("urgency" in wanted) == (claims_urgency and "urgency" not in given_)
    assert ("imaging" in wanted) == (claims_imaging and "imaging" not in given_)
    info_only = not claims_urgency and not claims_imaging
    assert ("advice" in wanted) == (info_only and "advice" not in given_)
    if set(SUPPORTS) <= given_:
        assert problems == []
