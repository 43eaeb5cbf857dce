"""Every numeric parameter a rule compares against, probed just below, at and just above it.

The probes are generated from the compiled rules: for each rule, each branch and each test
whose threshold is a parameter of ``knowledge/parameters.yaml``, the smallest set of facts
that satisfies the branch is built, the tested attribute is moved to the threshold minus a
step, the threshold and the threshold plus a step, and both engines are asked whether the
rule fires. A parameter a new rule compares against is probed without touching this file.

What the answer must be comes from ``SIGNED_OFF`` below, not from the rules: it is the
boundary each parameter's description in ``knowledge/parameters.yaml`` states in words
("strictly greater", "at or above", "exactly 42 days is not early"). So a threshold moved by
one, or a ``gt`` that became ``ge``, fails here, and a parameter that a rule compares against
but that nobody has written down here fails too, until its boundary is added.

The weight-loss and running-load windows are compared in ingest, not in a rule: they are
probed through FHIR.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cds_backpain import evaluate, load_knowledge
from cds_backpain.engine.compiled import NUMERIC_OPS, CompiledRules, CPattern, CRule
from cds_backpain.engine.prepare import engine_input
from cds_backpain.engine.reference import ReferenceEngine
from cds_backpain.engine.select import get_engine
from cds_backpain.facts import Fact
from cds_backpain.testing import builders as b

#: Parameter -> (threshold, where the threshold itself belongs). ``"from"``: the threshold is
#: the first value of the upper range (rules say ``ge`` for "at least", ``lt`` for "below");
#: ``"after"``: the threshold is the last value of the lower range (``gt`` for "more than",
#: ``le`` for "up to"). Transcribed from the descriptions in knowledge/parameters.yaml.
SIGNED_OFF: dict[str, tuple[float, str]] = {
    "adult_min_age": (16, "from"),  # "16 and over" are adults
    "paediatric_max_age": (17, "after"),  # 17 is still adolescent
    "early_imaging_days": (42, "from"),  # "exactly 42 days is not early"
    "acute_days": (28, "from"),  # "from this duration ... routine review"
    "chronic_days": (84, "from"),  # "84 days (12 weeks exactly) is counted as chronic"
    "cancer_weak_age": (50, "after"),  # "strictly greater ... exactly 50 does not meet it"
    "vcf_age_male": (65, "after"),  # "men older than this (strictly greater)"
    "vcf_age_female": (75, "after"),  # "women older than this (strictly greater)"
    "stenosis_age_context": (60, "from"),  # "from this age"
    "fever_celsius": (38.0, "from"),  # "at or above this value counts as fever"
    "prolonged_steroid_days": (90, "from"),  # cumulative exposure of at least 90 days
    "weight_loss_pct": (5, "from"),  # "loss of at least this percentage"
    "paediatric_duration_days": (28, "after"),  # "strictly more than four weeks"
    "adolescent_spondylolysis_days": (21, "from"),  # "this many days or more"
    "running_load_jump_pct": (30, "from"),  # "an increase of at least this percentage"
    "low_bmi": (18.5, "from"),  # "BMI below this value": 18.5 itself is not low
    "severe_pain_score": (7, "from"),
    "nsaid_caution_age": (65, "from"),
    "ces_recent_onset_days": (90, "from"),  # "fewer than this many days": 90 is not recent
    "fever_recent_days": (14, "from"),  # "fewer than this many days before"
    "fracture_recent_days": (180, "from"),  # "fewer than this many days before"
    "infection_recent_days": (90, "from"),  # "fewer than this many days before"
    "neuro_deficit_recent_days": (90, "from"),  # "fewer than this many days before"
    "new_back_pain_days": (84, "from"),  # "onset fewer than this many days before"
    "trauma_recent_days": (28, "from"),  # "fewer than this many days before"
    "paediatric_young_age": (10, "from"),  # "a child younger than this"
    "self_care_min_age": (10, "from"),  # "shown only from this age"
    "steroid_exposure_window_days": (365, "after"),  # "ended at most this many days ago"
}

#: The step of a probe, per tested attribute: tenths of a measure, else whole years or days.
STEP: dict[str, float] = {"value": 0.1}


@dataclass(frozen=True)
class Probe:
    rule: CRule
    branch: int
    pattern: int
    test: int
    parameter: str

    @property
    def id(self) -> str:
        return f"{self.rule.id}[{self.branch}]:{self.parameter}"


def _parameter_uses(kb: Any) -> dict[tuple[str, int], dict[tuple[str, str, str, object], str]]:
    """(rule, branch) -> (kind, attribute, op, compiled value) -> parameter name."""
    out: dict[tuple[str, int], dict[tuple[str, str, str, object], str]] = {}
    for rid, rule in kb.rules.items():
        alternatives = [br.patterns for br in rule.when.any] or [()]
        for i, alt in enumerate(alternatives):
            uses = out.setdefault((rid, i), {})
            for p in (*rule.when.all, *alt):
                for t in p.tests:
                    if isinstance(t.value, str) and t.value.startswith("$"):
                        name = t.value[1:]
                        value = kb.parameters[name].value
                        uses[(p.kind, t.attribute, t.op, value)] = name
    return out


def probes() -> Iterator[Probe]:
    kb = load_knowledge()
    uses = _parameter_uses(kb)
    for rule in kb.compiled.rules:
        for bi, branch in enumerate(rule.branches):
            for pi, pattern in enumerate(branch):
                for ti, test in enumerate(pattern.tests):
                    key = (pattern.kind, test.attribute, test.op, test.value)
                    name = uses[(rule.id, bi)].get(key)
                    if test.op in NUMERIC_OPS and name is not None:
                        yield Probe(rule, bi, pi, ti, name)


PROBES = list(probes())


def _witness_value(pattern: CPattern, attribute: str) -> object:
    """A value of ``attribute`` that passes every test ``pattern`` makes on it."""
    tests = [t for t in pattern.tests if t.attribute == attribute]
    for t in tests:
        if t.op == "eq":
            return t.value
        if t.op == "in":
            return t.value[0]  # type: ignore[index]
    step = STEP.get(attribute, 1)
    low = max(
        (t.value + (step if t.op == "gt" else 0) for t in tests if t.op in ("gt", "ge")),
        default=None,
    )  # type: ignore[operator]
    high = min(
        (t.value - (step if t.op == "lt" else 0) for t in tests if t.op in ("lt", "le")),
        default=None,
    )  # type: ignore[operator]
    value = low if low is not None else high
    return round(value, 3) if attribute == "value" else int(value)  # type: ignore[arg-type]


def _fact(pattern: CPattern, overrides: dict[str, object]) -> Fact:
    attrs = {t.attribute: _witness_value(pattern, t.attribute) for t in pattern.tests}
    attrs.update(overrides)
    if pattern.kind == "finding" and "days" not in attrs:
        attrs["days"] = 1
    concept = pattern.concepts[0] if pattern.concepts else pattern.kind
    return Fact(kind=pattern.kind, concept=concept, source=f"Basic/{len(attrs)}", **attrs)  # type: ignore[arg-type]


def _holds(op: str, v: float, threshold: float) -> bool:
    """The comparison, written independently of the engines."""
    return {"lt": v < threshold, "le": v <= threshold, "gt": v > threshold, "ge": v >= threshold}[
        op
    ]


def _expected(parameter: str, op: str, v: float) -> bool:
    threshold, side = SIGNED_OFF[parameter]
    upper = v >= threshold if side == "from" else v > threshold
    return upper if op in ("gt", "ge") else not upper


def _fires(
    engine: Any, rule: CRule, branch: int, facts: list[Fact], extra: list[dict[str, object]]
) -> bool:
    """Whether ``branch`` of ``rule`` fires (alone: another branch may match the same facts)."""
    only = CRule(rule.id, rule.concept, (rule.branches[branch],))
    absence = frozenset(
        tuple(p.concepts[0].split(":", 1)) for p in rule.branches[branch] if p.kind == "absent"
    )
    single = CompiledRules((only,), absence, frozenset(), f"boundary-{rule.id}-{branch}")  # type: ignore[arg-type]
    return rule.id in engine.run(single, engine_input(single, facts) + extra)


ENGINES = [ReferenceEngine(), get_engine("durable")]


def test_every_parameter_a_rule_compares_against_has_a_signed_off_boundary():
    used = {p.parameter for p in PROBES}
    assert used, "no rule compares against a parameter: the probe generator is broken"
    missing = sorted(used - SIGNED_OFF.keys())
    assert not missing, (
        f"{missing}: write down the boundary each description in knowledge/parameters.yaml "
        "states (the threshold, and whether the threshold itself is in the upper range) in "
        "SIGNED_OFF"
    )
    kb = load_knowledge()
    stale = sorted(SIGNED_OFF.keys() - kb.parameters.keys())
    assert not stale, f"{stale} are no longer parameters: remove them from SIGNED_OFF"


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.id)
def test_rule_fires_exactly_on_its_side_of_the_parameter(probe: Probe):
    branch = probe.rule.branches[probe.branch]
    pattern = branch[probe.pattern]
    test = pattern.tests[probe.test]
    if probe.parameter not in SIGNED_OFF:
        pytest.fail(f"{probe.parameter} has no signed-off boundary (see the test above)")
    threshold, _side = SIGNED_OFF[probe.parameter]
    assert test.value == threshold, (
        f"{probe.rule.id} compares {test.attribute} with {probe.parameter} = {test.value}; "
        f"the signed-off value is {threshold}"
    )
    step = STEP.get(test.attribute, 1)
    others = [t for t in pattern.tests if t.attribute == test.attribute and t is not test]
    checked = 0
    for v in (threshold - step, threshold, threshold + step):
        v = round(v, 3) if test.attribute == "value" else int(v)
        if not all(_holds(t.op, v, t.value) for t in others):  # type: ignore[arg-type]
            continue  # another bound of the same attribute decides there
        facts, extra = [], []
        for i, p in enumerate(branch):
            if p.kind == "absent":
                continue
            if p.kind == "conclusion":
                extra.append(
                    {"key": f"c:{p.concepts[0]}", "kind": "conclusion", "concept": p.concepts[0]}
                )
                continue
            facts.append(_fact(p, {test.attribute: v} if i == probe.pattern else {}))
        want = _expected(probe.parameter, test.op, v)
        for engine in ENGINES:
            got = _fires(engine, probe.rule, probe.branch, facts, extra)
            assert got == want, (
                f"{engine.name}: {probe.rule.id} with {test.attribute} = {v} "
                f"({probe.parameter} = {threshold}) {'fires' if got else 'does not fire'}"
            )
        checked += 1
    assert checked >= 2


# -- the same boundaries, end to end from FHIR ------------------------------------------------

NOW = b.EXAMPLE_NOW
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
LOW_BACK_PAIN = [{"system": SNOMED, "code": "279039007"}]
BODY_WEIGHT = [{"system": LOINC, "code": "29463-7"}]


def _back_pain_patient(age: int, gender: str, *extra: dict[str, Any]) -> dict[str, Any]:
    return b.bundle(
        [
            b.patient(gender=gender, birth_date=b.birth_date_for_age(age, NOW)),
            b.condition("lbp", LOW_BACK_PAIN, onset=NOW - dt.timedelta(days=10)),
            *extra,
        ]
    )


@pytest.mark.parametrize(
    ("gender", "parameter"), [("male", "vcf_age_male"), ("female", "vcf_age_female")]
)
def test_vertebral_fracture_age_risk_starts_the_year_after_the_threshold(gender, parameter):
    threshold = int(SIGNED_OFF[parameter][0])
    fired = {
        age: "fx-vcf-age"
        in {d.rule for d in evaluate(_back_pain_patient(age, gender), NOW).derivations}
        for age in (threshold - 1, threshold, threshold + 1)
    }
    assert fired == {threshold - 1: False, threshold: False, threshold + 1: True}


def _weights(days_apart: int) -> dict[str, Any]:
    return _back_pain_patient(
        40,
        "female",
        b.observation(
            "w1", BODY_WEIGHT, effective=NOW - dt.timedelta(days=days_apart + 1), value=(70.0, "kg")
        ),
        b.observation("w2", BODY_WEIGHT, effective=NOW - dt.timedelta(days=1), value=(63.0, "kg")),
    )


def _weight_loss(ev: Any) -> list[float]:
    return [f["value"] for f in ev.facts if f["concept"] == "weight_loss_pct"]


def test_serial_weights_count_up_to_exactly_the_weight_loss_window_apart():
    window = int(load_knowledge().parameters["weight_loss_window_days"].value)
    assert window == 365  # the signed-off window (parameters.yaml: weight_loss_window_days)
    assert _weight_loss(evaluate(_weights(window - 1), NOW)) == [10.0]
    assert _weight_loss(evaluate(_weights(window), NOW)) == [10.0]
    assert _weight_loss(evaluate(_weights(window + 1), NOW)) == []
    assert "mal-weight-loss" in {d.rule for d in evaluate(_weights(window), NOW).derivations}


def _weeks(days_apart: int) -> dict[str, Any]:
    _, system, code = next(
        c for c in load_knowledge().valuesets.codes() if c[0] == "weekly_running_distance"
    )
    distance = [{"system": system, "code": code}]
    return _back_pain_patient(
        40,
        "female",
        b.observation(
            "d1", distance, effective=NOW - dt.timedelta(days=days_apart + 1), value=(20.0, "km")
        ),
        b.observation("d2", distance, effective=NOW - dt.timedelta(days=1), value=(30.0, "km")),
    )


def _load_change(ev: Any) -> list[float]:
    return [f["value"] for f in ev.facts if f["concept"] == "running_load_change"]


def test_weekly_distances_count_up_to_exactly_the_running_load_window_apart():
    window = int(load_knowledge().parameters["running_load_window_days"].value)
    assert window == 28  # parameters.yaml: running_load_window_days
    assert _load_change(evaluate(_weeks(window - 1), NOW)) == [50.0]
    assert _load_change(evaluate(_weeks(window), NOW)) == [50.0]
    assert _load_change(evaluate(_weeks(window + 1), NOW)) == []
