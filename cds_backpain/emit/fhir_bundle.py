"""A FHIR R4 Bundle of the conclusions: RequestGroup, requests, DetectedIssue, Provenance.

* one ``RequestGroup`` (one ``action`` per conclusion, priority from urgency, the
  guideline citations and source passages as ``documentation``), emitted even when
  nothing was concluded so that the knowledge version and digest always travel;
* what each action proposes, as ``$apply`` would (invariant rqg-1): a conclusion with
  suggestions gets one sub-action per suggested ServiceRequest (``at-most-one``), any
  other a CommunicationRequest carrying its advice;
* one ``DetectedIssue`` per red-flag conclusion, implicating the evidence resources;
* one ``Provenance`` per conclusion: the input resources it rests on (role ``source``),
  one entity per source passage (role ``quotation``, identified as
  ``<file>#char=<start>,<end>;sha256=<hex>``, with the ``source-passage`` extension:
  document, title, URL, offsets, the document's sha256, the quote (spaces normalised)
  and the sha256 of the exact passage, so a FHIR consumer can check the passage against
  the document) and the paraphrased guideline statements (role ``derivation``,
  identified by guideline id), guideline URLs as ``policy``.

Every cited passage and guideline (``documentation`` and ``entity``) carries the
``provenance-supports`` extension: what it is evidence for (advice, urgency, imaging,
background). URLs under the knowledge's canonical base are emitted under the configured
one (:func:`~.canonical.canonical_base`).

Every resource is validated with the fhir.resources R4B models; ids and fullUrls are
uuid5, so identical inputs give an identical Bundle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from ..evaluation import Conclusion, Derivation, GuidelineCitation, SourceSpan
from ..kb.provenance import sha256_hex
from .canonical import (
    CATEGORY_SYSTEM,
    GUIDELINE_SYSTEM,
    KNOWLEDGE_DIGEST_SYSTEM,
    KNOWLEDGE_URI,
    SOURCE_PASSAGE_EXT,
    SOURCE_SPAN_SYSTEM,
    rebase,
    supports_extensions,
)
from .cards import suggestion_resource
from .ids import stable_uuid
from .markdown import normalize_text, truncate
from .ordering import ordered_conclusions
from .pruning import dedupe, prune
from .stamps import fhir_instant, package_version
from .validation import validating
from .words import category_words

if TYPE_CHECKING:
    from ..kb.knowledge import Knowledge

__all__ = ["IMPLICABLE_TYPES", "build_bundle", "span_identifier"]

#: FHIR request-priority codes, least urgent first (the RequestGroup takes the highest of
#: its actions'; which urgency maps to which code is knowledge/templates.yaml ``fhir``).
_PRIORITY_ORDER = ("routine", "urgent", "asap", "stat")
#: Resource types a DetectedIssue may implicate.
IMPLICABLE_TYPES = ("Condition", "Observation", "MedicationStatement", "MedicationRequest")
#: R5-style extension naming the element of the target a Provenance is about.
TARGET_ELEMENT = "http://hl7.org/fhir/StructureDefinition/targetElement"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
QUOTE_CHARS = 200


def span_identifier(span: SourceSpan) -> str:
    """``<file>#char=<start>,<end>;sha256=<hex>`` (RFC 5147-style text fragment)."""
    return f"{span.source}#char={span.start},{span.end};sha256={span.sha256}"


def passage_extension(span: SourceSpan, knowledge: Knowledge) -> dict[str, Any]:
    """The ``source-passage`` extension of a quotation entity (see
    knowledge/structuredefinitions/source-passage.json)."""
    doc = knowledge.sources.get(span.source)
    parts: list[tuple[str, str, Any]] = [
        ("document", "valueString", span.source),
        ("title", "valueString", span.title or (doc.title if doc is not None else None)),
        ("url", "valueUri", doc.url if doc is not None else None),
        ("start", "valueInteger", span.start),
        ("end", "valueInteger", span.end),
        ("sha256", "valueString", span.sha256),
        # FHIR strings exclude Unicode spaces other than space/tab/newline (the R4
        # JSON Schema), so the quote travels with its spaces normalised and the exact
        # passage as its sha256.
        ("quote", "valueString", " ".join(span.quote.split())),
        ("quoteSha256", "valueString", sha256_hex(span.quote.encode("utf-8"))),
    ]
    return {
        "url": SOURCE_PASSAGE_EXT,
        "extension": [
            {"url": name, kind: value} for name, kind, value in parts if value is not None
        ],
    }


