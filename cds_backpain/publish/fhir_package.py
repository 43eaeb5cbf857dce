"""The knowledge base as FHIR R4 Clinical Reasoning artifacts, in a FHIR NPM package.

:func:`build_resources` turns a loaded :class:`Knowledge` into plain FHIR JSON:

* one ``PlanDefinition`` per pathway (rule file ``domain``), one action per rule, its
  applicability condition in two forms: the rule's own compiled form (expression
  language :data:`EXPRESSION_LANGUAGE`, exactly what the engines run) and the rule in
  words; recommendation actions carry priority, category, the suggested orders as
  sub-actions pointing at ActivityDefinitions, and the provenance as ``documentation``
  (guideline citations, and source passages with document, offsets, sha256 and quote);
* one top-level ``PlanDefinition`` (:data:`TOP_ID`) whose actions are the pathways;
* one ``ActivityDefinition`` per order / referral template (knowledge/templates.yaml);
* the ValueSets and CodeSystems of knowledge/, and a CodeSystem of the rule ids (the
  codes of the cards' ``source.topic``);
* one ``Library`` carrying the compiled rules and the red-flag policy, with the
  knowledge version, the knowledge digest and the compiled-rules digest.

:func:`write_package` writes them as ``package/`` (``package.json``, ``.index.json`` and
one file per resource) and optionally a ``.tgz``: same knowledge, same bytes.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..emit.canonical import (
    BASE,
    CATEGORY_SYSTEM,
    KNOWLEDGE_DIGEST_SYSTEM,
    RULES_SYSTEM,
    supports_extensions,
)
from ..emit.fhir_bundle import span_identifier
from ..kb.knowledge import CitedGuideline, Knowledge
from ..kb.models import Rule
from ..kb.rule_words import when_lines

PACKAGE_NAME = "cds-backpain.knowledge"
FHIR_VERSION = "4.0.1"
#: The expression language of the applicability conditions: the engine-neutral compiled
#: form of :mod:`cds_backpain.engine.compiled`, as JSON.
EXPRESSION_LANGUAGE = "application/vnd.cds-backpain.compiled-rule+json"
TOP_ID = "cds-backpain-low-back-pain"
LIBRARY_ID = "cds-backpain-rules"
COMPILED_DIGEST_SYSTEM = f"{BASE}/compiled-rules-digest"
SOURCE_SPAN_EXTENSION = f"{BASE}/StructureDefinition/source-span"
PLAN_TYPE = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
LIBRARY_TYPE = "http://terminology.hl7.org/CodeSystem/library-type"
#: The CDS Hooks the pathways run on (the service's three services).
TRIGGERS = ("patient-view", "order-select", "order-sign")
PUBLISHER = "cds-backpain"
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def canonical(resource_type: str, rid: str) -> str:
    """The canonical URL of one of our artifacts."""
    return f"{BASE}/{resource_type}/{rid}"


def pathway_id(domain: str) -> str:
    """The PlanDefinition id of a pathway (rule file ``domain``)."""
    return "cds-backpain-" + domain.replace("_", "-")


def _fhir_id(rid: str, what: str) -> str:
    if not _FHIR_ID.match(rid):
        raise ValueError(f"{what} {rid!r} is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})")
    return rid


def _name(text: str) -> str:
    """A computer-friendly name (FHIR invariant cnl-0: starts upper-case, then [A-Za-z0-9_])."""
    parts = re.split(r"[^A-Za-z0-9]+", text)
    name = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return name if name[:1].isalpha() else "X" + name


def _sha1_b64(data: bytes) -> str:
    """FHIR Attachment.hash: the SHA-1 of the data, base64."""
    return base64.b64encode(hashlib.sha1(data).digest()).decode()  # FHIR defines SHA-1 here


def dumps(resource: Any) -> str:
    """Canonical JSON text of a package file (stable bytes: key order as built, 2-space)."""
    return json.dumps(resource, indent=2, ensure_ascii=False) + "\n"


# -- the compiled form ---------------------------------------------------------------


def compiled_rule(kb: Knowledge, rule_id: str) -> dict[str, Any]:
    """One rule in its compiled form as JSON: what the engines run, plus ``unless``."""
    crule = kb.compiled.by_id[rule_id]
    rule = kb.rules[rule_id]
    out: dict[str, Any] = {
        "rule": crule.id,
        "concludes": crule.concept,
        "anyOf": [
            [
                {
                    "kind": p.kind,
                    "concepts": list(p.concepts),
                    "tests": [
                        [
                            t.attribute,
                            t.op,
                            list(t.value) if isinstance(t.value, tuple) else t.value,
                        ]
                        for t in p.tests
                    ],
                }
                for p in branch
            ]
            for branch in crule.branches
        ],
    }
    if rule.recommend is not None and rule.recommend.unless:
        out["unless"] = list(rule.recommend.unless)
    return out


def compiled_rules_document(kb: Knowledge) -> dict[str, Any]:
    """Every compiled rule, in load order, with the policy applied after the fixpoint."""
    return {
        "knowledge": {"version": kb.version, "digest": kb.digest},
        "compiledDigest": kb.compiled.digest,
        "semantics": "cds_backpain.engine.compiled (positive rules to a fixpoint; 'unless' "
        "and the red-flag policy applied afterwards)",
        "policy": kb.policy.model_dump(mode="json"),
        "rules": [compiled_rule(kb, rid) for rid in kb.rules],
    }


def _json_bytes(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# -- provenance ----------------------------------------------------------------------


def rule_documentation(kb: Knowledge, rule: Rule) -> list[dict[str, Any]]:
    """A rule's provenance as RelatedArtifacts: guideline citations and exact source spans."""
    out: list[dict[str, Any]] = []
    for cited in kb.citations(rule.id):
        if isinstance(cited, CitedGuideline):
            g = cited.guideline
            out.append(
                {
                    "extension": supports_extensions(cited.ref.supports),
                    "type": "citation",
                    "label": g.id,
                    "display": g.statement,
                    "citation": g.citation,
                    "url": g.url,
                }
            )
        else:
            span = cited.span
            doc = kb.sources[span.source]
            document: dict[str, Any] = {
                "contentType": "text/plain; charset=utf-8",
                "title": doc.title,
                "hash": _sha1_b64(kb.texts[span.source].encode("utf-8")),
            }
            if doc.url:
                document["url"] = doc.url
            out.append(
                {
                    "extension": [
                        {
                            "url": SOURCE_SPAN_EXTENSION,
                            "extension": [
                                {"url": "document", "valueString": span.source},
                                {"url": "start", "valueInteger": span.start},
                                {"url": "end", "valueInteger": span.end},
                                {"url": "sha256", "valueString": span.sha256},
                                {"url": "quote", "valueString": span.quote},
                            ],
                        },
                        *supports_extensions(cited.ref.supports),
                    ],
                    "type": "justification",
                    "label": span_identifier(span),
                    "display": span.quote,
                    "citation": f"{doc.title}. {doc.publisher}, {doc.date}.",
                    "document": document,
                }
            )
    return out


