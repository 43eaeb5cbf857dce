"""``cds_backpain.pipeline``: ``evaluate()`` and its arguments."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from cds_backpain import (
    InputLimitError,
    Limits,
    evaluate,
    load_knowledge,
)
from cds_backpain.engine.reference import ReferenceEngine
from cds_backpain.pipeline import parse_now
from cds_backpain.testing import EXAMPLE_NOW

EXAMPLE = Path(__file__).resolve().parents[1] / "fhir_examples" / "09-cauda-equina-classic.json"


class NotAPath(os.PathLike[str]):
    """A path-like object that is not a pathlib.Path."""

    def __init__(self, path: Path):
        self.path = path

    def __fspath__(self) -> str:
        return str(self.path)


def test_the_evaluation_instant_is_an_aware_utc_datetime():
    assert parse_now("2026-06-01T12:00:00Z") == EXAMPLE_NOW
    assert parse_now("2026-06-01T14:00:00+02:00") == EXAMPLE_NOW
    assert parse_now(dt.datetime(2026, 6, 1, 12)) == EXAMPLE_NOW  # naive: taken as UTC
    now = parse_now(None)
    assert now.tzinfo is not None
    assert abs(now - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_every_input_form_gives_the_same_evaluation():
    text = EXAMPLE.read_text(encoding="utf-8")
    forms = [text, text.encode(), json.loads(text), EXAMPLE, NotAPath(EXAMPLE)]
    results = [evaluate(f, EXAMPLE_NOW).to_json() for f in forms]
    assert all(r == results[0] for r in results)
    assert results[0]["urgency"] == "emergency"
    entries = [e["resource"] for e in json.loads(text)["entry"]]
    assert evaluate(entries, EXAMPLE_NOW).conclusions == evaluate(text, EXAMPLE_NOW).conclusions


def test_the_instant_is_reported_and_decides_ages_and_durations():
    ev = evaluate(EXAMPLE, "2026-06-01T14:00:00+02:00")
    assert ev.now == "2026-06-01T12:00:00Z"


def test_an_engine_given_by_name_or_as_an_object_derives_the_same():
    by_name = evaluate(EXAMPLE, EXAMPLE_NOW, engine="reference")
    by_object = evaluate(EXAMPLE, EXAMPLE_NOW, engine=ReferenceEngine())
    durable = evaluate(EXAMPLE, EXAMPLE_NOW, engine="durable")
    assert by_name.engine == by_object.engine == "reference"
    assert by_name.conclusions == by_object.conclusions == durable.conclusions
    with pytest.raises(ValueError, match="unknown engine"):
        evaluate(EXAMPLE, EXAMPLE_NOW, engine="drools")


def test_the_knowledge_given_is_the_one_stamped_on_the_result():
    kb = load_knowledge()
    ev = evaluate(EXAMPLE, EXAMPLE_NOW, knowledge=kb)
    assert (ev.knowledge.version, ev.knowledge.digest) == (kb.version, kb.digest)


def test_limits_are_applied():
    with pytest.raises(InputLimitError):
        evaluate(EXAMPLE, EXAMPLE_NOW, limits=Limits(max_bytes=100))


def test_cards_and_bundle_are_rendered_on_first_access_and_kept():
    ev = evaluate(EXAMPLE, EXAMPLE_NOW)
    assert "cards" not in ev.__dict__ and "bundle" not in ev.__dict__
    cards = ev.cards
    assert cards and ev.cards is cards
    assert ev.bundle["resourceType"] == "Bundle"
    assert ev.to_json()["cards"] == list(cards)


def test_the_facts_the_rules_saw_are_reported_without_labels():
    ev = evaluate(EXAMPLE, EXAMPLE_NOW)
    assert ev.facts and all("label" not in f for f in ev.facts)
    assert [f["source"] for f in ev.facts if f["kind"] == "patient"] == [ev.patient]
    assert ev.counts["resources"] == ev.counts["used"] + ev.counts["ignored"]


def test_an_evaluation_is_immutable_and_knows_the_knowledge_it_used():
    import pydantic

    kb = load_knowledge()
    ev = evaluate(EXAMPLE, now=EXAMPLE_NOW, knowledge=kb)
    assert ev.knowledge_base is kb
    with pytest.raises(TypeError):
        ev.counts["used"] = 0  # type: ignore[index]
    with pytest.raises(TypeError):
        ev.ratings["ServiceRequest/x"] = "appropriate"  # type: ignore[index]
    with pytest.raises(pydantic.ValidationError):
        ev.engine = "other"  # type: ignore[misc]
    out = ev.to_json()
    assert type(out["counts"]) is dict and type(out["ratings"]) is dict
    assert "rendering" not in out
    assert json.loads(json.dumps(out)) == out


def test_the_evaluation_instant_is_checked_in_the_library():
    from cds_backpain import InvalidInputError
    from cds_backpain.pipeline import EARLIEST, LATEST

    assert parse_now(EARLIEST) == EARLIEST
    for bad in (LATEST, dt.datetime.max, "1899-12-31T23:59:59Z", "not an instant"):
        with pytest.raises(InvalidInputError) as err:
            parse_now(bad)
        assert err.value.outcome["issue"][0]["expression"] == ["now"]
