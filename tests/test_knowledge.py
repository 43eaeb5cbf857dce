"""The knowledge base loads, every quote resolves, and defects fail loudly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cds_backpain import KnowledgeError, load_knowledge
from cds_backpain.kb.loader import knowledge_root
from cds_backpain.kb.provenance import sha256_hex

# The seed documents' published sha256 digests (from the project's seed list), so the test
# needs no file outside this checkout.
SEED_DIGESTS = {
    "000_3fdf5a4f530aa6ea.txt": "bef72e7bbce7a03efc3243559f63d2ae154dc9636716a0cb7f87d1d55abd8176",
    "001_19c012d7710d4233.txt": "d6332ae5dee67d15e3d34e8cadd3b935f4816b49e7ac9d37dc7c89328cf7fda2",
    "002_73b1097acf8f04ad.txt": "68c0c5a44f0260f1218c25ae3f6718274dfe6a0ebff01e746d58bfc96df23027",
    "003_d95dd6f2978c9f38.txt": "8eb61f97dc2ec07fc0b114066fd73bb94a977489408064877ff87c7820731c93",
    "004_682c74311d7880ba.txt": "3c523585b746d9ffcf400c1cc47cf89d4dfa4ebc7ea7da192eb130d6e494b65f",
}


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


def test_every_span_is_really_in_its_document(kb):
    root = Path(kb.root) / "sources"
    spans = [s for ss in kb.spans.values() for s in ss]
    assert spans, "rules quote the source documents"
    for s in spans:
        raw = (root / s.source).read_bytes()
        assert sha256_hex(raw) == s.sha256
        assert raw.decode("utf-8")[s.start : s.end] == s.quote


def test_sources_are_the_seed_documents_unchanged(kb):
    assert set(kb.sources) == set(SEED_DIGESTS)
    for name, doc in kb.sources.items():
        raw = (Path(kb.root) / "sources" / name).read_bytes()
        assert sha256_hex(raw) == SEED_DIGESTS[name] == doc.sha256


def test_every_rule_has_provenance_and_red_flags_cite_guidelines(kb):
    for rule in kb.rules.values():
        assert rule.provenance, rule.id
        if rule.recommend and rule.recommend.red_flag:
            assert any(hasattr(p, "guideline") for p in rule.provenance), rule.id


def test_summaries_fit_a_card(kb):
    for rule in kb.rules.values():
        if rule.recommend:
            assert len(rule.recommend.summary) < 140, rule.id


def test_thresholds_live_in_parameters(kb):
    for name in ("early_imaging_days", "adult_min_age", "fever_celsius", "cancer_weak_age"):
        assert name in kb.parameters


@pytest.fixture
def kb_copy(tmp_path):
    dst = tmp_path / "knowledge"
    shutil.copytree(knowledge_root(), dst)
    return dst


def _first_rule_file(root: Path) -> Path:
    return sorted((root / "rules").glob("*.yaml"))[0]


def _load_problems(root: Path) -> str:
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(root, reload=True)
    return "\n".join(info.value.problems)


def test_changed_source_document_is_refused(kb_copy):
    doc = sorted((kb_copy / "sources").glob("*.txt"))[0]
    doc.write_bytes(doc.read_bytes().replace(b"e", b"E", 1))
    assert "sha256" in _load_problems(kb_copy)


def _edit_first_rule(root: Path, edit) -> None:
    path = _first_rule_file(root)
    data = yaml.safe_load(path.read_text())
    edit(data["rules"][0])
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def test_missing_quote_is_refused(kb_copy):
    _edit_first_rule(
        kb_copy,
        lambda r: r["provenance"].append(
            {
                "source": "000_3fdf5a4f530aa6ea.txt",
                "quote": "this sentence is nowhere in the text",
                "supports": ["advice"],
            }
        ),
    )
    assert "quote not found" in _load_problems(kb_copy)


def test_ambiguous_quote_is_refused(kb_copy):
    text = (kb_copy / "sources" / "001_19c012d7710d4233.txt").read_text(encoding="utf-8")
    quote = "Back Spasm During Running"
    assert text.count(quote) > 1
    _edit_first_rule(
        kb_copy,
        lambda r: r["provenance"].append(
            {"source": "001_19c012d7710d4233.txt", "quote": quote, "supports": ["advice"]}
        ),
    )
    assert "occurs" in _load_problems(kb_copy)


def test_unknown_parameter_is_refused(kb_copy):
    _edit_first_rule(
        kb_copy,
        lambda r: (
            r["when"]
            .setdefault("all", [])
            .append({"patient": {"age": {"ge": "$no_such_threshold"}}})
        ),
    )
    assert "unknown parameter $no_such_threshold" in _load_problems(kb_copy)


def test_unknown_concept_is_refused(kb_copy):
    _edit_first_rule(
        kb_copy, lambda r: r["when"].setdefault("all", []).append({"finding": "no_such_concept"})
    )
    assert "no_such_concept" in _load_problems(kb_copy)


def test_patterns_that_could_match_one_fact_are_refused(kb_copy):
    _edit_first_rule(
        kb_copy,
        lambda r: r["when"].__setitem__(
            "all", [{"finding": "sciatica"}, {"finding": "sciatica", "laterality": "left"}]
        ),
    )
    assert "could match the same fact" in _load_problems(kb_copy)


def test_negation_of_a_derived_conclusion_is_refused(kb_copy):
    _edit_first_rule(kb_copy, lambda r: r["when"].__setitem__("none", [{"conclusion": "anything"}]))
    assert "none" in _load_problems(kb_copy)


def test_a_conditional_citation_must_name_a_concluded_concept(kb_copy):
    def edit(rule):
        rule["provenance"][0]["when_chain"] = ["no_rule_concludes_this"]

    _edit_first_rule(kb_copy, edit)
    assert "'when_chain' names 'no_rule_concludes_this'" in _load_problems(kb_copy)


def test_a_conditional_citation_does_not_count_as_support(kb_copy):
    """What a recommendation needs supported must be supported whatever the chain."""

    def edit(rule):
        for ref in rule["provenance"]:
            ref["when_chain"] = [rule.get("conclude") or rule["id"].replace("-", "_")]

    _edit_first_rule(kb_copy, edit)
    assert "no provenance item supports" in _load_problems(kb_copy)
