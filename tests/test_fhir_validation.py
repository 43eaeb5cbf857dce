"""Independent FHIR R4 validation of everything we emit.

The official R4 JSON Schema and the R4 invariants (FHIRPath, from HL7's published
StructureDefinitions, see ``tests/fhir_r4.py``) are applied to every bundle and every
suggested resource of every bundled example, and to every conformance resource we
serve. fhir.resources alone evaluates no invariant: rqg-1 failed on every bundle.
"""

from __future__ import annotations

import copy
import json

import fhir_r4
import pytest
from hypothesis import given, settings

from cds_backpain import evaluate
from cds_backpain.emit.conformance import conformance_resources
from cds_backpain.examples import EXAMPLES_NOW, load_examples
from cds_backpain.kb.loader import load_knowledge
from cds_backpain.testing.strategies import patient_bundles

EXAMPLES = load_examples()


@pytest.fixture(scope="module")
def evaluations():
    return {ex.name: evaluate(ex.path, now=EXAMPLES_NOW) for ex in EXAMPLES}


def test_the_validator_finds_what_fhir_resources_misses():
    """The checks can fail: a RequestGroup action with neither resource nor sub-action
    (rqg-1), an extension with neither value nor extensions (ext-1), an empty element
    (ele-1), and a schema error."""
    rg = {
        "resourceType": "RequestGroup",
        "status": "active",
        "intent": "proposal",
        "action": [{"title": "x"}],
        "extension": [{"url": "https://x.test/e"}],
        "subject": {},
    }
    found = fhir_r4.problems(rg)
    assert any("rqg-1" in p for p in found)
    assert any("ext-1" in p for p in found)
    assert any("ele-1" in p for p in found)
    assert fhir_r4.schema_errors({**rg, "status": 3})


@pytest.mark.parametrize("name", [ex.name for ex in EXAMPLES])
def test_every_bundle_validates(evaluations, name):
    bundle = evaluations[name].bundle
    assert fhir_r4.problems(bundle) == []
    assert fhir_r4.UNEVALUATED == {}


def test_every_suggested_resource_validates(evaluations):
    found = {}
    for name, ev in evaluations.items():
        for card in ev.cards:
            for s in card.get("suggestions", ()):
                for action in s["actions"]:
                    if "resource" in action:
                        problems = fhir_r4.problems(action["resource"])
                        if problems:
                            found[f"{name}: {s['label']}"] = problems
    assert found == {}


def test_every_served_conformance_resource_validates():
    served = conformance_resources(load_knowledge())
    assert {t for t, _ in served} == {"CodeSystem", "StructureDefinition", "ValueSet"}
    found = {f"{t}/{i}": fhir_r4.problems(r) for (t, i), r in served.items()}
    assert {k: v for k, v in found.items() if v} == {}


def test_a_broken_bundle_is_caught(evaluations):
    bundle = copy.deepcopy(evaluations[EXAMPLES[0].name].bundle)
    rg = bundle["entry"][0]["resource"]
    for action in rg["action"]:
        action.pop("resource", None)
        action.pop("action", None)
    assert any("rqg-1" in p for p in fhir_r4.invariant_errors(bundle)), json.dumps(rg)[:300]


@settings(max_examples=12, deadline=None, database=None)
@given(patient_bundles(now=EXAMPLES_NOW, max_resources=6))
def test_generated_patients_get_valid_fhir(data):
    """Any patient the QA kit can generate gets a bundle and suggestions that validate."""
    ev = evaluate(data, now=EXAMPLES_NOW)
    assert fhir_r4.problems(ev.bundle) == []
    for card in ev.cards:
        for s in card.get("suggestions", ()):
            for action in s["actions"]:
                assert fhir_r4.problems(action["resource"]) == []
