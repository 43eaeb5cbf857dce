"""A draft imaging order that records no indication and that no criterion rates is not
rated "no criteria apply": the evaluation asks for its indication (PAMA), the same answer
for the library, the batch and the service (tests/service/test_order_hooks.py)."""

from __future__ import annotations

import copy
import json

import pytest

from cds_backpain import evaluate
from cds_backpain.batch.runner import run_batch
from cds_backpain.batch.summary import read_records
from cds_backpain.examples import EXAMPLES_NOW, load_examples
from cds_backpain.testing.invariants import check_all_invariants

CPT = "http://www.ama-assn.org/go/cpt"
PATIENT = {"resourceType": "Patient", "id": "p", "birthDate": "1980-01-01", "gender": "female"}
ASK = "Add the indication to the draft MRI lumbar spine without contrast so that"
NO_CRITERIA = "imaging-order-no-criteria"


def mri_draft(rid: str = "mri", subject: str = "Patient/p", reason: str | None = None) -> dict:
    out = {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": subject},
        "code": {
            "coding": [{"system": CPT, "code": "72148", "display": "MRI lumbar spine"}],
            "text": "MRI lumbar spine without contrast",
        },
    }
    if reason is not None:
        out["reasonCode"] = [{"text": reason}]
    return out


def bundle(*resources: dict) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def example_without_orders(fragment: str) -> list[dict]:
    (ex,) = [e for e in load_examples() if fragment in e.name]
    entries = json.loads(ex.path.read_text(encoding="utf-8"))["entry"]
    return [e["resource"] for e in entries if e["resource"]["resourceType"] != "ServiceRequest"]


def _asking(cards) -> list[dict]:
    return [c for c in cards if c["summary"].startswith("Add the indication")]


def test_an_order_without_indication_is_not_rated_and_gets_a_card_asking_for_it():
    ev = evaluate(bundle(PATIENT, mri_draft()), now=EXAMPLES_NOW)
    assert dict(ev.ratings) == {}
    assert ev.missing_indication == ("ServiceRequest/mri",)
    assert NO_CRITERIA not in {c.id for c in ev.conclusions}
    (card,) = ev.cards
    assert card["summary"].startswith(ASK)
    assert card["indicator"] == "warning"
    assert "has not been rated" in card["detail"]
    assert "ServiceRequest/" not in card["summary"] + card["detail"]
    out = ev.to_json()
    assert out["ratings"] == {} and out["missing_indication"] == ["ServiceRequest/mri"]
    check_all_invariants(ev, data=bundle(PATIENT, mri_draft()))


def test_an_order_with_an_indication_matching_no_criterion_stays_no_criteria_apply():
    ev = evaluate(bundle(PATIENT, mri_draft(reason="back pain")), now=EXAMPLES_NOW)
    assert dict(ev.ratings) == {"ServiceRequest/mri": "no-criteria-apply"}
    assert ev.missing_indication == ()
    assert [c.id for c in ev.conclusions] == [NO_CRITERIA]
    assert _asking(ev.cards) == []


def test_an_indication_by_reference_counts():
    draft = mri_draft()
    draft["reasonReference"] = [{"reference": "Condition/lbp"}]
    ev = evaluate(bundle(PATIENT, draft), now=EXAMPLES_NOW)
    assert dict(ev.ratings) == {"ServiceRequest/mri": "no-criteria-apply"}
    assert ev.missing_indication == ()


def test_only_the_order_without_indication_is_asked_for_it():
    ev = evaluate(
        bundle(PATIENT, mri_draft("a"), mri_draft("b", reason="back pain")), now=EXAMPLES_NOW
    )
    assert dict(ev.ratings) == {"ServiceRequest/b": "no-criteria-apply"}
    assert ev.missing_indication == ("ServiceRequest/a",)
    (rating,) = [c for c in ev.conclusions if c.id == NO_CRITERIA]
    assert rating.orders == ("ServiceRequest/b",)
    assert len(_asking(ev.cards)) == 1


