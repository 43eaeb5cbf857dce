"""Rule invariants over the whole rule set, generated with the public QA kit.

Every property draws FHIR R4 input with :mod:`cds_backpain.testing` (codes from the value
sets, coherent patients built from the rules) and asserts with
:mod:`cds_backpain.testing.invariants`. The quick budget runs here; set
``CDS_BACKPAIN_FUZZ_EXAMPLES=2000`` for the long run (docs/qa.md).
"""

from __future__ import annotations

import functools
import json

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from cds_backpain import Evaluation, evaluate, load_knowledge
from cds_backpain.testing import (
    EXAMPLE_NOW,
    codings,
    conditions,
    examples,
    finding_observations,
    imaging_orders,
    measure_observations,
    mechanical_bundles,
    medication_courses,
    patient_bundles,
    patients,
    red_flag_bundles,
    red_flag_cases,
    red_flag_rules,
    rule_cases,
    unrelated_resources,
)
from cds_backpain.testing import invariants as inv
from cds_backpain.testing.builders import reference, with_resource
from cds_backpain.testing.strategies import code_book

KB = load_knowledge()
run = functools.partial(evaluate, now=EXAMPLE_NOW)
RED_FLAG_RULES = red_flag_rules(KB)
OTHER_RULES = [
    rid for rid, r in KB.rules.items() if r.recommend is not None and rid not in RED_FLAG_RULES
]
#: Shrink without hypothesis's (slow) explain phase.
QUICK_SHRINK = (Phase.generate, Phase.shrink)


