"""The clinical safety case (docs/safety-case.md) is generated from knowledge/ and current;
every hazard is mitigated and proven; every reference in the hazard data resolves."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cds_backpain._errors import KnowledgeError
from cds_backpain.cli import main
from cds_backpain.examples import load_examples
from cds_backpain.kb.loader import load_knowledge
from cds_backpain.publish.safety_case import (
    load_safety_data,
    matching_examples,
    mitigating_rules,
    render_safety_case,
)

CHECKOUT = Path(__file__).resolve().parent.parent
DOC = CHECKOUT / "docs" / "safety-case.md"
ISSUE_HAZARDS = (
    "missed-cauda-equina",
    "missed-infection",
    "missed-fracture",
    "missed-malignancy",
    "missed-progressive-deficit",
    "self-care-beside-red-flag",
    "unnecessary-imaging",
)


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def test_docs_safety_case_is_current(kb):
    text = render_safety_case(kb, load_examples(), CHECKOUT)
    assert DOC.read_text(encoding="utf-8") == text, (
        "docs/safety-case.md is stale: run 'cds-backpain knowledge safety-case'"
    )


def test_every_hazard_is_mitigated_and_proven(kb):
    hazards, _ = load_safety_data(kb)
    assert set(ISSUE_HAZARDS) <= {h.id for h in hazards}
    examples = load_examples()
    for h in hazards:
        assert mitigating_rules(kb, h.rules) or h.policy or h.tests, h.id
        assert matching_examples(examples, h.examples) or h.tests, h.id


def test_every_red_flag_rule_mitigates_a_hazard(kb):
    hazards, _ = load_safety_data(kb)
    covered = {r for h in hazards for r in mitigating_rules(kb, h.rules)}
    red_flags = {rid for rid, r in kb.rules.items() if r.recommend and r.recommend.red_flag}
    assert red_flags <= covered, (
        f"red-flag rules in no hazard of knowledge/hazards.yaml: {sorted(red_flags - covered)}"
    )


def test_hazard_rules_follow_the_knowledge_not_a_list(kb):
    hazards, _ = load_safety_data(kb)
    ces = next(h for h in hazards if h.id == "missed-cauda-equina")
    expected = [
        rid
        for rid, r in kb.rules.items()
        if r.recommend and r.recommend.red_flag and r.recommend.category == "cauda_equina"
    ]
    assert mitigating_rules(kb, ces.rules) == expected and expected


def test_judgements_carry_basis_alternative_and_status(kb):
    _, judgements = load_safety_data(kb)
    with_alternatives = {n for n, p in kb.parameters.items() if p.alternatives}
    assert with_alternatives <= {j.parameter for j in judgements.values()}
    for j in judgements.values():
        assert j.alternative and j.status in ("open", "signed-off", "rejected")
    text = DOC.read_text(encoding="utf-8")
    for j in judgements.values():
        assert f"`{j.id}`" in text


def safety_files(tmp_path: Path, kb, hazards=None, judgements=None):
    """``kb`` reading hazards and judgements from ``tmp_path`` (edited copies)."""
    for name, edit in (("hazards.yaml", hazards), ("judgements.yaml", judgements)):
        data = yaml.safe_load((Path(kb.root) / name).read_text())
        if edit:
            edit(data)
        (tmp_path / name).write_text(yaml.safe_dump(data, sort_keys=False))
    return dataclasses.replace(kb, root=str(tmp_path))


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d["hazards"][0]["rules"].update(ids=["no-such-rule"]), "unknown rule"),
        (lambda d: d["hazards"][0]["tests"].append("tests/test_x.py::test_gone"), "not found"),
        (lambda d: d["hazards"][0].update(examples={"ids": ["99-missing"]}), "unknown example"),
        (lambda d: d["hazards"][0].update(policy=["no_such_policy"]), "unknown policy"),
        (lambda d: d["hazards"][0].update(judgements=["nope"]), "unknown judgement"),
    ],
)
def test_a_reference_that_does_not_resolve_is_refused(kb, tmp_path, edit, message):
    edited = safety_files(tmp_path, kb, hazards=edit)
    with pytest.raises(KnowledgeError) as info:
        render_safety_case(edited, load_examples(), CHECKOUT)
    assert message in str(info.value.problems)


def test_a_sign_off_needs_a_signer_and_a_date(kb, tmp_path):
    def signed(data, **who):
        data["judgements"][0].update(status="signed-off", **who)

    with pytest.raises(KnowledgeError) as info:
        load_safety_data(safety_files(tmp_path, kb, judgements=signed))
    assert "signed_off_by" in str(info.value.problems)
    edited = safety_files(
        tmp_path,
        kb,
        judgements=lambda d: signed(d, signed_off_by="Dr A. Owner", date="2026-12-01"),
    )
    text = render_safety_case(edited, load_examples(), CHECKOUT)
    assert "signed-off by Dr A. Owner on 2026-12-01" in text


def test_cli_check_reports_a_stale_safety_case(tmp_path):
    stale = tmp_path / "safety-case.md"
    stale.write_text("old\n")
    args = ["knowledge", "safety-case", "--checkout", str(CHECKOUT), "--out", str(stale)]
    r = CliRunner().invoke(main, [*args, "--check"])
    assert r.exit_code == 1 and "not current" in r.output
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and stale.read_text() == DOC.read_text()
