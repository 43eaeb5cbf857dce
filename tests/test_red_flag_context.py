"""Red flags never depend on how tidily the back pain was coded, and the red-flag policy
withdraws every pathway a red flag contradicts (properties of knowledge/, not of examples)."""

from __future__ import annotations

import pytest

import cds_backpain
from cds_backpain.examples import load_examples

KB = cds_backpain.load_knowledge()


def _chain_patterns(rule_id: str, seen: set[str] | None = None):
    """Every pattern of a rule and of the rules its conclusion patterns rest on."""
    seen = seen if seen is not None else set()
    if rule_id in seen:
        return
    seen.add(rule_id)
    rule = KB.rules[rule_id]
    patterns = list(rule.when.all) + [p for b in rule.when.any for p in b.patterns]
    for p in patterns:
        yield p
        if p.kind == "conclusion":
            for other in KB.rules.values():
                if other.concept in p.concepts:
                    yield from _chain_patterns(other.id, seen)


RED_FLAGS = sorted(rid for rid, r in KB.rules.items() if r.recommend and r.recommend.red_flag)


@pytest.mark.parametrize("rule_id", RED_FLAGS)
def test_no_red_flag_reads_low_back_pain_without_the_other_back_pain_codes(rule_id):
    for p in _chain_patterns(rule_id):
        if p.kind == "finding" and "low_back_pain" in p.concepts:
            assert "back_pain_other" in p.concepts, (rule_id, p.concepts)


def test_every_red_flag_withdraws_the_benign_pathways():
    """imaging-serious-pathology (the concept the no-imaging and routine pathways yield to)
    lists every red-flag recommendation."""
    sp = KB.rules["imaging-serious-pathology"]
    listed = {c for b in sp.when.any for p in b.patterns for c in p.concepts}
    assert {KB.rules[r].concept for r in RED_FLAGS} == listed


@pytest.mark.parametrize(
    "backache",
    [
        {"system": "http://snomed.info/sct", "code": "161891005", "display": "Backache"},
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.9", "display": "Dorsalgia"},
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.6", "display": "Thoracic"},
    ],
)
def test_backache_codes_carry_the_cauda_equina_emergency(backache):
    ex = next(e for e in load_examples() if e.name == "75-backache-urinary-retention")
    import json

    bundle = json.loads(ex.path.read_text())
    for e in bundle["entry"]:
        if e["resource"].get("id") == "backache":
            e["resource"]["code"] = {"coding": [backache]}
    ev = cds_backpain.evaluate(bundle, now=ex.now)
    assert ev.urgency == "emergency"
    assert "ces-established" in {c.id for c in ev.conclusions}


def test_no_info_card_beside_an_emergency_except_safety_warnings():
    ex = next(e for e in load_examples() if e.name == "85-cauda-equina-on-nsaid")
    ev = cds_backpain.evaluate(ex.path.read_bytes(), now=ex.now)
    fired = {d.rule for d in ev.derivations}
    assert "med-nsaid-caution" in fired  # the rule fires ...
    shown = {c.id for c in ev.conclusions}
    assert "med-nsaid-caution" not in shown  # ... but the policy withholds it
    for c in ev.conclusions:
        rec = KB.rules[c.id].recommend
        assert c.red_flag or rec.rating or rec.safety_warning or c.urgency != "self_care"