def build_bundle(
    conclusions: Sequence[Conclusion],
    derivations: Sequence[Derivation] = (),
    *,
    knowledge: Knowledge,
    patient_ref: str | None,
    now: datetime,
    ratings: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A FHIR R4 ``collection`` Bundle of the conclusions, as a plain JSON dict.

    ``now`` (timezone-aware) is the Bundle timestamp, ``authoredOn``, ``recorded`` and
    ``identifiedDateTime``. ``derivations`` and ``ratings`` are accepted for interface
    symmetry and do not change the Bundle (ratings travel in CDS Hooks systemActions).
    Self-care conclusions beside a red flag are left out, as on the cards.
    Raises ``ValueError`` for a naive ``now`` or duplicate conclusion ids.
    """
    del derivations, ratings  # see docstring
    stamp = fhir_instant(now)
    ordered = ordered_conclusions(conclusions, knowledge)
    root = stable_uuid(
        "bundle",
        knowledge.digest,
        patient_ref,
        stamp,
        [[c.id, sorted(set(c.evidence))] for c in ordered],
    )

    def urn(*parts: str) -> tuple[str, str]:
        u = str(stable_uuid(str(root), *parts))
        return u, f"urn:uuid:{u}"

    rg_id, rg_url = urn("RequestGroup")
    requests: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for c in ordered:
        made = []
        for i, res in enumerate(_requests(c, knowledge, patient_ref, stamp)):
            res_id, res_url = urn(res["resourceType"], c.id, str(i))
            made.append((res_url, {**res, "id": res_id}))
        requests[c.id] = made
    entries: list[tuple[str, dict[str, Any]]] = [
        (rg_url, _request_group(rg_id, ordered, knowledge, patient_ref, stamp, requests))
    ]
    for c in ordered:
        entries.extend(requests[c.id])
        issue_url = None
        if c.red_flag:
            issue_id, issue_url = urn("DetectedIssue", c.id)
            entries.append((issue_url, _detected_issue(issue_id, c, patient_ref, stamp, knowledge)))
        prov_id, prov_url = urn("Provenance", c.id)
        targets = [issue_url] if issue_url else []
        targets += [url for url, _ in requests[c.id]]
        entries.append((prov_url, _provenance(prov_id, c, knowledge, rg_url, targets, stamp)))
    check = validating()
    resources = [(url, _validated(res) if check else prune(res)) for url, res in entries]
    bundle = {
        "resourceType": "Bundle",
        "id": str(root),
        "type": "collection",
        "timestamp": stamp,
        "entry": [{"fullUrl": url, "resource": res} for url, res in resources],
    }
    if check:
        Bundle.model_validate(bundle)
    return rebase(bundle)


def _validated(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` pruned, validated with its R4B model, as canonical plain JSON."""
    model = get_fhir_model_class(resource["resourceType"]).model_validate(prune(resource))
    return cast(dict[str, Any], prune(json.loads(model.model_dump_json())))


def _coding_category(c: Conclusion, knowledge: Knowledge) -> dict[str, Any]:
    return {
        "system": CATEGORY_SYSTEM,
        "code": c.category,
        "display": category_words(c.category, knowledge),
    }


def _subject(patient_ref: str | None) -> dict[str, str] | None:
    return {"reference": patient_ref} if patient_ref else None


def _requests(
    c: Conclusion, knowledge: Knowledge, patient_ref: str | None, stamp: str
) -> list[dict[str, Any]]:
    """What the conclusion's action proposes: its suggested resources, else a
    CommunicationRequest of its advice (so every action has a resource: rqg-1)."""
    if c.suggestions:
        return [
            suggestion_resource(s, knowledge, patient_ref, reasons=c.evidence)
            for s in c.suggestions
        ]
    reasons = [{"reference": r} for r in dedupe(c.evidence) if r.split("/", 1)[0] in _REASONS]
    return [
        {
            "resourceType": "CommunicationRequest",
            "status": "draft",
            "priority": knowledge.fhir_codes.priority[c.urgency],
            "subject": _subject(patient_ref),
            "authoredOn": stamp,
            "payload": [{"contentString": text} for text in (c.summary, *c.advice)],
            "reasonReference": reasons,
        }
    ]


#: Resource types a CommunicationRequest may give as its reason.
_REASONS = ("Condition", "Observation")


def _request_group(
    rg_id: str,
    ordered: Sequence[Conclusion],
    knowledge: Knowledge,
    patient_ref: str | None,
    stamp: str,
    requests: Mapping[str, Sequence[tuple[str, dict[str, Any]]]],
) -> dict[str, Any]:
    actions = [_action(c, knowledge, requests[c.id]) for c in ordered]
    priorities = [a["priority"] for a in actions]
    return {
        "resourceType": "RequestGroup",
        "id": rg_id,
        "identifier": [{"system": KNOWLEDGE_DIGEST_SYSTEM, "value": f"sha256:{knowledge.digest}"}],
        "instantiatesUri": [f"{KNOWLEDGE_URI}/{quote(knowledge.version, safe='')}"],
        "status": "active",
        "intent": "proposal",
        "priority": max(priorities, key=_PRIORITY_ORDER.index) if priorities else None,
        "subject": _subject(patient_ref),
        "authoredOn": stamp,
        "action": actions,
    }


def _action(
    c: Conclusion, knowledge: Knowledge, requests: Sequence[tuple[str, dict[str, Any]]]
) -> dict[str, Any]:
    docs: list[dict[str, Any]] = []
    for item in dedupe(c.provenance):
        if isinstance(item, GuidelineCitation):
            docs.append(
                {
                    "extension": supports_extensions(item.supports),
                    "type": "citation",
                    "label": item.guideline,
                    "display": item.statement,
                    "citation": item.citation,
                    "url": item.url,
                }
            )
        elif isinstance(item, SourceSpan):
            doc = knowledge.sources.get(item.source)
            docs.append(
                {
                    "extension": supports_extensions(item.supports),
                    "type": "justification",
                    "label": f"{item.source}#{item.start}-{item.end}",
                    "display": truncate(normalize_text(item.quote), QUOTE_CHARS),
                    "citation": item.title or (doc.title if doc is not None else None),
                    "url": doc.url if doc is not None else None,
                }
            )
    action: dict[str, Any] = {
        "id": c.id,
        "title": c.summary,
        "description": " ".join(c.advice) or None,
        "priority": knowledge.fhir_codes.priority[c.urgency],
        "code": [{"coding": [_coding_category(c, knowledge)]}],
        "documentation": docs,
    }
    if c.suggestions:
        action["selectionBehavior"] = "at-most-one"
        action["action"] = [
            {"id": f"{c.id}-{i}", "title": s.label, "resource": {"reference": url}}
            for i, (s, (url, _)) in enumerate(zip(c.suggestions, requests, strict=True))
        ]
    else:
        action["resource"] = {"reference": requests[0][0]}
    return action


def _detected_issue(
    issue_id: str, c: Conclusion, patient_ref: str | None, stamp: str, knowledge: Knowledge
) -> dict[str, Any]:
    implicated = [
        {"reference": ref} for ref in dedupe(c.evidence) if ref.split("/", 1)[0] in IMPLICABLE_TYPES
    ]
    return {
        "resourceType": "DetectedIssue",
        "id": issue_id,
        "status": "final",
        "severity": knowledge.fhir_codes.detected_issue_severity[c.urgency],
        "code": {"coding": [_coding_category(c, knowledge)]},
        "patient": _subject(patient_ref),
        "identifiedDateTime": stamp,
        "implicated": implicated,
        "detail": c.summary,
    }


def _provenance(
    prov_id: str,
    c: Conclusion,
    knowledge: Knowledge,
    rg_url: str,
    also: Sequence[str],
    stamp: str,
) -> dict[str, Any]:
    targets: list[dict[str, Any]] = [
        {
            "reference": rg_url,
            "extension": [{"url": TARGET_ELEMENT, "valueUri": c.id}],
        }
    ]
    targets += [{"reference": url} for url in also]
    entities: list[dict[str, Any]] = [
        {"role": "source", "what": {"reference": ref}} for ref in dedupe(c.evidence)
    ]
    policy: list[str] = []
    for item in dedupe(c.provenance):
        if isinstance(item, SourceSpan):
            entities.append(
                {
                    "extension": [
                        passage_extension(item, knowledge),
                        *supports_extensions(item.supports),
                    ],
                    "role": "quotation",
                    "what": {
                        "identifier": {
                            "system": SOURCE_SPAN_SYSTEM,
                            "value": span_identifier(item),
                        },
                        "display": truncate(normalize_text(item.quote), QUOTE_CHARS),
                    },
                }
            )
        elif isinstance(item, GuidelineCitation):
            policy.append(item.url)
            entities.append(
                {
                    "extension": supports_extensions(item.supports),
                    "role": "derivation",
                    "what": {
                        "identifier": {"system": GUIDELINE_SYSTEM, "value": item.guideline},
                        "display": truncate(normalize_text(item.citation), QUOTE_CHARS),
                    },
                }
            )
    return {
        "resourceType": "Provenance",
        "id": prov_id,
        "target": targets,
        "recorded": stamp,
        "policy": dedupe(policy),
        "agent": [
            {
                "type": {
                    "coding": [
                        {"system": PARTICIPANT_TYPE, "code": "assembler", "display": "Assembler"}
                    ]
                },
                "who": {  # the assembler: this software with this exact knowledge
                    "identifier": {
                        "system": KNOWLEDGE_DIGEST_SYSTEM,
                        "value": f"sha256:{knowledge.digest}",
                    },
                    "display": f"cds-backpain {package_version()} (knowledge {knowledge.version})",
                },
            }
        ],
        "entity": entities,
    }
