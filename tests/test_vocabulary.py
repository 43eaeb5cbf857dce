"""The vocabulary kb and evaluation share: generated from the knowledge, checked at load."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import get_args

import pytest
import yaml

from cds_backpain import KnowledgeError
from cds_backpain.kb.codegen import CATEGORY_CODESYSTEM, CATEGORY_MODULE, main, render_categories
from cds_backpain.kb.loader import knowledge_root, load_knowledge
from cds_backpain.vocabulary import Category, Imaging, Rating, Urgency

ROOT = knowledge_root()


def test_the_generated_categories_are_current():
    codesystem = json.loads((ROOT / CATEGORY_CODESYSTEM).read_text(encoding="utf-8"))
    assert CATEGORY_MODULE.read_text(encoding="utf-8") == render_categories(codesystem), (
        "cds_backpain/vocabulary/categories.py is stale: run python -m cds_backpain.kb.codegen"
    )
    assert main(["--check"]) == 0
    assert list(get_args(Category)) == [c["code"] for c in codesystem["concept"]]


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    shutil.copytree(ROOT, root)
    return root


def test_a_category_the_generated_vocabulary_lacks_is_refused_at_load(tmp_path):
    root = _copy(tmp_path)
    path = root / CATEGORY_CODESYSTEM
    cs = json.loads(path.read_text(encoding="utf-8"))
    cs["concept"].append(
        {"code": "new_category", "display": "new category", "definition": "A new one."}
    )
    path.write_text(json.dumps(cs), encoding="utf-8")
    with pytest.raises(
        KnowledgeError, match=re.escape("regenerate with python -m cds_backpain.kb.codegen")
    ):
        load_knowledge(root)


def _edit_yaml(root: Path, name: str, edit) -> None:
    path = root / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("urgency_order", ["self_care", "routine", "urgent"]),  # emergency missing
        ("imaging_order", ["none", "xray", "mri", "ct", "urgent_mri", "ct"]),  # ct twice
    ],
)
def test_the_headline_orders_list_every_value_exactly_once(tmp_path, field, value):
    root = _copy(tmp_path)
    _edit_yaml(root, "policy.yaml", lambda d: d.__setitem__(field, value))
    with pytest.raises(KnowledgeError, match=f"policy.yaml: {field}: .*exactly once"):
        load_knowledge(root)


def test_the_headline_orders_come_from_the_policy():
    policy = load_knowledge().policy
    assert policy.urgency_order == ("self_care", "routine", "urgent", "emergency")
    assert policy.imaging_order == ("none", "xray", "mri", "ct", "urgent_mri")
    assert sorted(policy.urgency_order) == sorted(get_args(Urgency))
    assert sorted(policy.imaging_order) == sorted(get_args(Imaging))
    assert policy.imaging_rank("ct") < policy.imaging_rank("urgent_mri")
    assert policy.urgency_rank(None) == -1


@pytest.mark.parametrize(
    ("section", "field", "key"),
    [
        ("wording", "urgency", "routine"),
        ("wording", "imaging", "ct"),
        ("wording", "rating", "not-appropriate"),
        ("fhir", "priority", "emergency"),
        ("fhir", "detected_issue_severity", "urgent"),
    ],
)
def test_every_urgency_imaging_and_rating_has_its_words(tmp_path, section, field, key):
    root = _copy(tmp_path)
    _edit_yaml(root, "templates.yaml", lambda d: d[section][field].pop(key))
    with pytest.raises(KnowledgeError, match=f"templates.yaml: {section}: {field}: .*{key}"):
        load_knowledge(root)


def test_the_words_cover_the_vocabulary():
    kb = load_knowledge()
    assert set(kb.wording.urgency) == set(get_args(Urgency))
    assert set(kb.wording.imaging) == set(get_args(Imaging))
    assert set(kb.wording.rating) == set(get_args(Rating))
    assert kb.fhir_codes.priority["emergency"] == "stat"
    assert kb.fhir_codes.detected_issue_severity["urgent"] == "high"


ROLE_URL = "https://cds-backpain.example.org/fhir/StructureDefinition/ingest-role"


def test_the_concepts_ingest_derives_from_are_named_by_the_value_sets():
    roles = load_knowledge().valuesets.roles
    assert roles == {
        "running-load-change": "running_load_change",
        "weekly-distance-series": "weekly_running_distance",
        "weight-loss": "weight_loss_pct",
        "weight-series": "body_weight",
    }


def _drop_role(root: Path, name: str) -> dict:
    path = root / "valuesets" / f"{name}.json"
    vs = json.loads(path.read_text(encoding="utf-8"))
    vs["extension"] = [e for e in vs["extension"] if e["url"] != ROLE_URL]
    path.write_text(json.dumps(vs), encoding="utf-8")
    return vs


def test_an_ingest_role_no_value_set_plays_is_refused_at_load(tmp_path):
    root = _copy(tmp_path)
    _drop_role(root, "weight-loss-pct")
    with pytest.raises(KnowledgeError, match="no measure value set has ingest-role 'weight-loss'"):
        load_knowledge(root)


def test_an_ingest_role_is_played_by_one_measure_only(tmp_path):
    root = _copy(tmp_path)
    path = root / "valuesets" / "sciatica.json"
    vs = json.loads(path.read_text(encoding="utf-8"))
    vs["extension"].append({"url": ROLE_URL, "valueCode": "weight-series"})
    path.write_text(json.dumps(vs), encoding="utf-8")
    with pytest.raises(KnowledgeError, match="ingest-role is only for measures"):
        load_knowledge(root)


def test_ingest_reads_exactly_the_qualifier_value_sets_the_loader_requires():
    from cds_backpain.ingest.qualifiers import REQUIRED
    from cds_backpain.kb.valuesets import INGEST_QUALIFIERS

    assert set(REQUIRED) == INGEST_QUALIFIERS
    assert set(load_knowledge().valuesets.qualifiers) >= INGEST_QUALIFIERS


def test_a_missing_answer_value_set_is_refused_at_load(tmp_path):
    root = _copy(tmp_path)
    (root / "valuesets" / "answer-present.json").unlink()
    with pytest.raises(KnowledgeError, match=re.escape("answer-present.json is missing")):
        load_knowledge(root)


def test_the_builders_and_the_synthetic_batch_write_the_knowledge_answer_codes():
    from cds_backpain.batch import synth
    from cds_backpain.testing import builders

    kb = load_knowledge()
    for coding, key in ((builders.PRESENT, "answer_present"), (builders.ABSENT, "answer_absent")):
        (match,) = kb.valuesets.lookup(coding["system"], coding["code"])
        assert match.concept == key
    assert synth.PRESENT["coding"][0]["code"] == builders.PRESENT["code"] == "52101004"
    assert synth.ABSENT["coding"][0]["code"] == builders.ABSENT["code"] == "2667000"
    for side, coding in builders.SIDE_QUALIFIERS.items():
        (match,) = kb.valuesets.lookup(coding["system"], coding["code"])
        assert (match.concept, match.laterality) == ("body_site_side", side)
    assert set(builders.SIDE_QUALIFIERS) == {"left", "right", "bilateral"}
