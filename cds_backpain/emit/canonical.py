"""Canonical URLs of the outputs: code systems, extensions, and the configurable base.

The knowledge files are written under :data:`BASE`; emitted output and the service's
conformance resources are moved under the base a deployment sets (:func:`canonical_base`,
:func:`rebase`), and URLs read back are moved home again (:func:`unbase`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, cast

from ..settings import current

__all__ = [
    "BASE",
    "CATEGORY_SYSTEM",
    "GUIDELINE_SYSTEM",
    "KNOWLEDGE_DIGEST_SYSTEM",
    "KNOWLEDGE_URI",
    "OVERRIDE_REASONS_SYSTEM",
    "RULES_SYSTEM",
    "SOURCE_PASSAGE_EXT",
    "SOURCE_SPAN_SYSTEM",
    "SUPPORTS_EXTENSION",
    "canonical_base",
    "rebase",
    "supports_extensions",
    "unbase",
]

T = TypeVar("T")

#: Canonical base the knowledge files are written with (``knowledge/codesystems``,
#: ``knowledge/structuredefinitions``, value sets). Emitted output and the service's
#: conformance resources use :func:`canonical_base` instead, which a deployment sets.
BASE = "https://cds-backpain.example.org/fhir"
#: Codes are conclusion (recommendation rule) ids.
RULES_SYSTEM = f"{BASE}/CodeSystem/rules"
#: Codes are conclusion categories (``cauda_equina`` ...).
CATEGORY_SYSTEM = f"{BASE}/CodeSystem/conclusion-category"
OVERRIDE_REASONS_SYSTEM = f"{BASE}/CodeSystem/override-reasons"
KNOWLEDGE_DIGEST_SYSTEM = f"{BASE}/knowledge-digest"
SOURCE_SPAN_SYSTEM = f"{BASE}/source-span"
#: Extension on a Provenance entity: one source passage (document, offsets, digest, quote).
SOURCE_PASSAGE_EXT = f"{BASE}/StructureDefinition/source-passage"
#: Canonical of the knowledge base a RequestGroup instantiates (plus ``/<version>``).
KNOWLEDGE_URI = f"{BASE}/knowledge"
#: Extension (valueCode, repeated) saying what a cited passage or guideline is evidence for:
#: advice, urgency, imaging or background (knowledge ``supports``).
SUPPORTS_EXTENSION = f"{BASE}/StructureDefinition/provenance-supports"
#: Identifier system of the guideline statements (codes are knowledge/guidelines.yaml ids).
GUIDELINE_SYSTEM = f"{BASE}/guideline"


def canonical_base() -> str:
    """The canonical base of emitted URLs: the ``canonical_base`` of the settings in force
    (:func:`cds_backpain.settings.current`), else :data:`BASE`."""
    return (current().canonical_base or BASE).rstrip("/")


def rebase(document: T, base: str | None = None) -> T:
    """``document`` with every string under :data:`BASE` moved under ``base`` (default:
    :func:`canonical_base`); the same object when the base is the default."""
    base = canonical_base() if base is None else base.rstrip("/")
    if base == BASE:
        return document
    prefix = BASE + "/"

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return base + value[len(BASE) :] if value.startswith(prefix) else value
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return cast(T, walk(document))


def unbase(url: str) -> str:
    """A URL under the configured canonical base, as written in ``knowledge/``."""
    base = canonical_base()
    if base != BASE and url.startswith(base + "/"):
        return BASE + url[len(base) :]
    return url


def supports_extensions(supports: Sequence[str]) -> list[dict[str, str]]:
    """One :data:`SUPPORTS_EXTENSION` per value of ``supports``."""
    return [{"url": SUPPORTS_EXTENSION, "valueCode": s} for s in supports]
