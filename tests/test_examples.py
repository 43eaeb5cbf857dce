"""Every bundled clinical example evaluates to its expected outcome, on both engines."""

from __future__ import annotations

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from cds_backpain import evaluate
from cds_backpain.examples import load_examples, mismatches

EXAMPLES = load_examples()


def test_there_are_enough_examples():
    assert len(EXAMPLES) >= 30


@pytest.mark.parametrize("engine", ["durable", "reference"])
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_matches_expectation(example, engine):
    ev = evaluate(example.path.read_bytes(), now=example.now, engine=engine)
    assert mismatches(example, ev) == []
    if ev.red_flags:
        assert not any(c.self_care for c in ev.conclusions), "self-care beside a red flag"
    for c in ev.conclusions:
        assert c.provenance
    # outputs validate (built without re-validation at run time; proven here for every example)
    Bundle.model_validate(ev.bundle)
    for card in ev.cards:
        for s in card.get("suggestions", []):
            for action in s.get("actions", []):
                if "resource" in action:
                    get_fhir_model_class(action["resource"]["resourceType"]).model_validate(
                        action["resource"]
                    )
