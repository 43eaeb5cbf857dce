"""The bundled examples are data: every fhir_examples/NN-slug.json is generated from its scenario
file (fhir_examples/scenarios/NN-slug.yaml) and the two never disagree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "fhir_examples"
SCENARIOS = EXAMPLES / "scenarios"


def test_every_example_has_a_scenario_and_every_scenario_an_example():
    bundles = {
        p.stem for p in EXAMPLES.glob("[0-9]*.json") if not p.name.endswith(".expected.json")
    }
    scenarios = {p.stem for p in SCENARIOS.glob("[0-9]*.yaml")}
    assert bundles == scenarios


def test_every_scenario_states_its_expected_outcome_and_basis():
    for path in sorted(SCENARIOS.glob("[0-9]*.yaml")):
        sc = yaml.safe_load(path.read_text(encoding="utf-8"))
        exp = sc["expected"]
        assert {"urgency", "imaging", "categories", "red_flag", "self_care", "basis"} <= set(exp)
        assert len(exp["basis"]) > 40, path.name
        assert sc["steps"] or exp["urgency"] is None, path.name


def test_the_generated_bundles_are_current(tmp_path: Path):
    out = tmp_path / "examples"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_examples.py"), str(out)],
        check=True,
        capture_output=True,
        timeout=300,
        cwd=ROOT,
    )
    stale = []
    for path in sorted(out.glob("*.json")) + sorted((out / "coding").glob("*.json")):
        committed = EXAMPLES / path.relative_to(out)
        if not committed.exists() or json.loads(committed.read_text()) != json.loads(
            path.read_text()
        ):
            stale.append(str(path.relative_to(out)))
    assert stale == [], f"run scripts/generate_examples.py: stale {stale[:5]}"
