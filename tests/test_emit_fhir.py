"""The FHIR R4 Bundle: RequestGroup, DetectedIssue, Provenance, all valid R4B resources."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from emit_support import GUIDELINE_URL, SOURCES, small_knowledge, source_document
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from cds_backpain.emit import build_bundle
from cds_backpain.emit.canonical import BASE
from cds_backpain.emit.fhir_bundle import IMPLICABLE_TYPES
from cds_backpain.evaluation import Conclusion, GuidelineCitation, SourceSpan
from cds_backpain.kb.knowledge import Knowledge
from cds_backpain.kb.models import SourceQuote
from cds_backpain.kb.provenance import resolve_quote, sha256_hex

PATIENT = "Patient/p1"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SPAN_ID = re.compile(
    r"^(?P<file>[^#]+)#char=(?P<start>\d+),(?P<end>\d+);sha256=(?P<sha>[0-9a-f]{64})$"
)


def make_knowledge(version: str = "2026.06-test", digest: str = "d" * 64) -> Knowledge:
    names = sorted(p.name for p in SOURCES.glob("*.txt"))[:2]
    url = {0: {"url": "https://example.org/source"}}
    return small_knowledge(
        [
            (n, source_document(n, f"Source {i}", publisher="Example", **url.get(i, {})))
            for i, n in enumerate(names)
        ],
        statement="Imaging is rarely needed early in acute low back pain.",
        version=version,
        digest=digest,
    )


def span_of(kb: Knowledge, index: int, start: int, length: int) -> SourceSpan:
    name = sorted(kb.sources)[index]
    quote = kb.texts[name][start : start + length]
    got = resolve_quote(
        SourceQuote(source=name, quote=quote, supports=("advice",)),
        kb.sources[name],
        kb.texts[name],
    )
    assert isinstance(got, SourceSpan), got
    return got


def conclusions(kb: Knowledge) -> list[Conclusion]:
    acp = kb.guidelines["acp-2017"]
    cite = GuidelineCitation(
        guideline=acp.id, citation=acp.citation, url=acp.url, statement=acp.statement
    )
    return [
        Conclusion(
            id="ces-sphincter",
            category="cauda_equina",
            urgency="emergency",
            imaging="urgent_mri",
            red_flag=True,
            summary="Possible cauda equina syndrome: same-day emergency assessment.",
            advice=("Arrange emergency assessment today.", "Do not wait for outpatient imaging."),
            rules=("ces-sphincter", "ces-any"),
            evidence=("Condition/c1", "Observation/o1", "Patient/p1", "Encounter/e1"),
            provenance=(span_of(kb, 0, 27, 300), cite),
        ),
        Conclusion(
            id="fracture-steroids",
            category="fracture",
            urgency="routine",
            imaging="xray",
            red_flag=True,
            summary="Possible osteoporotic fracture: long-term corticosteroid use.",
            rules=("fracture-steroids",),
            evidence=("MedicationStatement/m1", "MedicationRequest/m2"),
            provenance=(span_of(kb, 1, 40, 60),),
        ),
        Conclusion(
            id="disc-radicular",
            category="disc_radiculopathy",
            urgency="urgent",
            imaging="none",
            summary="Radicular pain pattern without red flags.",
            advice=("Consider referral if not improving.",),
            rules=("disc-radicular",),
            evidence=("Condition/c2",),
            provenance=(cite,),
        ),
    ]


@pytest.fixture(scope="module")
def kb() -> Knowledge:
    return make_knowledge()


@pytest.fixture(scope="module")
def bundle(kb: Knowledge) -> dict[str, Any]:
    return build_bundle(conclusions(kb), (), knowledge=kb, patient_ref=PATIENT, now=NOW, ratings={})


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def empty_members(value: Any, path: str = "$") -> list[str]:
    if value is None or value == "" or value == [] or value == {}:
        return [path]
    bad = []
    if isinstance(value, dict):
        for k, v in value.items():
            bad += empty_members(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            bad += empty_members(v, f"{path}[{i}]")
    return bad


def test_every_resource_and_the_bundle_validate_with_r4b(bundle):
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection" and bundle["timestamp"] == "2026-06-01T12:00:00Z"
    for entry in bundle["entry"]:
        res = entry["resource"]
        get_fhir_model_class(res["resourceType"]).model_validate(res)
        assert entry["fullUrl"] == f"urn:uuid:{res['id']}"
    assert empty_members(bundle) == []
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[0] == "RequestGroup"
    assert [k for k in kinds if k not in ("ServiceRequest", "CommunicationRequest")] == [
        "RequestGroup",
        "DetectedIssue",
        "Provenance",
        "Provenance",
        "DetectedIssue",
        "Provenance",
    ]


def test_every_action_has_the_resource_it_proposes(bundle):
    """rqg-1: an action has a resource or sub-actions, never neither."""
    urls = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    [rg] = resources(bundle, "RequestGroup")

    def leaves(action):
        assert ("resource" in action) != ("action" in action), action["id"]
        if "action" in action:
            assert action["selectionBehavior"] == "at-most-one"
            for sub in action["action"]:
                yield from leaves(sub)
        else:
            yield urls[action["resource"]["reference"]]

    for action in rg["action"]:
        proposed = list(leaves(action))
        assert proposed
        for res in proposed:
            assert res["resourceType"] in ("ServiceRequest", "CommunicationRequest")
            assert res["subject"] == {"reference": PATIENT}
            if res["resourceType"] == "CommunicationRequest":
                assert res["payload"][0]["contentString"] == action["title"]


def test_request_group_carries_one_prioritised_action_per_conclusion(bundle, kb):
    [rg] = resources(bundle, "RequestGroup")
    assert (rg["status"], rg["intent"], rg["priority"]) == ("active", "proposal", "stat")
    assert rg["subject"] == {"reference": PATIENT} and rg["authoredOn"] == "2026-06-01T12:00:00Z"
    assert rg["instantiatesUri"] == [f"{BASE}/knowledge/2026.06-test"]
    assert rg["identifier"][0]["value"] == f"sha256:{kb.digest}"
    actions = {a["id"]: a for a in rg["action"]}
    assert [a["id"] for a in rg["action"]] == [
        "ces-sphincter",
        "disc-radicular",
        "fracture-steroids",
    ]
    assert [actions[i]["priority"] for i in actions] == ["stat", "urgent", "routine"]
    ces = actions["ces-sphincter"]
    assert ces["title"].startswith("Possible cauda equina syndrome")
    assert (
        ces["description"]
        == "Arrange emergency assessment today. Do not wait for outpatient imaging."
    )
    assert ces["code"][0]["coding"][0]["code"] == "cauda_equina"
    kinds = {d["type"]: d for d in ces["documentation"]}
    assert kinds["citation"]["url"] == GUIDELINE_URL
    assert kinds["citation"]["citation"].startswith("Qaseem A")
    quote = kinds["justification"]
    assert quote["label"] == f"{sorted(kb.sources)[0]}#27-327"
    assert quote["display"].endswith("…") and len(quote["display"]) <= 200
    assert quote["url"] == "https://example.org/source"
    assert "description" not in actions["fracture-steroids"]  # no advice: omitted, not ""


def test_detected_issues_only_for_red_flags_implicating_clinical_resources(bundle):
    issues = {i["code"]["coding"][0]["code"]: i for i in resources(bundle, "DetectedIssue")}
    assert set(issues) == {"cauda_equina", "fracture"}
    ces = issues["cauda_equina"]
    assert (ces["status"], ces["severity"]) == ("final", "high")
    assert ces["patient"] == {"reference": PATIENT}
    assert ces["identifiedDateTime"] == "2026-06-01T12:00:00Z"
    assert ces["detail"].startswith("Possible cauda equina syndrome")
    assert [r["reference"] for r in ces["implicated"]] == ["Condition/c1", "Observation/o1"]
    assert "mitigation" not in ces
    fracture = issues["fracture"]
    assert fracture["severity"] == "moderate"
    assert {r["reference"].split("/")[0] for r in fracture["implicated"]} <= set(IMPLICABLE_TYPES)
    assert len(fracture["implicated"]) == 2


def test_provenance_names_inputs_and_exact_source_passages(bundle, kb):
    urls = {e["resource"]["id"]: e["fullUrl"] for e in bundle["entry"]}
    rg_url = urls[resources(bundle, "RequestGroup")[0]["id"]]
    issue_urls = {urls[i["id"]] for i in resources(bundle, "DetectedIssue")}
    provs = resources(bundle, "Provenance")
    by_action = {p["target"][0]["extension"][0]["valueUri"]: p for p in provs}
    assert set(by_action) == {"ces-sphincter", "fracture-steroids", "disc-radicular"}
    for concl in conclusions(kb):
        prov = by_action[concl.id]
        assert prov["target"][0]["reference"] == rg_url
        assert prov["recorded"] == "2026-06-01T12:00:00Z"
        assert prov["agent"][0]["who"]["display"].startswith("cds-backpain ")
        assert "knowledge 2026.06-test" in prov["agent"][0]["who"]["display"]
        issue_targets = {t["reference"] for t in prov["target"][1:]} & issue_urls
        assert bool(issue_targets) == concl.red_flag
        sources = [e["what"]["reference"] for e in prov["entity"] if e["role"] == "source"]
        assert sources == list(concl.evidence)
        quotes = [e["what"] for e in prov["entity"] if e["role"] == "quotation"]
        spans = [p for p in concl.provenance if isinstance(p, SourceSpan)]
        assert len(quotes) == len(spans)
        for what in quotes:
            # The identifier alone resolves to the passage in the shipped document.
            m = SPAN_ID.match(what["identifier"]["value"])
            assert m, what["identifier"]["value"]
            raw = (SOURCES / m["file"]).read_bytes()
            assert sha256_hex(raw) == m["sha"]
            passage = raw.decode("utf-8")[int(m["start"]) : int(m["end"])]
            assert passage in {s.quote for s in spans}
            assert " ".join(passage.split()).startswith(what["display"].rstrip("…"))
        for entity in (e for e in prov["entity"] if e["role"] == "quotation"):
            # The extension carries the whole passage: document, offsets, digest, quote.
            (ext,) = [
                x
                for x in entity["extension"]
                if x["url"] == f"{BASE}/StructureDefinition/source-passage"
            ]
            parts = {
                x["url"]: next(v for k, v in x.items() if k != "url") for x in ext["extension"]
            }
            raw = (SOURCES / parts["document"]).read_bytes()
            assert sha256_hex(raw) == parts["sha256"]
            passage = raw.decode("utf-8")[parts["start"] : parts["end"]]
            assert sha256_hex(passage.encode("utf-8")) == parts["quoteSha256"]
            assert " ".join(passage.split()) == parts["quote"]
        cited = [p.url for p in concl.provenance if isinstance(p, GuidelineCitation)]
        assert prov.get("policy", []) == cited


def test_identical_inputs_identical_bundle_and_new_ids_when_anything_changes(kb, bundle):
    again = build_bundle(
        list(reversed(conclusions(kb))), knowledge=kb, patient_ref=PATIENT, now=NOW
    )
    assert json.dumps(again, sort_keys=True) == json.dumps(bundle, sort_keys=True)

    def ids(b: dict[str, Any]) -> set[str]:
        return {b["id"]} | {e["resource"]["id"] for e in b["entry"]}

    later = build_bundle(conclusions(kb), knowledge=kb, patient_ref=PATIENT, now=NOW + timedelta(1))
    other = build_bundle(conclusions(kb), knowledge=kb, patient_ref="Patient/p2", now=NOW)
    assert ids(later).isdisjoint(ids(bundle)) and ids(other).isdisjoint(ids(bundle))
    assert {r["patient"]["reference"] for r in resources(other, "DetectedIssue")} == {"Patient/p2"}


def test_now_is_normalised_to_utc_and_must_be_aware(kb):
    cet = timezone(timedelta(hours=2))
    b = build_bundle(
        [], knowledge=kb, patient_ref=PATIENT, now=datetime(2026, 6, 1, 14, tzinfo=cet)
    )
    assert b["timestamp"] == "2026-06-01T12:00:00Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        build_bundle([], knowledge=kb, patient_ref=PATIENT, now=datetime(2026, 6, 1, 12))


def test_no_conclusions_still_stamps_the_knowledge_version(kb):
    b = build_bundle([], knowledge=kb, patient_ref=None, now=NOW)
    Bundle.model_validate(b)
    [rg] = resources(b, "RequestGroup")
    assert rg["instantiatesUri"] == [f"{BASE}/knowledge/2026.06-test"]
    assert "action" not in rg and "priority" not in rg and "subject" not in rg
    assert empty_members(b) == []


def test_no_self_care_action_beside_a_red_flag(kb):
    strain = Conclusion(
        id="strain-self-care",
        category="muscle_strain",
        urgency="self_care",
        imaging="none",
        self_care=True,
        summary="Likely muscle strain: keep running gently.",
        rules=("strain-self-care",),
        evidence=("Condition/s1",),
        provenance=conclusions(kb)[2].provenance,
    )
    b = build_bundle([*conclusions(kb), strain], knowledge=kb, patient_ref=PATIENT, now=NOW)
    [rg] = resources(b, "RequestGroup")
    assert "strain-self-care" not in {a["id"] for a in rg["action"]}
    alone = build_bundle([strain], knowledge=kb, patient_ref=PATIENT, now=NOW)
    [rg] = resources(alone, "RequestGroup")
    assert [(a["id"], a["priority"]) for a in rg["action"]] == [("strain-self-care", "routine")]
