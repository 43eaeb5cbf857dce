"""``knowledge diff`` and ``knowledge impact``: what a knowledge change is, and what it does
to a synthetic population (a copy of the knowledge with one threshold edited)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from publish_support import knowledge_copy

from cds_backpain.batch.synth import write_population
from cds_backpain.cli import main
from cds_backpain.kb.loader import knowledge_root, load_knowledge
from cds_backpain.publish.diff import diff_is_empty, knowledge_diff, render_diff
from cds_backpain.publish.impact import (
    RED_FLAG_CONCLUSION_LOST,
    RED_FLAG_LOST,
    compare_records,
    render_impact,
    run_impact,
)

NOW = "2026-06-01T12:00:00Z"


@pytest.fixture(scope="module")
def hotter(tmp_path_factory) -> Path:
    """The knowledge with fever raised from 38.0 to 39.5 °C: some fevers stop counting."""
    return knowledge_copy(tmp_path_factory.mktemp("kb") / "knowledge", fever_celsius=39.5)


@pytest.fixture(scope="module")
def population(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("population")
    write_population(out, 240, seed=7, now=NOW)
    return out


@pytest.fixture(scope="module")
def report(hotter, population, tmp_path_factory):
    work = tmp_path_factory.mktemp("impact")
    return run_impact(knowledge_root(), hotter, [population], now=NOW, work=work, workers=0)


def test_identical_knowledge_has_an_empty_diff(tmp_path):
    same = load_knowledge(knowledge_copy(tmp_path / "knowledge"))
    diff = knowledge_diff(load_knowledge(), same)
    assert diff["identical"] and diff_is_empty(diff)
    assert "identical" in render_diff(diff)


def test_diff_lists_parameter_rule_code_template_and_provenance_changes(tmp_path, hotter):
    root = knowledge_copy(tmp_path / "knowledge", fever_celsius=39.5)
    vs_path = next(  # a value set whose first include has a code to spare
        p
        for p in sorted((root / "valuesets").glob("*.json"))
        if len(json.loads(p.read_text())["compose"]["include"][0].get("concept", [])) > 1
    )
    vs = json.loads(vs_path.read_text())
    include = vs["compose"]["include"][0]
    system, dropped = include["system"], include["concept"].pop(0)["code"]
    vs_path.write_text(json.dumps(vs, indent=2))
    templates = yaml.safe_load((root / "templates.yaml").read_text())
    templates["templates"]["referral-physiotherapy"]["priority"] = "urgent"
    (root / "templates.yaml").write_text(yaml.safe_dump(templates, sort_keys=False))
    rules_path = root / "rules" / "cauda_equina.yaml"
    rules = yaml.safe_load(rules_path.read_text())
    rules["rules"][0]["provenance"] = rules["rules"][0]["provenance"][:-1]
    rules["rules"][0]["recommend"]["urgency"] = "urgent"
    rules_path.write_text(yaml.safe_dump(rules, sort_keys=False))

    diff = knowledge_diff(load_knowledge(), load_knowledge(root))
    assert diff["parameters"]["changed"] == {"fever_celsius": {"value": {"old": 38.0, "new": 39.5}}}
    assert diff["rules"]["changed"]["inf-fever"] == {"fields": [], "compiled": True}
    ces = diff["rules"]["changed"]["ces-established"]
    assert ces["recommend"]["urgency"] == {"old": "emergency", "new": "urgent"}
    assert ces["provenance"]["removed"] == ["guideline cks-rf-ces"]
    assert diff["valuesets"]["changed"][vs_path.name]["removed"] == [f"{system}|{dropped}"]
    assert diff["templates"]["changed"] == ["referral-physiotherapy"]
    text = render_diff(diff)
    for expected in (
        "fever_celsius",
        "39.5",
        "inf-fever",
        dropped,
        "referral-physiotherapy",
        "cks-rf-ces",
    ):
        assert expected in text


def lost_key(report) -> str:
    """Which red-flag loss the report shows (all of a patient's flags, or one of several)."""
    return next(k for k in (RED_FLAG_LOST, RED_FLAG_CONCLUSION_LOST) if k in report["transitions"])


def test_impact_flags_lost_red_flags_first_with_patients_and_rules(report):
    assert report["old"]["digest"] != report["new"]["digest"]
    assert report["patients"] == 240 and 0 < report["changed"] < 240
    key = lost_key(report)
    assert next(iter(report["transitions"])) == key
    lost = report["transitions"][key]
    assert lost["patients"] >= 1 and lost["examples"][0].startswith("Patient/")
    assert set(lost["rules"]) & {"inf-fever-with-risk", "inf-fever-back-pain"}
    assert report["alerts"] and key in report["alerts"][0]
    assert any(t.startswith("urgency: urgent → ") for t in report["transitions"])
    assert report["knowledge_changes"]["parameters"]["fever_celsius"]["value"]["new"] == 39.5
    json.dumps(report)  # the JSON report is plain JSON


def test_impact_markdown_puts_the_alert_before_the_transitions(report):
    text = render_impact(report)
    key = lost_key(report)
    assert text.index("Red flags lost") < text.index("## Transitions")
    assert f"| {key} |" in text
    for patient in report["transitions"][key]["examples"]:
        assert patient in text


def test_unchanged_results_report_no_transition():
    records = {
        "Patient/1": {
            "status": "ok",
            "urgency": "routine",
            "imaging": "none",
            "categories": ["muscle_strain"],
            "conclusions": [
                {
                    "id": "mech-subacute-review",
                    "category": "muscle_strain",
                    "urgency": "routine",
                    "imaging": "none",
                    "red_flag": False,
                }
            ],
        },
        "Patient/2": {"status": "invalid", "outcome": {}},
    }
    result = compare_records(records, records)
    assert result == {"patients": 2, "changed": 0, "alerts": [], "transitions": {}}


def test_cli_impact_writes_markdown_and_json_and_exits_3_on_a_lost_red_flag(hotter, tmp_path):
    pop = tmp_path / "pop"
    write_population(pop, 24, seed=2, now=NOW, profiles=["infection"])
    out = tmp_path / "out"
    old = str(knowledge_root())
    args = ["knowledge", "impact", old, str(hotter), "--population", str(pop), "--now", NOW]
    r = CliRunner().invoke(main, [*args, "--workers", "0", "--out", str(out)])
    assert r.exit_code == 3, r.output
    assert "Red flags lost" in r.output
    data = json.loads((out / "impact.json").read_text())
    assert data["transitions"][lost_key(data)]["patients"] >= 1
    assert (out / "impact.md").read_text() == r.output
    d = CliRunner().invoke(main, ["knowledge", "diff", old, str(hotter), "--json"])
    assert d.exit_code == 0 and "fever_celsius" in json.loads(d.output)["parameters"]["changed"]


CONCLUSIONS = st.lists(
    st.builds(
        lambda i, flag: {
            "id": f"rule-{i}",
            "category": "infection" if flag else "muscle_strain",
            "urgency": "urgent" if flag else "routine",
            "imaging": "none",
            "red_flag": flag,
        },
        st.integers(0, 5),
        st.booleans(),
    ),
    max_size=4,
    unique_by=lambda c: c["id"],
)


def record(conclusions: list[dict]) -> dict:
    urgencies = [c["urgency"] for c in conclusions]
    return {
        "status": "ok",
        "urgency": max(urgencies) if urgencies else None,  # "urgent" > "routine"
        "imaging": "none",
        "categories": sorted({c["category"] for c in conclusions}),
        "conclusions": conclusions,
    }


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(CONCLUSIONS, CONCLUSIONS), min_size=1, max_size=8))
def test_every_patient_who_loses_all_red_flags_is_counted_and_alerted(pairs):
    old = {f"Patient/{i}": record(a) for i, (a, _) in enumerate(pairs)}
    new = {f"Patient/{i}": record(b) for i, (_, b) in enumerate(pairs)}
    lost = sorted(
        p
        for p in old
        if any(c["red_flag"] for c in old[p]["conclusions"])
        and not any(c["red_flag"] for c in new[p]["conclusions"])
    )
    result = compare_records(old, new)
    got = result["transitions"].get(RED_FLAG_LOST, {"patients": 0, "examples": []})
    assert got["patients"] == len(lost)
    assert set(got["examples"]) <= set(lost)
    assert bool(result["alerts"]) >= bool(lost)
    if lost:
        assert next(iter(result["transitions"])) == RED_FLAG_LOST
    changed = {p for p in old if old[p] != new[p]}
    assert result["changed"] <= len(changed)
