"""The FHIR knowledge package: valid R4 resources, every rule and source span carried,
and deterministic (same knowledge, same bytes)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import fhirpathpy
import pytest
from click.testing import CliRunner
from fhir.resources.R4B import get_fhir_model_class
from publish_support import knowledge_copy

from cds_backpain.cli import main
from cds_backpain.kb.loader import load_knowledge
from cds_backpain.publish.fhir_package import (
    EXPRESSION_LANGUAGE,
    LIBRARY_ID,
    TOP_ID,
    build_resources,
    compiled_rule,
    package_files,
    pathway_id,
    tarball,
    write_package,
)


@pytest.fixture(scope="module")
def kb():
    return load_knowledge()


@pytest.fixture(scope="module")
def resources(kb):
    return build_resources(kb)


def by_type(resources, kind):
    return {r["id"]: r for r in resources if r["resourceType"] == kind}


def test_every_exported_resource_validates_with_the_r4b_models(resources):
    assert len(resources) > 20
    for r in resources:
        get_fhir_model_class(r["resourceType"]).model_validate(r)


def test_one_plan_definition_per_pathway_with_one_action_per_rule(kb, resources):
    plans = by_type(resources, "PlanDefinition")
    domains = set(kb.domains.values())
    assert set(plans) == {TOP_ID} | {pathway_id(d) for d in domains}
    top = plans[TOP_ID]
    assert [a["definitionCanonical"].split("|")[0].rsplit("/", 1)[1] for a in top["action"]] == [
        pathway_id(d) for d in dict.fromkeys(kb.domains.values())
    ]
    for rid, domain in kb.domains.items():
        (action,) = [a for a in plans[pathway_id(domain)]["action"] if a["id"] == rid]
        (condition,) = action["condition"]
        assert condition["kind"] == "applicability"
        expr = condition["expression"]
        assert expr["language"] == EXPRESSION_LANGUAGE
        assert json.loads(expr["expression"]) == compiled_rule(kb, rid)
        assert kb.rules[rid].description in expr["description"]
        rec = kb.rules[rid].recommend
        if rec is not None:
            assert action["textEquivalent"] == rec.summary
            codes = {c["code"] for cc in action["code"] for c in cc["coding"]}
            assert {rid, rec.category} <= codes


def test_suggested_orders_and_referrals_are_activity_definitions(kb, resources):
    activities = by_type(resources, "ActivityDefinition")
    assert set(activities) == set(kb.templates)
    for name, template in kb.templates.items():
        ad = activities[name]
        assert ad["kind"] == template["resourceType"] and ad["code"] == template["code"]
        assert ad.get("priority") == template.get("priority")
    canon = {f"{a['url']}|{a['version']}" for a in activities.values()}
    for plan in by_type(resources, "PlanDefinition").values():
        for action in plan["action"]:
            for sub in action.get("action", []):
                assert sub["definitionCanonical"] in canon


def test_provenance_carries_every_exact_source_span(kb, resources):
    plans = by_type(resources, "PlanDefinition")
    for rid, spans in kb.spans.items():
        action = next(a for a in plans[pathway_id(kb.domains[rid])]["action"] if a["id"] == rid)
        carried = [d for d in action["documentation"] if d["type"] == "justification"]
        assert len(carried) == len(spans)
        for doc, span in zip(carried, spans, strict=True):
            ext = {
                e["url"]: next(iter(v for k, v in e.items() if k != "url"))
                for e in doc["extension"][0]["extension"]
            }
            text = kb.texts[ext["document"]]
            assert text[ext["start"] : ext["end"]] == ext["quote"] == doc["display"] == span.quote
            raw = (Path(kb.root) / "sources" / ext["document"]).read_bytes()
            assert hashlib.sha256(raw).hexdigest() == ext["sha256"]
            assert doc["document"]["hash"] == base64.b64encode(hashlib.sha1(raw).digest()).decode()
        guidelines = [d["label"] for d in action["documentation"] if d["type"] == "citation"]
        cited = [p.guideline for p in kb.rules[rid].provenance if hasattr(p, "guideline")]
        assert guidelines == cited


def test_the_library_carries_the_compiled_rules_with_version_and_digests(kb, resources):
    lib = by_type(resources, "Library")[LIBRARY_ID]
    assert lib["version"] == kb.version
    ids = {i["value"] for i in lib["identifier"]}
    assert {f"sha256:{kb.digest}", kb.compiled.digest} <= ids
    (content,) = lib["content"]
    data = base64.b64decode(content["data"])
    assert content["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
    doc = json.loads(data)
    assert doc["compiledDigest"] == kb.compiled.digest
    assert [r["rule"] for r in doc["rules"]] == list(kb.rules)
    assert doc["policy"]["suppress_self_care_beside_red_flag"] is True


def test_value_sets_and_code_systems_are_exported_unchanged(kb, resources):
    for folder, kind in (("valuesets", "ValueSet"), ("codesystems", "CodeSystem")):
        exported = by_type(resources, kind)
        for path in (Path(kb.root) / folder).glob("*.json"):
            res = json.loads(path.read_text(encoding="utf-8"))
            assert exported[res["id"]] == res
    rules_cs = by_type(resources, "CodeSystem")["rules"]
    assert [c["code"] for c in rules_cs["concept"]] == list(kb.rules)


def test_package_layout_follows_the_fhir_package_spec(kb, tmp_path):
    write_package(kb, tmp_path, tgz=True)
    pkg = tmp_path / "package"
    manifest = json.loads((pkg / "package.json").read_text())
    assert manifest["name"] == "cds-backpain.knowledge" and manifest["version"] == kb.version
    assert manifest["fhirVersions"] == ["4.0.1"]
    index = json.loads((pkg / ".index.json").read_text())
    assert index["index-version"] == 2
    listed = {f["filename"] for f in index["files"]}
    assert listed == {p.name for p in pkg.glob("*.json")} - {"package.json", ".index.json"}
    for f in index["files"]:
        res = json.loads((pkg / f["filename"]).read_text())
        assert (res["resourceType"], res["id"]) == (f["resourceType"], f["id"])
    with tarfile.open(tmp_path / f"cds-backpain.knowledge-{kb.version}.tgz") as tar:
        names = tar.getnames()
        assert "package/package.json" in names
        assert {n.removeprefix("package/") for n in names} == {p.name for p in pkg.iterdir()}


def test_same_knowledge_same_bytes_anywhere(kb, tmp_path):
    first = package_files(kb)
    copy = load_knowledge(knowledge_copy(tmp_path / "knowledge"))
    assert copy.digest == kb.digest
    again = package_files(copy)
    assert again == first  # the knowledge's location never leaks into the package
    assert tarball(again) == tarball(first)
    with gzip.open(io.BytesIO(tarball(first))) as gz:
        assert gz.read(1)  # a real gzip stream


def test_a_changed_threshold_changes_the_package(kb, tmp_path):
    edited = load_knowledge(knowledge_copy(tmp_path / "knowledge", fever_celsius=39.5))
    old, new = package_files(kb), package_files(edited)
    changed = {k for k in old if old[k] != new.get(k)}
    assert "package/Library-cds-backpain-rules.json" in changed
    plan = json.loads(new["package/PlanDefinition-cds-backpain-infection.json"])
    fever = next(a for a in plan["action"] if a["id"] == "inf-fever")
    assert "39.5" in fever["condition"][0]["expression"]["expression"]


def test_cli_export_writes_the_package(tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["knowledge", "export", "--out", str(out), "--tgz"])
    assert r.exit_code == 0, r.output
    assert (out / "package" / "package.json").is_file()
    assert (out / "package" / f"PlanDefinition-{TOP_ID}.json").is_file()
    assert list(out.glob("*.tgz"))


#: FHIR R4 invariants that apply to the exported resources (FHIRPath from the specification).
INVARIANTS = (
    ("cnl-0", "name.exists() implies name.matches('[A-Z]([A-Za-z0-9_]){0,254}')"),
    ("att-1", "descendants().where(contentType.exists().not() and data.exists()).empty()"),
    ("dom-2", "contained.contained.empty()"),
    ("dom-4", "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()"),
)


def empty_members(value, where="$"):
    """Paths of null, empty-string, empty-list or empty-object members (FHIR ele-1)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in empty_members(v, f"{where}.{k}")] + (
            [where] if not value else []
        )
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in empty_members(v, f"{where}[{i}]")] + (
            [where] if not value else []
        )
    return [where] if value is None or value == "" else []


def test_exported_resources_meet_the_fhir_invariants(resources):
    for r in resources:
        assert empty_members(r) == [], r["id"]
        for key, expression in INVARIANTS:
            assert fhirpathpy.evaluate(r, expression) == [True], (key, r["resourceType"], r["id"])
