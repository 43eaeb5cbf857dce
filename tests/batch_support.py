"""Shared export fixtures for the batch and Spark tests."""

from __future__ import annotations

import json
from pathlib import Path

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def write_examples_export(directory: Path) -> Path:
    """Every bundled example as one Bulk Data export (one NDJSON file per type)."""
    from cds_backpain.examples import load_examples

    directory.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[str]] = {}
    for ex in load_examples():
        for entry in json.loads(ex.path.read_text(encoding="utf-8"))["entry"]:
            res = entry["resource"]
            by_type.setdefault(res["resourceType"], []).append(json.dumps(res))
    for rtype, lines in by_type.items():
        (directory / f"{rtype}.000.ndjson").write_text("\n".join(lines) + "\n")
    return directory


def library_conclusions() -> dict[str, list[str]]:
    """Per patient reference: the sorted conclusion ids ``evaluate()`` gives each example."""
    from cds_backpain import evaluate
    from cds_backpain.examples import EXAMPLES_NOW, load_examples

    out = {}
    for ex in load_examples():
        ev = evaluate(ex.path, now=EXAMPLES_NOW)
        out[ev.patient] = sorted(c.id for c in ev.conclusions)
    return out


def write_medication_export(directory: Path) -> Path:
    """An extra export: a Medication (no subject) and a request that references it."""
    directory.mkdir(parents=True, exist_ok=True)
    meds = [
        {
            "resourceType": "Medication",
            "id": "med-ibu",
            "code": {"coding": [{"system": RXNORM, "code": "5640", "display": "ibuprofen"}]},
        },
        {"resourceType": "Medication", "id": "med-unused", "code": {"text": "unused"}},
    ]
    request = {
        "resourceType": "MedicationRequest",
        "id": "mr-ibu",
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": "Medication/med-ibu"},
        "subject": {"reference": "Patient/ca15b832-01e4-41dd-6a52-97bd3e5510cb"},
        "authoredOn": "2026-05-25T10:00:00Z",
    }
    (directory / "Medication.000.ndjson").write_text("".join(json.dumps(m) + "\n" for m in meds))
    (directory / "MedicationRequest.extra.ndjson").write_text(json.dumps(request) + "\n")
    return directory


SYNTHEA = Path(__file__).resolve().parent / "data" / "synthea-bulk-10pt"


def spark_inputs(directory: Path) -> list[str]:
    """The vendored Synthea export plus a Medication file joined by reference."""
    return [str(SYNTHEA), str(write_medication_export(directory))]


def local_batch(inputs: list[str], out: Path, now: str) -> tuple[dict[str, dict], dict]:
    """The local batch's records by patient, and its summary (the Spark tests' reference)."""
    from cds_backpain.batch.runner import run_batch
    from cds_backpain.batch.summary import read_records

    report = run_batch(inputs, out, now=now, workers=0, progress=False)
    return {r["patient"]: r for r in read_records(out / "results.ndjson")}, report.summary
