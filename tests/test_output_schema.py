"""The shipped JSON Schema of ``Evaluation.to_json()`` holds for every bundled example."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from cds_backpain import evaluate
from cds_backpain.examples import load_examples
from cds_backpain.output_schema import SCHEMA_PATH, load_schema, render

EXAMPLES = load_examples()


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_shipped_schema_is_current():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(), (
        "regenerate it: python -m cds_backpain.output_schema"
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_every_example_output_matches_the_schema(validator, example):
    out = json.loads(json.dumps(evaluate(example.path.read_bytes(), now=example.now).to_json()))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(out)]
    assert errors == []


def test_the_schema_rejects_what_the_contract_excludes(validator):
    ex = next(e for e in EXAMPLES if "cauda-equina" in e.name)
    good = json.loads(json.dumps(evaluate(ex.path.read_bytes(), now=ex.now).to_json()))
    for break_it in (
        lambda o: o.update(urgency="soon"),
        lambda o: o.pop("knowledge"),
        lambda o: o["conclusions"][0].update(provenance=[]),
        lambda o: (
            o["conclusions"][0]["provenance"][0].pop("citation", None)
            or o["conclusions"][0]["provenance"][0].pop("sha256")
        ),
        lambda o: o["cards"][0].update(indicator="urgent"),
        lambda o: o.update(surprise=1),
    ):
        bad = copy.deepcopy(good)
        break_it(bad)
        assert not validator.is_valid(bad)
