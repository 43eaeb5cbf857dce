"""The synthetic population generator: reproducible, valid FHIR, coded from the value sets."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from cds_backpain.batch.ndjson import partition
from cds_backpain.batch.synth import (
    PROFILES,
    Codes,
    Generator,
    profiles_of,
    synthetic_patient,
    write_population,
)


def _digest(directory: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(directory.glob("*.ndjson")):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def test_same_seed_same_export_other_seed_other_export(tmp_path: Path):
    a = write_population(tmp_path / "a", 300, seed=5)
    write_population(tmp_path / "b", 300, seed=5)
    write_population(tmp_path / "c", 300, seed=6)
    assert a["Patient"] == 300
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_export_is_bulk_format_and_groups_back_into_its_patients(tmp_path: Path):
    counts = write_population(tmp_path, 500, seed=2, lines_per_file=400)
    assert (tmp_path / "Condition.001.ndjson").exists()  # split like a Bulk server does
    profiles = profiles_of(tmp_path)
    with partition([tmp_path]) as parts:
        groups = {g.patient: g for g in parts}
    assert set(groups) == set(profiles)
    assert sum(len(g.lines) for g in groups.values()) == sum(counts.values())


def test_every_resource_validates_with_fhir_resources(tmp_path: Path):
    write_population(tmp_path, 150, seed=3)
    n = 0
    for f in tmp_path.glob("*.ndjson"):
        for line in f.read_text().splitlines():
            res = json.loads(line)
            get_fhir_model_class(res["resourceType"]).model_validate(res)
            n += 1
    assert n > 500


def test_profile_items_are_coded_from_their_value_sets():
    from cds_backpain.batch.synth import _load_valuesets

    index = _load_valuesets()
    gen = Generator(seed=4, codes=Codes(index))
    for profile in PROFILES:
        _, _, resources = gen.patient(profile)
        wanted = {i.concept for i in profile.items if i.p == 1.0}
        found = set()
        for r in resources[1:]:
            concept = r.get("code") or r.get("medicationCodeableConcept")
            for c in concept["coding"]:
                found.update(m.concept for m in index.lookup(c["system"], c["code"]))
        assert wanted <= found, profile.name


def test_background_data_matches_no_value_set():
    from cds_backpain.batch.synth import _load_valuesets

    index = _load_valuesets()
    _, _, resources = Generator(seed=9, codes=Codes(index)).patient("irrelevant", resources=60)
    for r in resources[1:]:
        concept = r.get("code") or r.get("medicationCodeableConcept")
        assert not index.lookup(concept["coding"][0]["system"], concept["coding"][0]["code"])


def test_population_mix_follows_the_profile_weights():
    gen = Generator(seed=11)
    seen = Counter(gen.profile().name for _ in range(20_000))
    total = sum(p.weight for p in PROFILES)
    for p in PROFILES:
        assert seen[p.name] / 20_000 == pytest.approx(p.weight / total, abs=0.015), p.name


@pytest.mark.parametrize("size", [20, 200])
def test_benchmark_patients_have_the_requested_size(size: int):
    resources = synthetic_patient(size)
    assert len(resources) == size
    assert resources[0]["resourceType"] == "Patient"
    pid = resources[0]["id"]
    assert all(r["subject"]["reference"] == f"Patient/{pid}" for r in resources[1:])
