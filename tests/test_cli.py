"""The command line: JSON out, OperationOutcome and exit 2 on bad input, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cds_backpain.examples import EXAMPLES_NOW, load_examples


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cds_backpain.cli", *args],
        capture_output=True,
        text=True,
        input=stdin.decode() if stdin else None,
        timeout=120,
    )


def _example(word: str) -> Path:
    return next(e.path for e in load_examples() if word in e.name)


def test_evaluate_prints_the_evaluation_json():
    r = run("evaluate", str(_example("cauda-equina")), "--now", EXAMPLES_NOW)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["urgency"] == "emergency"
    assert {"urgency", "imaging", "knowledge", "conclusions", "cards", "bundle"} <= set(out)
    assert out["cards"][0]["indicator"] == "critical"


def test_evaluate_formats_cards_and_fhir():
    path = str(_example("cauda-equina"))
    cards = json.loads(run("evaluate", path, "--now", EXAMPLES_NOW, "--format", "cards").stdout)
    assert cards["cards"] and all("summary" in c for c in cards["cards"])
    bundle = json.loads(run("evaluate", path, "--now", EXAMPLES_NOW, "--format", "fhir").stdout)
    assert bundle["resourceType"] == "Bundle"


def test_invalid_input_gives_operation_outcome_and_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceType": "Condition", "clinicalStatus": "active"}')
    r = run("evaluate", str(bad))
    assert r.returncode == 2
    outcome = json.loads(r.stdout)
    assert outcome["resourceType"] == "OperationOutcome"
    assert "Traceback" not in r.stdout + r.stderr


def test_not_json_gives_operation_outcome(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe not json")
    r = run("evaluate", str(bad))
    assert r.returncode == 2
    assert json.loads(r.stdout)["issue"]
    assert "Traceback" not in r.stderr


def test_knowledge_verify_passes():
    r = run("knowledge", "verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "knowledge verified" in r.stdout


def test_examples_command_reports_every_example_as_expected():
    r = run("examples")
    assert r.returncode == 0, r.stdout[-3000:]
    n = len(load_examples())
    assert f"{n} of {n} examples as expected" in r.stdout