def budget(n: int) -> settings:
    return settings(
        max_examples=examples(n),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def validate(bundle: dict) -> None:
    Bundle.model_validate(bundle)
    for e in bundle["entry"]:
        res = e["resource"]
        get_fhir_model_class(res["resourceType"]).model_validate(res)


any_patient = st.one_of(
    patient_bundles(),
    red_flag_bundles(max_noise=3),
    mechanical_bundles(),
)


# -- the generators ------------------------------------------------------------------


@budget(60)
@given(st.one_of(any_patient, rule_cases(max_noise=2).map(lambda c: c.bundle)))
def test_generated_bundles_are_valid_fhir_r4(bundle):
    validate(bundle)
    patients = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert len(patients) == 1
    ids = [reference(e["resource"]) for e in bundle["entry"]]
    assert len(set(ids)) == len(ids)


@budget(60)
@given(
    st.one_of(
        patients(partial_birth_dates=True),
        conditions(),
        finding_observations(),
        measure_observations(),
        medication_courses(),
        imaging_orders(statuses=st.sampled_from(["draft", "active", "revoked"])),
        unrelated_resources(),
    )
)
def test_single_resources_are_valid_fhir_r4(resource):
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


@pytest.mark.parametrize("concept", sorted(KB.valuesets.concepts))
def test_every_code_system_of_every_concept_is_generated(concept):
    systems = {s for c, s, _ in KB.valuesets.codes() if c == concept}
    systems |= {s for s, _ in code_book(KB).families.get(concept, ())}  # regex code families
    from hypothesis import find

    for system in sorted(systems):
        found = find(
            codings(concept),
            lambda cs, system=system: cs[0]["system"] == system,
            settings=settings(max_examples=500, database=None, phases=QUICK_SHRINK),
        )
        matches = KB.valuesets.lookup(found[0]["system"], found[0]["code"])
        assert concept in {m.concept for m in matches}


def test_strategies_shrink_to_small_readable_bundles():
    from hypothesis import find

    smallest = find(
        patient_bundles(),
        lambda b: any(e["resource"]["resourceType"] == "Condition" for e in b["entry"]),
        settings=settings(max_examples=500, database=None, phases=QUICK_SHRINK),
    )
    assert [e["resource"]["resourceType"] for e in smallest["entry"]] == ["Patient", "Condition"]
    assert len(json.dumps(smallest)) < 1200, json.dumps(smallest, indent=1)


# -- single evaluations --------------------------------------------------------------


@budget(50)
@given(any_patient)
def test_every_evaluation_satisfies_the_invariants(bundle):
    ev = run(bundle)
    inv.label_example(ev)
    inv.check_all_invariants(ev, data=bundle)


@budget(25)
@given(any_patient)
def test_same_input_same_output(bundle):
    inv.check_same_output(bundle, run)


@pytest.mark.parametrize("rule", RED_FLAG_RULES)
def test_every_red_flag_rule_fires_with_a_card(rule):
    @settings(max_examples=examples(3), deadline=None, database=None)
    @given(rule_cases(rule))
    def check(case):
        ev = run(case.bundle)
        inv.check_red_flag_fires(case, ev)
        inv.check_red_flag_sound(ev)

    check()


@pytest.mark.parametrize("rule", OTHER_RULES)
def test_every_other_recommendation_rule_fires(rule):
    @settings(max_examples=examples(3), deadline=None, database=None)
    @given(rule_cases(rule))
    def check(case):
        ev = run(case.bundle)
        inv.check_rule_fires(case, ev)
        inv.check_red_flag_sound(ev)

    check()


@budget(25)
@given(mechanical_bundles())
def test_a_patient_with_only_mechanical_findings_gets_no_red_flag(bundle):
    ev = run(bundle)
    assert not ev.red_flags, [c.id for c in ev.red_flags]
    assert "muscle_strain" in ev.categories


# -- relations between evaluations -----------------------------------------------------


@budget(30)
@given(any_patient)
def test_input_order_does_not_change_the_result(bundle):
    inv.check_order_independent(bundle, run, orders=("reversed", "rotated", "patient-last"))


@budget(30)
@given(patient_bundles(max_resources=6), red_flag_cases())
def test_adding_red_flag_findings_never_lowers_urgency(bundle, case):
    pid = bundle["entry"][0]["resource"]["id"]
    current = bundle
    for ref in case.needed:
        added = next(
            dict(e["resource"]) for e in case.bundle["entry"] if reference(e["resource"]) == ref
        )
        added["id"] = "added-" + added["id"]
        added["subject"] = {"reference": f"Patient/{pid}"}
        inv.check_urgency_monotone(current, added, run)
        current = with_resource(current, added)


@budget(30)
@given(mechanical_bundles(), red_flag_cases())
def test_no_self_care_advice_beside_a_red_flag(bundle, case):
    """A mechanical patient gets self-care advice; give them a red flag and it must go."""
    before = run(bundle)
    assume(any(c.self_care for c in before.conclusions))
    current = bundle
    for ref in case.needed:
        added = next(
            dict(e["resource"]) for e in case.bundle["entry"] if reference(e["resource"]) == ref
        )
        added["id"] = "added-" + added["id"]
        current = with_resource(current, added)
    after = run(current)
    inv.check_red_flag_sound(after)
    if case.rule in inv.fired_rules(after):
        assert after.red_flags
        assert not [c.id for c in after.conclusions if c.self_care and not c.red_flag]


@budget(40)
@given(red_flag_cases(), st.integers(0, 20))
def test_negated_refuted_or_voided_findings_fire_nothing(case, pick):
    inv.check_negation_sound(case.bundle, case.needed[pick % len(case.needed)], run)


@budget(30)
@given(any_patient)
def test_both_engines_derive_the_same(bundle):
    inv.check_engines_agree(bundle, run, engines=("reference",))


# -- the checks can fail ---------------------------------------------------------------


def _example(name: str) -> dict:
    from cds_backpain.examples import load_examples

    ex = next(e for e in load_examples() if e.name.startswith(name))
    return json.loads(ex.path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ces() -> tuple[dict, Evaluation]:
    data = _example("09-")
    return data, run(data)


def test_checks_pass_on_a_real_red_flag(ces):
    data, ev = ces
    assert ev.red_flags
    inv.check_all_invariants(ev, data=data, evaluate=run)


def _raises(check, *args, **kw) -> str:
    with pytest.raises(AssertionError) as info:
        check(*args, **kw)
    return str(info.value)


def test_checks_catch_self_care_beside_a_red_flag(ces):
    _, ev = ces
    flag = ev.red_flags[0]
    advice = flag.model_copy(update={"id": "x-self-care", "red_flag": False, "self_care": True})
    broken = ev.model_copy(update={"conclusions": (*ev.conclusions, advice)})
    assert "self-care" in _raises(inv.check_red_flag_sound, broken)


def test_checks_catch_a_quote_that_is_not_in_its_source():
    ev = run(_example("01-"))  # self-care advice quotes the runners' sources
    c = next(c for c in ev.conclusions if any(hasattr(p, "quote") for p in c.provenance))
    span = next(p for p in c.provenance if hasattr(p, "quote"))
    bad = span.model_copy(update={"quote": span.quote + " (not said)"})
    others = tuple(x for x in ev.conclusions if x.id != c.id)
    broken = ev.model_copy(
        update={"conclusions": (c.model_copy(update={"provenance": (bad,)}), *others)}
    )
    assert "quoted text" in _raises(inv.check_provenance_resolves, broken)


def test_checks_catch_nonconformant_and_unsafe_cards(ces):
    _, ev = ces
    card = dict(ev.cards[0])
    long = ev.model_copy(update={"cards": ({**card, "summary": "x" * 150}, *ev.cards[1:])})
    assert "summary" in _raises(inv.check_cards_conform, long)
    for payload in ("<script>alert(1)</script>", "[click](https://evil.example.com)"):
        hostile = {**card, "detail": card["detail"] + "\n\n" + payload}
        broken = ev.model_copy(update={"cards": (hostile, *ev.cards[1:])})
        _raises(inv.check_markdown_safe, broken)


def test_checks_catch_invalid_output_and_foreign_evidence(ces):
    data, ev = ces
    bundle = json.loads(json.dumps(ev.bundle))
    bundle["entry"][0]["resource"]["authoredOn"] = "yesterday"
    assert "valid FHIR" in _raises(
        inv.check_output_bundle_valid, ev.model_copy(update={"bundle": bundle})
    )
    c = ev.conclusions[0]
    foreign = c.model_copy(update={"evidence": (*c.evidence, "Condition/other-patient")})
    broken = ev.model_copy(update={"conclusions": (foreign, *ev.conclusions[1:])})
    assert "not resources of the input" in _raises(inv.check_evidence_resolves, broken, data)


def test_relational_checks_catch_a_faulty_evaluate(ces):
    data, _ = ces
    calls = iter(range(100))

    def flaky(d):  # a different instant on every call: not deterministic
        return evaluate(d, now=f"2026-06-{1 + next(calls):02d}T12:00:00Z")

    _raises(inv.check_same_output, data, flaky)

    def first_entries_only(d):  # reads the Patient and the first two others: order matters
        patient = [e for e in d["entry"] if e["resource"]["resourceType"] == "Patient"]
        others = [e for e in d["entry"] if e["resource"]["resourceType"] != "Patient"]
        return run({**d, "entry": patient + others[:2]})

    _raises(inv.check_order_independent, data, first_entries_only)

    def status_blind(d):  # ignores negation: every finding Observation is positive
        out = json.loads(json.dumps(d))
        for e in out["entry"]:
            r = e["resource"]
            r.pop("verificationStatus", None)
            if r["resourceType"] == "Observation" and "valueQuantity" not in r:
                r.pop("valueCodeableConcept", None)
                r["valueBoolean"] = True
                r["status"] = "final"
        return run(out)

    refuted = _example("51-")  # a refuted cauda equina Condition
    assert "Condition/ces-refuted" in {reference(e["resource"]) for e in refuted["entry"]}
    inv.check_negation_sound(refuted, "Condition/ces-refuted", run)
    _raises(inv.check_negation_sound, refuted, "Condition/ces-refuted", status_blind)
