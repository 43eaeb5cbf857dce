"""Reading a Bulk Data export: every patient's resources, and only theirs, in bounded memory."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from cds_backpain.batch.ndjson import PATIENT_TYPES, PatientGroup, classify, partition

SYNTHEA = Path(__file__).resolve().parent / "data" / "synthea-bulk-10pt"
LBP_PATIENTS = {"ca15b832-01e4-41dd-6a52-97bd3e5510cb", "fb7c882a-f897-e7c5-67e0-825e7fd55d15"}

needs_synthea = pytest.mark.skipif(not SYNTHEA.is_dir(), reason=f"no Synthea export at {SYNTHEA}")


def _oracle(directory: Path) -> Counter[str]:
    """Patient id -> number of its relevant resources, by parsing every line (the slow way)."""
    counts: Counter[str] = Counter()
    for f in directory.glob("*.ndjson"):
        for line in f.read_text().splitlines():
            res = json.loads(line)
            rtype = res.get("resourceType")
            if rtype == "Patient":
                counts[res["id"]] += 1
            elif rtype in PATIENT_TYPES:
                ref = (res.get("subject") or res.get("patient") or {}).get("reference", "")
                counts[ref.removeprefix("Patient/").removeprefix("urn:uuid:")] += 1
    return counts


def _groups(paths: list[Path], **kw: object) -> dict[str, PatientGroup]:
    with partition(paths, **kw) as parts:  # type: ignore[arg-type]
        return {g.patient: g for g in parts}


@needs_synthea
def test_synthea_export_is_grouped_exactly_like_a_full_parse():
    groups = _groups([SYNTHEA])
    assert {p: len(g.lines) for p, g in groups.items()} == dict(_oracle(SYNTHEA))
    assert len(groups) == 13
    assert set(groups) >= LBP_PATIENTS
    for pid in LBP_PATIENTS:
        codes = {
            c["code"]
            for r in groups[pid].resources()
            if r["resourceType"] == "Condition"
            for c in r["code"]["coding"]
        }
        assert "278860009" in codes  # chronic low back pain
        first = groups[pid].resources()[0]
        assert (first["resourceType"], first["id"]) == ("Patient", pid)


@needs_synthea
def test_irrelevant_files_are_skipped_and_non_resources_counted(tmp_path: Path):
    with partition([SYNTHEA]) as parts:
        stats = parts.stats
        shard_dir = parts.directory
        assert shard_dir.is_dir()
    assert not shard_dir.exists()  # shards are removed on exit
    assert {"DocumentReference.000.ndjson", "Encounter.000.ndjson"} <= set(stats.skipped_files)
    assert stats.unreadable == 4  # log.ndjson: JSON lines that are not resources
    assert stats.patients == 13
    assert stats.by_type["Condition"] == 555 and stats.by_type["MedicationRequest"] == 1745


@needs_synthea
def test_small_shards_give_the_same_groups():
    one = _groups([SYNTHEA])
    many_parts = partition([SYNTHEA], shard_bytes=64 * 1024)
    with many_parts as parts:
        assert len(parts.shards) > 10
        many = {g.patient: g for g in parts}
    assert {p: sorted(g.lines) for p, g in many.items()} == {
        p: sorted(g.lines) for p, g in one.items()
    }


def _write(path: Path, resources: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    return path


def test_a_contained_subject_never_moves_a_resource_to_another_patient(tmp_path: Path):
    cond = {
        "resourceType": "Condition",
        "id": "c1",
        "contained": [
            {"resourceType": "Observation", "id": "o", "subject": {"reference": "Patient/B"}}
        ],
        "subject": {"reference": "Patient/A"},
        "code": {"text": "x"},
    }
    rtype, pid, _ = classify(json.dumps(cond).encode())
    assert (rtype, pid) == ("Condition", "A")
    _write(tmp_path / "Condition.000.ndjson", [cond])
    groups = _groups([tmp_path])
    assert set(groups) == {"A"}


def test_urn_uuid_and_patient_keys_and_pretty_spacing(tmp_path: Path):
    lines = [
        '{"resourceType": "Patient", "id": "p1"}',
        '{ "resourceType" : "Condition", "id": "c1", "subject" : { "reference" : "urn:uuid:p1" } }',
        '{"id": "o1", "resourceType": "Observation", "subject": {"reference": "Patient/p1"}}',
        '{"resourceType": "MedicationStatement", "id": "m1", "subject": {"display": "x", '
        '"reference": "Patient/p1"}}',
        '{"resourceType": "Observation", "id": "orphan", "status": "final"}',
        "not json at all",
        "",
    ]
    (tmp_path / "mixed.ndjson").write_text("\n".join(lines) + "\n")
    with partition([tmp_path]) as parts:
        groups = {g.patient: g for g in parts}
        stats = parts.stats
    assert set(groups) == {"p1"}
    assert [r["id"] for r in groups["p1"].resources()] == ["p1", "c1", "m1", "o1"]
    assert stats.orphans == 1 and stats.unreadable == 1


def test_referenced_medications_join_their_patients_only(tmp_path: Path):
    _write(
        tmp_path / "Medication.000.ndjson",
        [
            {"resourceType": "Medication", "id": "ibu", "code": {"text": "ibuprofen"}},
            {"resourceType": "Medication", "id": "unused", "code": {"text": "x"}},
        ],
    )
    _write(
        tmp_path / "MedicationRequest.000.ndjson",
        [
            {
                "resourceType": "MedicationRequest",
                "id": "mr1",
                "status": "active",
                "intent": "order",
                "medicationReference": {"reference": "Medication/ibu"},
                "subject": {"reference": "Patient/a"},
            },
            {
                "resourceType": "MedicationRequest",
                "id": "mr2",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": {"text": "x"},
                "subject": {"reference": "Patient/b"},
            },
        ],
    )
    groups = _groups([tmp_path])
    a = [(r["resourceType"], r["id"]) for r in groups["a"].resources()]
    assert a == [("Medication", "ibu"), ("MedicationRequest", "mr1")]
    assert [r["id"] for r in groups["b"].resources()] == ["mr2"]


def test_gzip_files_and_misnamed_files_are_read(tmp_path: Path):
    with gzip.open(tmp_path / "Patient.000.ndjson.gz", "wt") as fh:
        fh.write(json.dumps({"resourceType": "Patient", "id": "z"}) + "\n")
    # named like an irrelevant type but holding Conditions: the first line decides
    _write(
        tmp_path / "Encounter.000.ndjson",
        [{"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/z"}}],
    )
    groups = _groups([tmp_path])
    assert [r["id"] for r in groups["z"].resources()] == ["z", "c"]


def test_a_group_drops_lines_of_another_patient():
    lines = (
        b'{"resourceType":"Patient","id":"a"}',
        b'{"resourceType":"Condition","id":"x","subject":{"reference":"Patient/b"}}',
    )
    assert [r["id"] for r in PatientGroup("a", lines).resources()] == ["a"]


def test_missing_input_is_an_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        partition([tmp_path / "nope"])
