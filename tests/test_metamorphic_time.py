"""Time metamorphoses over every rule (cds_backpain.testing.timeshift).

- Moving a whole record and the evaluation instant together changes nothing a clinician sees.
- Moving a finding that a rule reads only while it is recent beyond its window stops it from
  counting: the rule does not fire on it, and it is not cited as evidence.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import cds_backpain
from cds_backpain import InvalidInputError
from cds_backpain.testing import EXAMPLE_NOW, examples, rule_cases
from cds_backpain.testing.builders import reference
from cds_backpain.testing.timeshift import (
    CYCLE_YEARS,
    age_resource,
    dated,
    recency_windows,
    shift_instant,
    shift_record,
    triage,
)

NOW = EXAMPLE_NOW
SETTINGS = settings(
    max_examples=examples(15),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@cache
def _windows():
    kb = cds_backpain.load_knowledge()
    return tuple(w for w in recency_windows(kb.compiled) if kb.rules[w.rule].recommend)


def _evaluate(bundle, now):
    try:
        return cds_backpain.evaluate(bundle, now=now)
    except InvalidInputError:  # e.g. a finding moved to before the patient's birth
        assume(False)
        raise


def test_every_windowed_red_flag_rule_is_covered():
    """The recency windows found in the compiled rules include the red flags the issue names."""
    rules = {w.rule for w in _windows()}
    for rule in (
        "ces-established",
        "ces-bilateral-radicular",
        "neuro-progressive",
        "fx-major-trauma",
        "fx-contusion",
        "fx-known-fracture",
    ):
        assert rule in rules, rule
    kb = cds_backpain.load_knowledge()
    fever = [w for w in recency_windows(kb.compiled) if w.rule == "inf-fever"]
    assert {c for w in fever for c in w.concepts} == {"fever", "body_temperature"}


@SETTINGS
@given(case=rule_cases(now=NOW), cycles=st.sampled_from([-2, -1, 1, 2]))
def test_shifting_the_record_and_now_together_changes_nothing(case, cycles):
    years = cycles * CYCLE_YEARS
    try:
        shifted = shift_record(case.bundle, years)
    except ValueError:  # a date would leave the 1901-2099 span where the cycle is exact
        assume(False)
        raise
    before = cds_backpain.evaluate(case.bundle, now=NOW)
    after = cds_backpain.evaluate(shifted, now=shift_instant(NOW, years))
    assert triage(after) == triage(before)


def _cases_with_windowed_evidence():
    """(window, case) pairs: a case built for the window's rule, with the needed resources
    whose facts the windowed pattern reads."""
    windows = _windows()

    @st.composite
    def draw(draw_fn):
        w = draw_fn(st.sampled_from(windows))
        case = draw_fn(rule_cases(w.rule, now=NOW))
        return w, case

    return draw()


@SETTINGS
@given(pair=_cases_with_windowed_evidence(), margin=st.integers(0, 400))
def test_a_finding_moved_beyond_its_window_is_no_longer_evidence(pair, margin):
    w, case = pair
    first = _evaluate(case.bundle, NOW)
    kb = cds_backpain.load_knowledge()
    # the needed resources that give facts of the windowed concepts, with a date to move
    facts = {
        f["source"]: f for f in first.facts if f["concept"] in w.concepts and f["kind"] == w.kind
    }
    windowed = [r for r in case.needed if r in facts and facts[r].get("days") is not None]
    assume(windowed)
    entries = case.bundle["entry"]
    moved = dict(case.bundle)
    moved["entry"] = []
    aged = set()
    for e in entries:
        ref = reference(e["resource"])
        if ref in windowed and dated(e["resource"]):
            days = facts[ref]["days"]
            push = max(0, w.window - days) + margin
            moved["entry"].append({**e, "resource": age_resource(e["resource"], push)})
            aged.add(ref)
        else:
            moved["entry"].append(e)
    assume(aged)
    note(f"window {w}; aged {sorted(aged)}")
    after = _evaluate(moved, NOW)
    # none of the aged facts may still satisfy the windowed pattern
    for f in after.facts:
        if f.get("source") in aged and f["kind"] == w.kind and f["concept"] in w.concepts:
            assert f.get("days") is not None and f["days"] >= w.window, (f, w)
    # and the rule, if it still fires, does not rest on them through this pattern: removing
    # the aged resources entirely gives the same verdict for the rule
    removed = dict(case.bundle)
    removed["entry"] = [e for e in entries if reference(e["resource"]) not in aged]
    without = _evaluate(removed, NOW)
    fired_after = w.rule in {d.rule for d in after.derivations}
    fired_without = w.rule in {d.rule for d in without.derivations}
    rule = kb.compiled.by_id[w.rule]
    only_windowed = all(
        any(p.kind == w.kind and set(p.concepts) & set(w.concepts) for p in branch)
        for branch in rule.branches
    )
    if only_windowed:
        assert not fired_after or fired_without, f"{w.rule} still fires on aged {sorted(aged)}"


@pytest.mark.parametrize(
    ("example", "rule"),
    [
        ("76-fever-three-years-ago", "inf-fever"),
        ("77-major-trauma-five-years-ago", "fx-major-trauma"),
        ("78-old-stable-foot-drop", "neuro-progressive"),
        ("79-long-standing-bilateral-stenosis", "ces-bilateral-radicular"),
    ],
)
def test_old_findings_in_the_examples_do_not_fire(example, rule):
    from cds_backpain.examples import load_examples

    ex = next(e for e in load_examples() if e.name == example)
    ev = cds_backpain.evaluate(ex.path.read_bytes(), now=ex.now)
    assert rule not in {d.rule for d in ev.derivations}


def test_an_undated_finding_is_flagged_on_its_card():
    from cds_backpain.examples import load_examples

    ex = next(e for e in load_examples() if e.name == "80-foot-drop-recorded-no-onset")
    ev = cds_backpain.evaluate(ex.path.read_bytes(), now=ex.now)
    card = next(c for c in ev.cards if "foot drop" in c["summary"].lower())
    assert "No onset date recorded for" in card["detail"]
    assert "ask whether this is new" in card["detail"]
