"""The population batch: every patient evaluated, failures recorded, re-runs resume."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from batch_support import write_medication_export
from click.testing import CliRunner

from cds_backpain.batch import runner
from cds_backpain.batch.commands import batch_command, synth_command
from cds_backpain.batch.runner import BatchError, run_batch
from cds_backpain.batch.summary import read_records
from cds_backpain.batch.synth import profiles_of, write_population

SYNTHEA = Path(__file__).resolve().parent / "data" / "synthea-bulk-10pt"
LBP_PATIENTS = {
    "Patient/ca15b832-01e4-41dd-6a52-97bd3e5510cb",
    "Patient/fb7c882a-f897-e7c5-67e0-825e7fd55d15",
}
NOW = "2026-06-01T12:00:00Z"

needs_synthea = pytest.mark.skipif(not SYNTHEA.is_dir(), reason=f"no Synthea export at {SYNTHEA}")


def _records(out: Path) -> dict[str, dict]:
    return {r["patient"]: r for r in read_records(out / "results.ndjson")}


@pytest.fixture(scope="module")
def synthea_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SYNTHEA.is_dir():
        pytest.skip(f"no Synthea export at {SYNTHEA}")
    out = tmp_path_factory.mktemp("synthea") / "out"
    report = run_batch([SYNTHEA], out, now=NOW, workers=2, progress=False)
    assert report.evaluated == 13
    return out


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    export = tmp_path_factory.mktemp("population")
    write_population(export, 240, seed=21, now=NOW)
    return export


def test_batch_concludes_for_both_chronic_low_back_pain_patients(synthea_out: Path):
    records = _records(synthea_out)
    assert len(records) == 13
    assert all(r["status"] == "ok" for r in records.values()), [
        r.get("outcome") for r in records.values() if r["status"] != "ok"
    ]
    for ref in LBP_PATIENTS:
        rec = records[ref]
        assert rec["conclusions"], f"{ref}: no conclusion"
        assert rec["urgency"] is not None
        assert all(c["evidence"] for c in rec["conclusions"])
    others = [r for p, r in records.items() if p not in LBP_PATIENTS]
    assert all(not r["conclusions"] for r in others)  # no back pain, nothing to say


def test_summary_counts_patients_by_urgency_and_category(synthea_out: Path):
    summary = json.loads((synthea_out / "summary.json").read_text())
    records = _records(synthea_out)
    assert summary["patients"] == 13 and summary["ok"] == 13 and summary["failed"] == 0
    assert sum(summary["by_urgency"].values()) == 13
    assert summary["by_urgency"]["none"] == 11
    cats = {c for ref in LBP_PATIENTS for c in records[ref]["categories"]}
    assert set(summary["by_category"]) == cats
    assert summary["now"] == NOW
    assert summary["read"]["skipped_files"]  # Encounter, DocumentReference ... never parsed


def test_rerun_skips_patients_already_done(synthea_out: Path, tmp_path: Path):
    out = tmp_path / "out"
    shutil.copytree(synthea_out, out)
    before = (out / "results.ndjson").read_bytes()
    report = run_batch([SYNTHEA], out, workers=0, progress=False)
    assert (report.evaluated, report.skipped) == (0, 13)
    assert (out / "results.ndjson").read_bytes() == before
    assert report.now == NOW  # the recorded instant, not the current time


def test_interrupted_run_resumes_where_it_stopped(synthea_out: Path, tmp_path: Path):
    out = tmp_path / "out"
    shutil.copytree(synthea_out, out)
    lines = (out / "results.ndjson").read_bytes().splitlines(keepends=True)
    # five complete records, then a record torn by a crash mid-write
    (out / "results.ndjson").write_bytes(b"".join(lines[:5]) + lines[5][:40])
    report = run_batch([SYNTHEA], out, workers=0, progress=False)
    assert (report.evaluated, report.skipped) == (8, 5)
    raw = (out / "results.ndjson").read_bytes().splitlines()
    assert len(raw) == 13 and all(json.loads(x) for x in raw)
    assert _records(out) == _records(synthea_out)


def test_two_batches_never_write_to_one_output(synthea_out: Path, tmp_path: Path):
    out = tmp_path / "out"
    shutil.copytree(synthea_out, out)
    with runner._exclusive(out), pytest.raises(BatchError, match="another batch"):
        run_batch([SYNTHEA], out, workers=0, progress=False)


def test_resuming_with_another_instant_is_refused(synthea_out: Path, tmp_path: Path):
    out = tmp_path / "out"
    shutil.copytree(synthea_out, out)
    with pytest.raises(BatchError, match="evaluated at"):
        run_batch([SYNTHEA], out, now="2020-01-01T00:00:00Z", workers=0, progress=False)


@needs_synthea
def test_a_referenced_medication_reaches_its_patient(synthea_out: Path, tmp_path: Path):
    extra = write_medication_export(tmp_path / "extra")
    run_batch([SYNTHEA, extra], tmp_path / "out", now=NOW, workers=0, progress=False)
    before = _records(synthea_out)["Patient/ca15b832-01e4-41dd-6a52-97bd3e5510cb"]
    after = _records(tmp_path / "out")["Patient/ca15b832-01e4-41dd-6a52-97bd3e5510cb"]
    assert after["resources"] == before["resources"] + 2  # the request and its Medication
    evidence = {e for c in after["conclusions"] for e in c["evidence"]}
    assert "MedicationRequest/mr-ibu" in evidence  # ibuprofen was read through the reference


def _bad_patients(export: Path) -> None:
    """Two patients whose data cannot be evaluated, appended to a generated export."""
    with open(export / "Patient.000.ndjson", "a") as fh:
        fh.write(json.dumps({"resourceType": "Patient", "id": "bad-date", "gender": "male"}) + "\n")
        fh.write(json.dumps({"resourceType": "Patient", "id": "bad-json"}) + "\n")
    with open(export / "Condition.000.ndjson", "a") as fh:
        bad = {
            "resourceType": "Condition",
            "id": "c-bad",
            "subject": {"reference": "Patient/bad-date"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "279039007"}]},
            "onsetDateTime": "last tuesday",
        }
        fh.write(json.dumps(bad) + "\n")
        fh.write('{"resourceType":"Condition","subject":{"reference":"Patient/bad-json"},"x":}\n')


def test_failing_patients_are_recorded_and_never_stop_the_run(population: Path, tmp_path: Path):
    export = tmp_path / "export"
    shutil.copytree(population, export)
    _bad_patients(export)
    out = tmp_path / "out"
    report = run_batch([export], out, now=NOW, workers=2, progress=False)
    records = _records(out)
    assert len(records) == 242
    for ref in ("Patient/bad-date", "Patient/bad-json"):
        rec = records[ref]
        assert rec["status"] == "invalid"
        assert rec["outcome"]["resourceType"] == "OperationOutcome"
        assert rec["outcome"]["issue"][0]["diagnostics"]
    assert sum(r["status"] == "ok" for r in records.values()) == 240
    summary = report.summary
    assert summary["failed"] == 2
    assert {f["patient"] for f in summary["failures"]} == {"Patient/bad-date", "Patient/bad-json"}
    assert all(f["outcome"]["resourceType"] == "OperationOutcome" for f in summary["failures"])
    # --retry-failed evaluates them again (and only them)
    again = run_batch([export], out, workers=0, retry_failed=True, progress=False)
    assert (again.evaluated, again.skipped) == (2, 240)
    assert again.summary["patients"] == 242 and again.summary["failed"] == 2


def _crash_on_victim(group, **kw):  # runs in the forked worker
    if group.patient == _VICTIM:
        os._exit(3)  # what a crash in native code looks like to the pool
    return _REAL(group, **kw)


_REAL = runner.evaluate_group
_VICTIM = ""


@pytest.mark.skipif(runner.start_method() != "fork", reason="the fake crash needs fork")
def test_a_worker_that_dies_costs_only_its_patient(
    population: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    global _VICTIM
    victim = sorted(profiles_of(population))[17]
    _VICTIM = victim
    monkeypatch.setattr(runner, "evaluate_group", _crash_on_victim)  # inherited by the fork
    out = tmp_path / "out"
    run_batch([population], out, now=NOW, workers=2, progress=False)
    records = _records(out)
    assert len(records) == 240
    assert records[f"Patient/{victim}"]["status"] == "error"
    assert "worker process died" in json.dumps(records[f"Patient/{victim}"]["outcome"])
    assert sum(r["status"] == "ok" for r in records.values()) == 239


def _always_crash(group, **kw):
    os._exit(3)


@pytest.mark.skipif(runner.start_method() != "fork", reason="the fake crash needs fork")
def test_workers_that_always_die_stop_the_run_with_a_clear_error(
    population: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(runner, "evaluate_group", _always_crash)
    with pytest.raises(BatchError, match="in a row died"):
        run_batch([population], tmp_path / "out", now=NOW, workers=2, progress=False)


def test_workers_and_in_process_give_identical_records(population: Path, tmp_path: Path):
    run_batch([population], tmp_path / "a", now=NOW, workers=0, progress=False)
    run_batch([population], tmp_path / "b", now=NOW, workers=2, progress=False)
    a, b = _records(tmp_path / "a"), _records(tmp_path / "b")
    assert len(a) == 240 and a == b


def test_cli_generates_and_evaluates_a_population(tmp_path: Path):
    cli = CliRunner()
    r = cli.invoke(
        synth_command, ["--patients", "30", "--out", str(tmp_path / "x"), "--no-progress"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["resources"]["Patient"] == 30
    args = [str(tmp_path / "x"), "--out", str(tmp_path / "y"), "--now", NOW, "--no-progress"]
    r = cli.invoke(batch_command, [*args, "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "30 patients evaluated" in r.output and "by urgency" in r.output
    assert json.loads((tmp_path / "y" / "summary.json").read_text())["patients"] == 30
    r = cli.invoke(batch_command, [*args[:3], "--now", "2000-01-01", "--no-progress"])
    assert r.exit_code != 0 and "evaluated at" in r.output


def test_synthetic_red_flags_are_found_and_negated_data_is_not_evidence(tmp_path: Path):
    names = ["cauda_equina", "infection", "malignancy", "negated_red_flags", "irrelevant"]
    write_population(tmp_path / "x", 40, seed=8, now=NOW, profiles=names)
    run_batch([tmp_path / "x"], tmp_path / "y", now=NOW, workers=0, progress=False)
    profile = profiles_of(tmp_path / "x")
    seen = set()
    for ref, rec in _records(tmp_path / "y").items():
        name = profile[ref.removeprefix("Patient/")]
        seen.add(name)
        assert rec["status"] == "ok", rec
        red = [c for c in rec["conclusions"] if c["red_flag"]]
        if name == "cauda_equina":
            assert rec["urgency"] == "emergency" and "cauda_equina" in rec["categories"]
        elif name in ("infection", "malignancy"):
            assert red and rec["urgency"] in ("urgent", "emergency") and name in rec["categories"]
        elif name == "negated_red_flags":  # absent, refuted, entered-in-error, resolved
            assert not red and rec["urgency"] in ("self_care", "routine"), rec
        else:
            assert rec["conclusions"] == [] and rec["urgency"] is None
    assert seen == set(names)