def test_a_not_appropriate_rating_stands_without_an_indication():
    resources = example_without_orders("02-mechanical-mri-order-not-indicated")
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    ev = evaluate(bundle(*resources, mri_draft(subject=f"Patient/{pid}")), now=EXAMPLES_NOW)
    assert dict(ev.ratings) == {"ServiceRequest/mri": "not-appropriate"}
    assert ev.missing_indication == ()


def test_a_red_flag_beside_an_order_without_indication_still_leads():
    resources = example_without_orders("86-major-trauma")
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    alone = evaluate(bundle(*resources), now=EXAMPLES_NOW)
    data = bundle(*resources, mri_draft(subject=f"Patient/{pid}"))
    ev = evaluate(data, now=EXAMPLES_NOW)
    assert alone.red_flags
    assert ev.red_flags == alone.red_flags
    assert ev.urgency == alone.urgency and ev.imaging == alone.imaging
    assert ev.missing_indication == ("ServiceRequest/mri",)
    assert "ServiceRequest/mri" not in ev.ratings
    assert ev.cards[0]["indicator"] == "critical"
    (card,) = _asking(ev.cards)
    assert card is ev.cards[-1] and card["indicator"] == "warning"
    flagged = {c["source"]["topic"]["code"] for c in ev.cards if "topic" in c["source"]}
    assert {c.id for c in alone.red_flags} <= flagged
    check_all_invariants(ev, data=data)


def test_a_red_flag_that_makes_the_order_appropriate_rates_it_without_an_indication():
    resources = example_without_orders("09-cauda-equina")
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    ev = evaluate(bundle(*resources, mri_draft(subject=f"Patient/{pid}")), now=EXAMPLES_NOW)
    assert dict(ev.ratings) == {"ServiceRequest/mri": "appropriate"}
    assert ev.missing_indication == ()
    assert _asking(ev.cards) == []


@pytest.mark.parametrize("engine", ["reference", "durable"])
def test_both_engines_ask_for_the_indication(engine):
    ev = evaluate(bundle(PATIENT, mri_draft()), now=EXAMPLES_NOW, engine=engine)
    assert ev.missing_indication == ("ServiceRequest/mri",) and dict(ev.ratings) == {}


def test_the_batch_gives_the_library_answer(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    (export / "Patient.000.ndjson").write_text(json.dumps(PATIENT) + "\n")
    (export / "ServiceRequest.000.ndjson").write_text(json.dumps(mri_draft()) + "\n")
    run_batch([export], tmp_path / "out", now=EXAMPLES_NOW, workers=0, progress=False, full=True)
    (record,) = read_records(tmp_path / "out" / "results.ndjson")
    library = evaluate(bundle(PATIENT, mri_draft()), now=EXAMPLES_NOW).to_json()
    assert record["status"] == "ok" and record["conclusions"] == []
    got = record["evaluation"]
    assert got["ratings"] == {} and got["missing_indication"] == ["ServiceRequest/mri"]
    assert got["cards"] == library["cards"]
    assert got["cards"][0]["summary"].startswith(ASK)


def test_the_question_is_worded_by_the_knowledge():
    from cds_backpain.kb.loader import load_knowledge

    kb = load_knowledge()
    words = kb.wording.indication_card
    ev = evaluate(bundle(PATIENT, mri_draft()), now=EXAMPLES_NOW, knowledge=kb)
    (card,) = ev.cards
    assert card["summary"] == words.summary.format(order="MRI lumbar spine without contrast")
    assert card["indicator"] == words.indicator
    assert card["detail"].startswith(kb.wording.disclaimer)
    unnamed = copy.deepcopy(mri_draft())
    unnamed["code"] = {"coding": [{"system": CPT, "code": "72148"}]}
    (card,) = evaluate(bundle(PATIENT, unnamed), now=EXAMPLES_NOW, knowledge=kb).cards
    assert card["summary"] == words.summary.format(order=kb.wording.unnamed_order)
