"""Every canonical URL in the output is defined in knowledge/, under a configurable base.

Card topics, categories, override reasons and every extension name a CodeSystem or
StructureDefinition of ``knowledge/``; nothing uses an unregistered ``urn:`` namespace;
a deployment's base replaces the knowledge's everywhere in the output.
"""

from __future__ import annotations

import json

from cds_backpain import evaluate
from cds_backpain.emit.canonical import BASE
from cds_backpain.emit.conformance import conformance_resources
from cds_backpain.examples import EXAMPLES_NOW, load_examples
from cds_backpain.kb.loader import load_knowledge
from cds_backpain.publish.fhir_package import canonical_urls, resources_of
from cds_backpain.settings import CANONICAL_ENV

#: Identifier systems (not code systems: no definition to serve) and the knowledge URI.
IDENTIFIER_SYSTEMS = {f"{BASE}/knowledge-digest", f"{BASE}/source-span", f"{BASE}/guideline"}
OTHER_BASE = "https://cds.hospital.test/fhir"


def _strings(value, out):
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _strings(v, out)
    return out


def _urls_used(doc) -> set[str]:
    return {s for s in _strings(doc, []) if s.startswith(BASE + "/")}


def test_every_canonical_url_in_the_output_is_defined_in_knowledge():
    kb = load_knowledge()
    defined = canonical_urls(kb)
    (rules,) = [
        r for r in resources_of(kb) if r["resourceType"] == "CodeSystem" and r["id"] == "rules"
    ]
    topics = {c["code"] for c in rules["concept"]}
    used: set[str] = set()
    for ex in load_examples():
        ev = evaluate(ex.path, now=EXAMPLES_NOW)
        text = json.dumps([ev.cards, ev.bundle])
        assert "urn:cds-backpain" not in text
        used |= _urls_used(ev.cards) | _urls_used(ev.bundle)
        assert {c["source"]["topic"]["code"] for c in ev.cards} <= topics
    for (_, _), res in conformance_resources(kb).items():
        used |= {s for s in _urls_used(res) if "/StructureDefinition/" in s or "/CodeSystem/" in s}
    knowledge_uri = {u for u in used if u.startswith(f"{BASE}/knowledge/")}
    assert used - defined - IDENTIFIER_SYSTEMS - knowledge_uri == set()
    assert f"{BASE}/CodeSystem/rules" in used
    assert f"{BASE}/StructureDefinition/source-passage" in used
    assert f"{BASE}/StructureDefinition/provenance-supports" in used


def test_the_canonical_base_is_configurable(monkeypatch):
    from cds_backpain.settings import Settings, applied

    example = load_examples()[0]
    monkeypatch.setenv(CANONICAL_ENV, OTHER_BASE)  # read at the edges, not by the library
    assert BASE in json.dumps(evaluate(example.path, now=EXAMPLES_NOW).cards)
    settings = Settings.from_env()
    ev = evaluate(example.path, now=EXAMPLES_NOW, settings=settings)
    text = json.dumps([ev.cards, ev.bundle])
    assert BASE not in text
    assert f"{OTHER_BASE}/CodeSystem/rules" in text
    with applied(settings):
        served = conformance_resources(load_knowledge())
    passage = served["StructureDefinition", "source-passage"]["url"]
    assert passage == f"{OTHER_BASE}/StructureDefinition/source-passage"
