"""The rules each bundled example fires, not only the categories it ends in.

``tests/data/example_firings.json`` records, per example, every rule that fired and every
recommendation that reached the clinician, as reviewed. Both engines must reproduce it
exactly, so a rule that starts or stops firing on an example shows up here even when the
categories stay the same. After a deliberate change, regenerate and review the diff:

    PYTHONPATH=. .venv/bin/python tests/test_example_firings.py --update
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cds_backpain import evaluate
from cds_backpain.examples import load_examples

RECORD = Path(__file__).resolve().parent / "data" / "example_firings.json"
EXAMPLES = load_examples()


def firings(example, engine: str = "durable") -> dict[str, list[str]]:
    ev = evaluate(example.path.read_bytes(), now=example.now, engine=engine)
    return {
        "fired": sorted(d.rule for d in ev.derivations),
        "recommended": [c.id for c in ev.conclusions],
    }


UPDATE = "PYTHONPATH=. .venv/bin/python tests/test_example_firings.py --update"


def test_every_example_is_recorded():
    recorded = json.loads(RECORD.read_text(encoding="utf-8"))
    missing = sorted({e.name for e in EXAMPLES} - set(recorded))
    stale = sorted(set(recorded) - {e.name for e in EXAMPLES})
    assert not missing and not stale, (
        f"examples without a record {missing}, records without an example {stale}: "
        f"run `{UPDATE}` and review the diff"
    )


@pytest.mark.parametrize("engine", ["durable", "reference"])
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_fires_the_recorded_rules(example, engine):
    recorded = json.loads(RECORD.read_text(encoding="utf-8")).get(example.name)
    assert recorded is not None, f"{example.name} has no record: run `{UPDATE}`"
    assert firings(example, engine) == recorded, f"if the change is meant, run `{UPDATE}`"


if __name__ == "__main__" and "--update" in sys.argv:
    data = {e.name: firings(e) for e in EXAMPLES}
    RECORD.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {RECORD} ({len(data)} examples)")
