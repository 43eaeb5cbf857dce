"""Every transport reaches the same conclusions as ``evaluate()``.

Each bundled example goes through the library, the service (data as prefetch, and data
fetched from a FHIR server), and the batch; a resource type that one transport drops
(a post-discectomy Procedure was) shows up as a different conclusion list. The Spark
batch is checked the same way in tests/test_spark.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from batch_support import library_conclusions, write_examples_export
from service_support import hook_request, patient_id

from cds_backpain import evaluate
from cds_backpain.batch.runner import run_batch
from cds_backpain.batch.summary import read_records
from cds_backpain.examples import EXAMPLES_NOW, load_examples

SIGN = "lbp-imaging-order-sign"
EXAMPLES = load_examples()


def _resources(example) -> list[dict]:
    return [e["resource"] for e in json.loads(example.path.read_text())["entry"]]


def _topics(cards: list[dict]) -> list[str]:
    return sorted(c["source"]["topic"]["code"] for c in cards)


@pytest.fixture(scope="module")
def library() -> dict[str, tuple[list[str], list[str]]]:
    """Per patient: conclusion ids and card topics of ``evaluate()``."""
    out = {}
    for ex in EXAMPLES:
        ev = evaluate(ex.path, now=EXAMPLES_NOW)
        out[ev.patient] = (sorted(c.id for c in ev.conclusions), _topics(ev.cards))
    return out


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> dict[str, list[str]]:
    export = write_examples_export(tmp_path_factory.mktemp("examples-export"))
    out = Path(export.parent / "examples-out")
    run_batch([export], out, now=EXAMPLES_NOW, workers=0, progress=False)
    return {
        r["patient"]: sorted(c["id"] for c in r["conclusions"])
        for r in read_records(out / "results.ndjson")
    }


def test_the_examples_cover_every_resource_type_the_rules_read():
    types = {r["resourceType"] for ex in EXAMPLES for r in _resources(ex)}
    assert {"Procedure", "ServiceRequest", "Condition", "Observation"} <= types


def test_every_type_evaluate_reads_has_a_way_in_through_every_transport():
    """The service fetches (prefetch templates; ServiceRequests come as draft orders) and
    the batch reads every type ingest validates, the types evaluate() reads."""
    from cds_backpain.batch.ndjson import RELEVANT_TYPES
    from cds_backpain.ingest.r4 import VALIDATED_TYPES
    from cds_backpain.service.prefetch import PREFETCH_TEMPLATES, template_type

    templated = {template_type(t) for t in PREFETCH_TEMPLATES.values()}
    # A Medication is read through the medicationReference of a course, not by search.
    assert VALIDATED_TYPES - {"Medication", "ServiceRequest"} <= templated
    assert VALIDATED_TYPES <= RELEVANT_TYPES


def test_batch_concludes_what_the_library_concludes(library, batch):
    assert {p: ids for p, (ids, _) in library.items()} == batch == library_conclusions()


@pytest.mark.parametrize("ex", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_service_with_prefetch_shows_the_library_cards(service, library, ex):
    resources = _resources(ex)
    r = service.call(SIGN, hook_request("order-sign", resources))
    assert r.status_code == 200, r.text
    assert _topics(r.json()["cards"]) == library[f"Patient/{patient_id(resources)}"][1]


@pytest.mark.parametrize("ex", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_service_fetching_from_a_fhir_server_shows_the_library_cards(
    dev_service, fhir_server, library, ex
):
    resources = _resources(ex)
    body = hook_request("order-sign", resources, prefetch=None, fhirServer=fhir_server.base("open"))
    r = dev_service.call(SIGN, body)
    assert r.status_code == 200, r.text
    assert _topics(r.json()["cards"]) == library[f"Patient/{patient_id(resources)}"][1]
