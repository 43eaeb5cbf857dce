"""``cds_backpain.resolve``: what happens after forward chaining, over a small knowledge base.

Each half of the red-flag policy (self-care advice and "not appropriate" ratings leave when
a red flag stands), ``unless``, evidence and derivation chains, rating precedence and the
headline (highest urgency, and the most intensive imaging at that urgency).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
from typing import Any

from emit_support import small_knowledge
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_backpain import evaluate, load_knowledge
from cds_backpain.evaluation import Conclusion, GuidelineCitation
from cds_backpain.examples import load_examples
from cds_backpain.facts import Fact
from cds_backpain.resolve import derivations, headline, resolve
from cds_backpain.testing import EXAMPLE_NOW, builders, examples, red_flag_bundles

PROVENANCE = [{"guideline": "acp-2017", "supports": ["advice"]}]
CITATION = GuidelineCitation(guideline="acp-2017", citation="Qaseem A et al.", url="https://x.org")


def _rule(rid: str, when: dict[str, Any], **recommend: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": rid,
        "title": rid,
        "description": f"test rule {rid}",
        "when": when,
        "provenance": PROVENANCE,
    }
    if recommend:
        rule["recommend"] = {"summary": f"summary of the rule {rid}", **recommend}
    else:
        rule["conclude"] = rid.replace("-", "_")
    return rule


RULES = [
    _rule(
        "red-flag",
        {"all": [{"finding": "saddle_anesthesia"}]},
        category="cauda_equina",
        urgency="emergency",
        imaging="urgent_mri",
        red_flag=True,
    ),
    _rule(
        "keep-running",
        {"all": [{"finding": "low_back_pain"}]},
        category="muscle_strain",
        urgency="self_care",
        self_care=True,
    ),
    _rule(
        "routine-review",
        {"all": [{"finding": "low_back_pain"}]},
        category="muscle_strain",
        urgency="routine",
    ),
    _rule(
        "order-not-indicated",
        {"all": [{"order": "imaging_mri_lumbar"}, {"finding": "low_back_pain"}]},
        category="imaging",
        urgency="self_care",
        rating="not-appropriate",
    ),
    _rule(
        "order-appropriate",
        {"all": [{"order": "imaging_mri_lumbar"}, {"conclusion": "weak_flag"}]},
        category="imaging",
        urgency="routine",
        imaging="mri",
        rating="appropriate",
    ),
    _rule("weak-flag", {"all": [{"finding": "night_pain"}]}),
    _rule(
        "unless-weak-flag",
        {"all": [{"finding": "low_back_pain"}]},
        category="muscle_strain",
        urgency="routine",
        unless=["weak_flag"],
    ),
]

FACTS = [
    Fact(
        kind="finding",
        concept="low_back_pain",
        source="Condition/lbp",
        present=True,
        status="active",
        days=3,
    ),
    Fact(kind="order", concept="imaging_mri_lumbar", source="ServiceRequest/mri", modality="mri"),
    Fact(
        kind="finding",
        concept="saddle_anesthesia",
        source="Observation/saddle",
        present=True,
        status="active",
    ),
    Fact(
        kind="finding",
        concept="night_pain",
        source="Observation/night",
        present=True,
        status="active",
    ),
]
LBP, MRI, SADDLE, NIGHT = (f"f{i}" for i in range(4))


def _kb():
    kb = small_knowledge([], statement="Test statement.", rules=RULES)
    return dataclasses.replace(kb, spans={r["id"]: () for r in RULES})


KB = _kb()
#: The headline ranks of knowledge/policy.yaml.
POLICY = load_knowledge().policy


def _resolve(**fired: frozenset[str]) -> tuple[dict[str, Conclusion], dict[str, str]]:
    firings = {rid.replace("_", "-"): keys for rid, keys in fired.items()}
    conclusions, ratings = resolve(KB, FACTS, firings)
    return {c.id: c for c in conclusions}, ratings


def test_without_a_red_flag_self_care_and_not_appropriate_ratings_stay():
    got, ratings = _resolve(
        keep_running=frozenset({LBP}),
        routine_review=frozenset({LBP}),
        order_not_indicated=frozenset({MRI, LBP}),
    )
    assert set(got) == {"keep-running", "routine-review", "order-not-indicated"}
    assert ratings == {"ServiceRequest/mri": "not-appropriate"}


def test_a_red_flag_removes_self_care_advice_and_keeps_other_advice():
    got, _ = _resolve(
        red_flag=frozenset({SADDLE}),
        keep_running=frozenset({LBP}),
        routine_review=frozenset({LBP}),
    )
    assert set(got) == {"red-flag", "routine-review"}


def test_a_red_flag_removes_not_appropriate_ratings_of_draft_orders():
    got, ratings = _resolve(red_flag=frozenset({SADDLE}), order_not_indicated=frozenset({MRI, LBP}))
    assert set(got) == {"red-flag"}
    assert ratings == {}


def test_unless_drops_a_recommendation_when_the_named_concept_was_concluded():
    fired = {"unless_weak_flag": frozenset({LBP})}
    assert set(_resolve(**fired)[0]) == {"unless-weak-flag"}
    assert set(_resolve(**fired, weak_flag=frozenset({NIGHT}))[0]) == set()


def test_evidence_follows_the_conclusions_a_recommendation_used():
    got, ratings = _resolve(
        weak_flag=frozenset({NIGHT}), order_appropriate=frozenset({MRI, "c:weak_flag"})
    )
    c = got["order-appropriate"]
    assert c.rules == ("order-appropriate", "weak-flag")
    assert c.evidence == ("Observation/night", "ServiceRequest/mri")
    assert c.orders == ("ServiceRequest/mri",)
    assert ratings == {"ServiceRequest/mri": "appropriate"}


def test_rating_precedence_picks_one_rating_per_order_and_drops_the_loser():
    got, ratings = _resolve(
        weak_flag=frozenset({NIGHT}),
        order_appropriate=frozenset({MRI, "c:weak_flag"}),
        order_not_indicated=frozenset({MRI, LBP}),
    )
    assert ratings == {"ServiceRequest/mri": "appropriate"}
    assert "order-not-indicated" not in got


def test_conclusions_come_most_urgent_first():
    conclusions, _ = resolve(
        KB,
        FACTS,
        {"red-flag": frozenset({SADDLE}), "routine-review": frozenset({LBP})},
    )
    assert [c.id for c in conclusions] == ["red-flag", "routine-review"]


def test_derivations_name_input_resources_and_used_conclusions_in_knowledge_order():
    derived = derivations(
        KB,
        FACTS,
        {"order-appropriate": frozenset({MRI, "c:weak_flag"}), "weak-flag": frozenset({NIGHT})},
    )
    assert [(d.rule, d.support) for d in derived] == [
        ("order-appropriate", ("ServiceRequest/mri", "conclusion:weak_flag")),
        ("weak-flag", ("Observation/night",)),
    ]


# -- headline --------------------------------------------------------------------------------


def _conclusion(cid: str, urgency: str, imaging: str) -> Conclusion:
    return Conclusion(
        id=cid,
        category="fracture",
        urgency=urgency,  # type: ignore[arg-type]
        imaging=imaging,  # type: ignore[arg-type]
        summary="a test conclusion",
        rules=(cid,),
        evidence=(),
        provenance=(CITATION,),
    )


def test_headline_imaging_is_the_most_intensive_of_the_most_urgent_conclusions():
    at_top = [
        _conclusion("a", "emergency", "ct"),
        _conclusion("b", "emergency", "urgent_mri"),
        _conclusion("c", "emergency", "none"),
    ]
    lower = _conclusion("d", "urgent", "xray")
    for order in itertools.permutations([*at_top, lower]):
        assert headline(order, POLICY) == ("emergency", "urgent_mri")
    assert headline(
        [_conclusion("e", "routine", "xray"), _conclusion("f", "routine", "mri")], POLICY
    ) == (
        "routine",
        "mri",
    )


def test_headline_imaging_ignores_less_urgent_conclusions():
    assert headline(
        [_conclusion("a", "urgent", "none"), _conclusion("b", "routine", "mri")], POLICY
    ) == (
        "urgent",
        "none",
    )
    assert headline([], POLICY) == (None, "none")


# -- the policy over the real knowledge --------------------------------------------------------

LOW_BACK_PAIN = [{"system": "http://snomed.info/sct", "code": "279039007"}]
MRI_ORDER = [{"system": "http://www.ama-assn.org/go/cpt", "code": "72148"}]


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(red_flag_bundles(now=EXAMPLE_NOW), st.integers(min_value=1, max_value=200))
def test_not_appropriate_ratings_never_stay_beside_a_red_flag(bundle, days):
    with_order = builders.with_resource(
        builders.with_resource(
            bundle,
            builders.condition(
                "lbp-extra", LOW_BACK_PAIN, onset=EXAMPLE_NOW - dt.timedelta(days=days)
            ),
        ),
        builders.service_request("mri-draft", MRI_ORDER),
    )
    ev = evaluate(with_order, EXAMPLE_NOW)
    assert ev.red_flags
    assert "not-appropriate" not in ev.ratings.values()
    assert not [c.id for c in ev.conclusions if c.rating == "not-appropriate"]
    assert not [c.id for c in ev.conclusions if c.self_care]


# -- chains, support labels and order in detail ------------------------------------------------

CHAIN_RULES = [
    _rule(
        "advice",
        {"all": [{"conclusion": "p"}, {"conclusion": "q"}]},
        category="muscle_strain",
        urgency="routine",
    ),
    {**_rule("rule-p", {"all": [{"conclusion": "q"}, {"conclusion": "r"}]}), "conclude": "p"},
    {**_rule("rule-q", {"all": [{"finding": "night_pain"}]}), "conclude": "q"},
    {**_rule("rule-r", {"all": [{"finding": "low_back_pain"}]}), "conclude": "r"},
]


def test_a_chain_lists_every_rule_once_even_when_reached_twice_before_the_last():
    kb = small_knowledge([], statement="Test statement.", rules=CHAIN_RULES)
    kb = dataclasses.replace(kb, spans={r["id"]: () for r in CHAIN_RULES})
    firings = {
        "advice": frozenset({"c:p", "c:q"}),
        "rule-p": frozenset({"c:q", "c:r"}),
        "rule-q": frozenset({NIGHT}),
        "rule-r": frozenset({LBP}),
    }
    (c,), _ = resolve(kb, FACTS, firings)
    assert c.rules == ("advice", "rule-p", "rule-q", "rule-r")
    assert c.evidence == ("Condition/lbp", "Observation/night")


def test_a_fact_with_no_input_resource_is_named_by_its_concept():
    facts = [*FACTS] + [
        Fact(kind="finding", concept=f"filler_{i}", present=True, status="active") for i in range(7)
    ]
    facts.append(Fact(kind="measure", concept="weight_loss_pct", value=7.0))  # key f11
    (d,) = derivations(KB, facts, {"weak-flag": frozenset({"f11", NIGHT})})
    assert d.support == ("Observation/night", "fact:weight_loss_pct")


def test_at_equal_urgency_red_flags_come_first():
    rules = [
        _rule(
            "a-emergency-advice",
            {"all": [{"finding": "low_back_pain"}]},
            category="fracture",
            urgency="emergency",
        ),
        RULES[0],
    ]
    kb = dataclasses.replace(
        small_knowledge([], statement="Test statement.", rules=rules),
        spans={r["id"]: () for r in rules},
    )
    conclusions, _ = resolve(
        kb, FACTS, {"a-emergency-advice": frozenset({LBP}), "red-flag": frozenset({SADDLE})}
    )
    assert [c.id for c in conclusions] == ["red-flag", "a-emergency-advice"]


def test_a_rating_applies_only_to_the_orders_its_own_rule_matched():
    rules = [
        {**_rule("a-any-order", {"all": [{"order": "imaging_ct_lumbar"}]}), "conclude": "ordered"},
        _rule(
            "order-appropriate",
            {"all": [{"order": "imaging_mri_lumbar"}, {"conclusion": "ordered"}]},
            category="imaging",
            urgency="routine",
            imaging="mri",
            rating="appropriate",
        ),
    ]
    kb = dataclasses.replace(
        small_knowledge([], statement="Test statement.", rules=rules),
        spans={r["id"]: () for r in rules},
    )
    ct = Fact(kind="order", concept="imaging_ct_lumbar", source="ServiceRequest/ct", modality="ct")
    facts = [*FACTS, ct]
    firings = {"a-any-order": frozenset({"f4"}), "order-appropriate": frozenset({MRI, "c:ordered"})}
    (c,), ratings = resolve(kb, facts, firings)
    assert c.orders == ("ServiceRequest/mri",)
    assert c.evidence == ("ServiceRequest/ct", "ServiceRequest/mri")
    assert ratings == {"ServiceRequest/mri": "appropriate"}


# -- the red-flag policy, half by half -------------------------------------------------------

POLICY_RULES = [
    *RULES,
    _rule(
        "info-reassurance",
        {"all": [{"finding": "low_back_pain"}]},
        category="muscle_strain",
        urgency="self_care",
    ),
    _rule(
        "info-safety-warning",
        {"all": [{"finding": "low_back_pain"}]},
        category="muscle_strain",
        urgency="self_care",
        safety_warning=True,
    ),
]
POLICY_KB = dataclasses.replace(
    small_knowledge([], statement="Test statement.", rules=POLICY_RULES),
    spans={r["id"]: () for r in POLICY_RULES},
)
#: Rule id -> whether a red flag withdraws it.
WITHDRAWN_BESIDE_RED_FLAG = {
    "red-flag": False,
    "keep-running": True,  # self-care advice
    "info-reassurance": True,  # info level, not a safety warning
    "info-safety-warning": False,  # info level, warns of a harm
    "routine-review": False,
    "order-not-indicated": True,  # a "not-appropriate" rating
    "order-appropriate": False,  # an "appropriate" rating
}
POLICY_FIRINGS = {
    "red-flag": frozenset({SADDLE}),
    "keep-running": frozenset({LBP}),
    "info-reassurance": frozenset({LBP}),
    "info-safety-warning": frozenset({LBP}),
    "routine-review": frozenset({LBP}),
    "order-not-indicated": frozenset({MRI, LBP}),
    "order-appropriate": frozenset({MRI, "c:weak_flag"}),
    "weak-flag": frozenset({NIGHT}),
}


def test_the_red_flag_policy_withdraws_exactly_its_two_halves():
    policy = POLICY_KB.policy
    for rid, withdrawn in WITHDRAWN_BESIDE_RED_FLAG.items():
        rec = POLICY_KB.rules[rid].recommend
        assert policy.withdrawn_beside_red_flag(rec) is withdrawn, rid


def test_beside_a_red_flag_resolve_keeps_what_the_policy_keeps():
    conclusions, ratings = resolve(POLICY_KB, FACTS, POLICY_FIRINGS)
    kept = {rid for rid, withdrawn in WITHDRAWN_BESIDE_RED_FLAG.items() if not withdrawn}
    assert {c.id for c in conclusions} == kept
    assert ratings == {"ServiceRequest/mri": "appropriate"}


def test_without_a_red_flag_the_policy_withdraws_nothing():
    firings = {rid: keys for rid, keys in POLICY_FIRINGS.items() if rid != "red-flag"}
    conclusions, _ = resolve(POLICY_KB, FACTS, firings)
    ids = {c.id for c in conclusions}
    # Only the rating precedence decides between the two ratings of the one order.
    assert ids == set(WITHDRAWN_BESIDE_RED_FLAG) - {"red-flag", "order-not-indicated"}
    assert {"keep-running", "info-reassurance"} <= ids


def test_the_emitters_apply_the_same_policy_and_log_what_they_remove(caplog):
    from cds_backpain.emit.ordering import ordered_conclusions

    firings = {rid: keys for rid, keys in POLICY_FIRINGS.items() if rid != "red-flag"}
    calm, _ = resolve(POLICY_KB, FACTS, firings)
    flag, _ = resolve(POLICY_KB, FACTS, {"red-flag": POLICY_FIRINGS["red-flag"]})
    rated, _ = resolve(
        POLICY_KB, FACTS, {"order-not-indicated": POLICY_FIRINGS["order-not-indicated"]}
    )
    assert [c.rating for c in rated] == ["not-appropriate"]
    # Hand the emitters what resolve never gives them: what the policy withdraws, beside a flag.
    with caplog.at_level("WARNING", logger="cds_backpain.emit"):
        shown = ordered_conclusions([*calm, *flag, *rated], POLICY_KB)
    assert {c.id for c in shown} == {
        "red-flag",
        "routine-review",
        "info-safety-warning",
        "order-appropriate",
    }
    for withdrawn in ("keep-running", "info-reassurance", "order-not-indicated"):
        assert withdrawn in caplog.text


def test_a_rating_names_the_red_flags_that_stand_not_the_ones_a_more_specific_card_replaced():
    """Cauda equina with back pain, bilateral sciatica and retention, and a draft MRI: the
    MRI is appropriate because of the cauda equina card that stands. Its reasons never name
    the variants that card replaced (one of them says no back or leg symptoms are recorded)."""
    example = next(e for e in load_examples() if e.name.startswith("09-"))
    data = json.loads(example.path.read_text(encoding="utf-8"))
    pid = next(
        e["resource"]["id"] for e in data["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    order = builders.service_request(
        "mri",
        [{"system": "http://www.ama-assn.org/go/cpt", "code": "72148"}],
        subject=f"Patient/{pid}",
    )
    data["entry"].append(
        {"fullUrl": "urn:uuid:6f1f7c4e-0000-4000-8000-000000000001", "resource": order}
    )
    ev = evaluate(data, now=example.now)
    shown = {c.id: c for c in ev.conclusions}
    assert "ces-established" in shown and "ces-sphincter-no-pain" not in shown
    rating = next(c for c in ev.conclusions if c.rating == "appropriate")
    assert "ces-established" in rating.rules
    assert "ces-sphincter-no-pain" not in rating.rules
    assert "ces-bilateral-radicular" not in rating.rules
    card = next(c for c in ev.cards if "appropriateness criteria" in c["summary"])
    assert "no back or leg symptoms" not in card["detail"]


def _with_mri(data: dict[str, Any]) -> dict[str, Any]:
    pid = next(
        e["resource"]["id"] for e in data["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    order = builders.service_request(
        "mri",
        [{"system": "http://www.ama-assn.org/go/cpt", "code": "72148"}],
        subject=f"Patient/{pid}",
    )
    data["entry"].append(
        {"fullUrl": "urn:uuid:6f1f7c4e-0000-4000-8000-000000000002", "resource": order}
    )
    return data


def _rating_guidelines(ev) -> set[str]:
    rating = next(c for c in ev.conclusions if c.rating == "appropriate")
    return {p.guideline for p in rating.provenance if isinstance(p, GuidelineCitation)}


def test_an_adults_rating_card_cites_no_paediatric_variant():
    example = next(e for e in load_examples() if e.name.startswith("09-"))
    data = _with_mri(json.loads(example.path.read_text(encoding="utf-8")))
    cited = _rating_guidelines(evaluate(data, now=example.now))
    assert "acr-lbp-v4" in cited  # the adult cauda equina variant
    assert not cited & {"acr-child-v1", "acr-child-v2", "accesspeds-pars"}


def test_a_febrile_childs_rating_card_cites_the_paediatric_variant():
    now = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    child = builders.patient("kid", gender="female", birth_date=dt.date(2018, 3, 1))
    pain = builders.condition(
        "lbp",
        [{"system": "http://snomed.info/sct", "code": "279039007"}],
        subject="Patient/kid",
        onset=now - dt.timedelta(days=3),
    )
    fever = builders.observation(
        "t1",
        [{"system": "http://loinc.org", "code": "8310-5"}],
        subject="Patient/kid",
        effective=now - dt.timedelta(hours=2),
        value=(39.2, "Cel"),
        category="vital-signs",
    )
    data = _with_mri(builders.bundle([child, pain, fever]))
    ev = evaluate(data, now=now.isoformat())
    assert any(c.id == "inf-fever-child" for c in ev.conclusions)
    assert "acr-child-v2" in _rating_guidelines(ev)
