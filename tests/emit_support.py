"""A small real knowledge base for the emitter tests: real source documents and spans,
our real CodeSystem displays, hand-picked guidelines, rules and templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cds_backpain.kb.knowledge import Knowledge
from cds_backpain.kb.loader import load_knowledge
from cds_backpain.kb.models import Guideline, Rule, SourceDocument
from cds_backpain.kb.provenance import sha256_hex

SOURCES = Path(__file__).resolve().parents[1] / "knowledge" / "sources"
GUIDELINE_URL = "https://www.acpjournals.org/doi/10.7326/M16-2367"


def real_displays() -> dict[str, dict[str, str]]:
    """Our CodeSystems' displays (category words, override reasons) from the real knowledge/."""
    from cds_backpain.kb.loader import _displays, knowledge_root

    return _displays(knowledge_root() / "codesystems")


def small_knowledge(
    sources: list[tuple[str, SourceDocument]],
    *,
    statement: str,
    version: str = "2026.06-test",
    digest: str = "d" * 64,
    rules: list[dict[str, Any]] = (),  # type: ignore[assignment]
    templates: dict[str, dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
) -> Knowledge:
    """A Knowledge over real source files (``(file name, its SourceDocument)``) with one
    guideline, ``acp-2017``, stating ``statement``; engine parts are left out."""
    return Knowledge(
        version=version,
        digest=digest,
        root=str(SOURCES.parent),
        sources=dict(sources),
        texts={name: (SOURCES / name).read_bytes().decode("utf-8") for name, _ in sources},
        guidelines={
            "acp-2017": Guideline(
                id="acp-2017",
                statement=statement,
                citation="Qaseem A et al. Ann Intern Med. 2017;166:514-530",
                url=GUIDELINE_URL,
            )
        },
        parameters={},
        policy=load_knowledge().policy,
        displays=real_displays(),
        templates=templates or {},
        valuesets=None,  # type: ignore[arg-type]
        rules={r["id"]: Rule.model_validate(r) for r in rules},
        domains={},
        spans={},
        compiled=None,  # type: ignore[arg-type]
        labels=labels or {},
        wording=load_knowledge().wording,
        fhir_codes=load_knowledge().fhir_codes,
    )


def source_document(name: str, title: str, **extra: Any) -> SourceDocument:
    """The SourceDocument of a real source file, with its real digest."""
    raw = (SOURCES / name).read_bytes()
    return SourceDocument(file=name, title=title, date="2020", sha256=sha256_hex(raw), **extra)