def _dedupe(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = json.dumps(item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


# -- resources -----------------------------------------------------------------------


def _metadata(kb: Knowledge, resource_type: str, rid: str, title: str) -> dict[str, Any]:
    return {
        "resourceType": resource_type,
        "id": _fhir_id(rid, f"{resource_type} id"),
        "url": canonical(resource_type, rid),
        "identifier": [{"system": KNOWLEDGE_DIGEST_SYSTEM, "value": f"sha256:{kb.digest}"}],
        "version": kb.version,
        "name": _name(title),
        "title": title,
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
    }


def _condition(kb: Knowledge, rule: Rule) -> dict[str, Any]:
    words = [rule.description, *when_lines(kb, rule)]
    if rule.recommend is not None and rule.recommend.unless:
        words.append("Not applicable when: " + ", ".join(rule.recommend.unless) + ".")
    return {
        "kind": "applicability",
        "expression": {
            "description": "\n".join(words),
            "language": EXPRESSION_LANGUAGE,
            "expression": json.dumps(compiled_rule(kb, rule.id), ensure_ascii=False),
        },
    }


def _action(kb: Knowledge, rule: Rule) -> dict[str, Any]:
    action: dict[str, Any] = {
        "id": rule.id,
        "title": rule.title,
        "description": rule.description,
        "condition": [_condition(kb, rule)],
        "documentation": rule_documentation(kb, rule),
    }
    rec = rule.recommend
    if rec is None:
        action["textEquivalent"] = f"Concludes {rule.concept} (used by other rules)."
        return action
    action["textEquivalent"] = rec.summary
    action["priority"] = kb.fhir_codes.priority[rec.urgency]
    action["code"] = [
        {
            "coding": [
                {"system": RULES_SYSTEM, "code": rule.id, "display": rule.title},
                {
                    "system": CATEGORY_SYSTEM,
                    "code": rec.category,
                    "display": kb.displays.get(CATEGORY_SYSTEM, {}).get(rec.category, rec.category),
                },
            ]
        }
    ]
    if rec.suggestions:
        action["selectionBehavior"] = "at-most-one"
        action["action"] = [
            {
                "title": s.label,
                "definitionCanonical": versioned(kb, "ActivityDefinition", s.template),
            }
            for s in rec.suggestions
        ]
    return action


def versioned(kb: Knowledge, resource_type: str, rid: str) -> str:
    """A versioned canonical reference (``url|version``) to one of our artifacts."""
    return f"{canonical(resource_type, rid)}|{kb.version}"


def _library_ref(kb: Knowledge) -> str:
    return versioned(kb, "Library", LIBRARY_ID)


def pathway_definition(kb: Knowledge, domain: str, title: str) -> dict[str, Any]:
    """The PlanDefinition of one pathway: one action per rule of the rule file."""
    rules = [kb.rules[rid] for rid, d in kb.domains.items() if d == domain]
    pd = _metadata(kb, "PlanDefinition", pathway_id(domain), title)
    pd["type"] = {"coding": [{"system": PLAN_TYPE, "code": "eca-rule", "display": "ECA Rule"}]}
    pd["description"] = (
        f"{title}: the cds-backpain rules of the '{domain}' pathway. Decision support for "
        "clinicians, not a diagnosis."
    )
    pd["relatedArtifact"] = _dedupe(d for r in rules for d in rule_documentation(kb, r))
    pd["library"] = [_library_ref(kb)]
    pd["action"] = [_action(kb, r) for r in rules]
    return pd


def top_definition(kb: Knowledge, pathways: Mapping[str, str]) -> dict[str, Any]:
    """The PlanDefinition of the whole service: one action per pathway, run on the hooks."""
    pd = _metadata(kb, "PlanDefinition", TOP_ID, "Low back pain in runners")
    pd["type"] = {
        "coding": [{"system": PLAN_TYPE, "code": "workflow-definition", "display": "Workflow"}]
    }
    pd["description"] = (
        "Every pathway of the cds-backpain knowledge base, evaluated together. After the rules "
        "reach their fixpoint, a recommendation's 'unless' concepts remove it, and self-care "
        "advice is never given beside a red flag (policy, applied across all pathways). "
        "Decision support for clinicians, not a diagnosis."
    )
    pd["library"] = [_library_ref(kb)]
    pd["action"] = [
        {
            "id": domain,
            "title": title,
            "trigger": [{"type": "named-event", "name": hook} for hook in TRIGGERS],
            "definitionCanonical": versioned(kb, "PlanDefinition", pathway_id(domain)),
        }
        for domain, title in pathways.items()
    ]
    return pd


def activity_definition(kb: Knowledge, name: str, template: Mapping[str, Any]) -> dict[str, Any]:
    """The ActivityDefinition of one suggestion template (an order or a referral)."""
    code = template.get("code", {})
    title = str(code.get("text") or name)
    ad = _metadata(kb, "ActivityDefinition", name, title)
    ad["description"] = f"Suggested {template['resourceType']} '{name}' (knowledge/templates.yaml)."
    ad["library"] = [_library_ref(kb)]
    ad["kind"] = template["resourceType"]
    if template.get("category"):
        ad["topic"] = list(template["category"])
    ad["code"] = code
    for key in ("intent", "priority"):
        if key in template:
            ad[key] = template[key]
    return ad


def library(kb: Knowledge) -> dict[str, Any]:
    """The Library carrying the compiled rules (with version and digests)."""
    lib = _metadata(kb, "Library", LIBRARY_ID, "cds-backpain compiled rules")
    lib["identifier"].append({"system": COMPILED_DIGEST_SYSTEM, "value": kb.compiled.digest})
    lib["type"] = {"coding": [{"system": LIBRARY_TYPE, "code": "logic-library"}]}
    lib["description"] = (
        f"The cds-backpain rules, knowledge version {kb.version} (sha256 {kb.digest} over every "
        f"knowledge file), compiled to the engine-neutral form (digest {kb.compiled.digest})."
    )
    deps = [
        {"type": "depends-on", "resource": f"{vs['url']}|{vs['version']}"}
        for vs in _terminology(kb, "valuesets")
    ]
    data = _json_bytes(compiled_rules_document(kb))
    lib["relatedArtifact"] = deps
    lib["content"] = [
        {
            "contentType": EXPRESSION_LANGUAGE,
            "data": base64.b64encode(data).decode(),
            "hash": _sha1_b64(data),
            "size": len(data),
            "title": f"compiled rules {kb.version}",
        }
    ]
    return lib


def rules_codesystem(kb: Knowledge) -> dict[str, Any]:
    """The CodeSystem of the rule ids (cards' ``source.topic``, actions' codes)."""
    cs = _metadata(kb, "CodeSystem", "rules", "cds-backpain rules")
    cs["url"] = RULES_SYSTEM
    cs["description"] = "One code per cds-backpain rule (the recommendation rules are conclusions)."
    cs["caseSensitive"] = True
    cs["content"] = "complete"
    cs["count"] = len(kb.rules)
    cs["concept"] = [
        {"code": r.id, "display": r.title, "definition": r.description} for r in kb.rules.values()
    ]
    return cs


def _terminology(kb: Knowledge, folder: str) -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((Path(kb.root) / folder).glob("*.json"))
    ]


def _pathways(kb: Knowledge) -> dict[str, str]:
    """Domain -> title of its rule file, in load order."""
    import yaml

    titles: dict[str, str] = {}
    for path in sorted((Path(kb.root) / "rules").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        titles.setdefault(data["domain"], data["title"])
    return {d: titles.get(d, d) for d in dict.fromkeys(kb.domains.values())}


def build_resources(kb: Knowledge) -> list[dict[str, Any]]:
    """Every resource of the package, in a stable order."""
    pathways = _pathways(kb)
    out: list[dict[str, Any]] = [top_definition(kb, pathways)]
    out += [pathway_definition(kb, d, t) for d, t in pathways.items()]
    out += [activity_definition(kb, n, t) for n, t in sorted(kb.templates.items())]
    out.append(library(kb))
    out.append(rules_codesystem(kb))
    out += _terminology(kb, "codesystems")
    out += _terminology(kb, "valuesets")
    return out


@lru_cache(maxsize=4)
def _cached(digest: str, root: str) -> tuple[dict[str, Any], ...]:
    from ..kb.loader import load_knowledge

    return tuple(build_resources(load_knowledge(root)))


def resources_of(kb: Knowledge) -> tuple[dict[str, Any], ...]:
    """:func:`build_resources`, built once per knowledge digest (for the service)."""
    return _cached(kb.digest, kb.root)


def filename(resource: Mapping[str, Any]) -> str:
    return f"{resource['resourceType']}-{resource['id']}.json"


def package_manifest(kb: Knowledge) -> dict[str, Any]:
    """``package/package.json`` (FHIR NPM package specification)."""
    return {
        "name": PACKAGE_NAME,
        "version": kb.version,
        "title": "cds-backpain knowledge: low back pain in runners",
        "description": "FHIR Clinical Reasoning artifacts (PlanDefinition, ActivityDefinition, "
        f"Library, ValueSet, CodeSystem) of the cds-backpain knowledge base; knowledge digest "
        f"sha256:{kb.digest}.",
        "canonical": BASE,
        "url": BASE,
        "fhirVersions": [FHIR_VERSION],
        "dependencies": {"hl7.fhir.r4.core": FHIR_VERSION},
        "author": PUBLISHER,
        "type": "Conformance",
    }


def package_index(resources: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``package/.index.json`` (index-version 2)."""
    files = []
    for r in resources:
        entry = {"filename": filename(r), "resourceType": r["resourceType"], "id": r["id"]}
        for key in ("url", "version"):
            if key in r:
                entry[key] = r[key]
        files.append(entry)
    return {"index-version": 2, "files": sorted(files, key=lambda f: f["filename"])}


def package_files(kb: Knowledge) -> dict[str, bytes]:
    """Path inside the package -> bytes, sorted by path."""
    resources = build_resources(kb)
    names = [filename(r) for r in resources]
    if len(set(names)) != len(names):
        raise ValueError(f"two resources share a file name: {sorted(names)}")
    files = {"package/package.json": dumps(package_manifest(kb)).encode()}
    files["package/.index.json"] = dumps(package_index(resources)).encode()
    for r in resources:
        files[f"package/{filename(r)}"] = dumps(r).encode()
    return dict(sorted(files.items()))


def tarball(files: Mapping[str, bytes]) -> bytes:
    """The package as a gzipped tar with fixed metadata (same files, same bytes)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def write_package(kb: Knowledge, out: Path, *, tgz: bool = False) -> list[Path]:
    """Write ``out/package/...`` (and ``out/<name>-<version>.tgz`` with ``tgz``)."""
    files = package_files(kb)
    pkg = out / "package"
    if pkg.is_dir():  # a stale file of an earlier export must not survive
        for old in pkg.glob("*.json"):
            if f"package/{old.name}" not in files:
                old.unlink()
    pkg.mkdir(parents=True, exist_ok=True)
    written = []
    for path, data in files.items():
        target = out / path
        target.write_bytes(data)
        written.append(target)
    if tgz:
        target = out / f"{PACKAGE_NAME}-{kb.version}.tgz"
        target.write_bytes(tarball(files))
        written.append(target)
    return written


def canonical_urls(knowledge: Knowledge) -> set[str]:
    """Every canonical URL the knowledge defines (as written, under :data:`BASE`): its
    files and the artifacts exported from it."""
    from ..emit.canonical import BASE
    from ..emit.conformance import FOLDERS

    root = Path(knowledge.root)
    urls = {r["url"] for r in resources_of(knowledge) if isinstance(r.get("url"), str)}
    for folder in FOLDERS.values():
        for path in (root / folder).glob("*.json"):
            url = json.loads(path.read_text(encoding="utf-8")).get("url")
            if isinstance(url, str) and url.startswith(BASE + "/"):
                urls.add(url)
    return urls
