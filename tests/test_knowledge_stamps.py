"""Every output names the knowledge version and digest it came from: the JSON contract,
each card, each FHIR Provenance and RequestGroup, and each batch record."""

from __future__ import annotations

import json

import pytest

from cds_backpain import evaluate
from cds_backpain.batch.records import evaluate_group
from cds_backpain.examples import EXAMPLES_NOW, load_examples
from cds_backpain.kb.loader import load_knowledge

DIGEST_SYSTEM = "https://cds-backpain.example.org/fhir/knowledge-digest"


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


@pytest.fixture(scope="module")
def evaluation():
    ex = next(e for e in load_examples() if e.name.startswith("09-"))
    return evaluate(ex.path, now=EXAMPLES_NOW)


def stamp(kb):
    return {"version": kb.version, "digest": kb.digest}


def test_json_contract_names_the_knowledge(kb, evaluation):
    assert evaluation.to_json()["knowledge"] == stamp(kb)


def test_every_card_names_the_knowledge_version_and_digest(kb, evaluation):
    assert evaluation.cards
    for card in evaluation.cards:
        assert card["source"]["topic"]["version"] == kb.version
        assert card["extension"]["cds-backpain.knowledge"] == stamp(kb)


def test_every_provenance_and_the_request_group_name_the_digest(kb, evaluation):
    resources = [e["resource"] for e in evaluation.bundle["entry"]]
    provenances = [r for r in resources if r["resourceType"] == "Provenance"]
    assert provenances
    for prov in provenances:
        (agent,) = prov["agent"]
        assert agent["who"]["identifier"] == {
            "system": DIGEST_SYSTEM,
            "value": f"sha256:{kb.digest}",
        }
        assert f"knowledge {kb.version}" in agent["who"]["display"]
    (rg,) = [r for r in resources if r["resourceType"] == "RequestGroup"]
    assert rg["identifier"][0]["value"] == f"sha256:{kb.digest}"


def test_batch_records_name_the_knowledge_also_when_the_input_is_invalid(kb):
    ex = next(e for e in load_examples() if e.name.startswith("09-"))
    lines = [json.dumps(e["resource"]) for e in json.loads(ex.path.read_text())["entry"]]
    pid = next(json.loads(ln)["id"] for ln in lines if '"Patient"' in ln)
    ok = evaluate_group((pid, lines), now=EXAMPLES_NOW, knowledge=kb)
    assert ok["status"] == "ok" and ok["knowledge"] == stamp(kb)
    bad = evaluate_group(
        (pid, ['{"resourceType": "Patient", "id": 5}']), now=EXAMPLES_NOW, knowledge=kb
    )
    assert bad["status"] == "invalid" and bad["knowledge"] == stamp(kb)
