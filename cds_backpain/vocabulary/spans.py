"""A passage of a source document, as a quote in the knowledge resolves to it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .terms import Support


class SourceSpan(BaseModel):
    """A passage of a source document: ``text[start:end] == quote`` (code points)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    start: int
    end: int
    sha256: str
    quote: str
    title: str | None = None
    #: What the passage is evidence for on this conclusion (advice, urgency, imaging,
    #: background), as the rule's provenance declares it.
    supports: tuple[Support, ...] = ()
