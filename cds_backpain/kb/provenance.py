"""Resolve quotes to code-point offsets in their source documents, and re-verify spans."""

from __future__ import annotations

import hashlib

from ..vocabulary import SourceSpan
from .models import SourceDocument, SourceQuote


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def find_all(text: str, quote: str) -> list[int]:
    """Every start offset of ``quote`` in ``text`` (overlapping matches included)."""
    starts, i = [], text.find(quote)
    while i != -1:
        starts.append(i)
        i = text.find(quote, i + 1)
    return starts


def resolve_quote(ref: SourceQuote, doc: SourceDocument, text: str) -> SourceSpan | str:
    """The span of ``ref`` in ``text``, or a message saying why it cannot be resolved."""
    starts = find_all(text, ref.quote)
    shown = ref.quote if len(ref.quote) <= 60 else ref.quote[:57] + "..."
    if not starts:
        return f"quote not found in {ref.source}: {shown!r}"
    if ref.occurrence is None and len(starts) > 1:
        return (
            f"quote occurs {len(starts)} times in {ref.source}; add 'occurrence: N' "
            f"or quote more text: {shown!r}"
        )
    n = ref.occurrence or 1
    if n > len(starts):
        return f"occurrence {n} requested but the quote occurs {len(starts)} times in {ref.source}"
    start = starts[n - 1]
    return SourceSpan(
        source=ref.source,
        start=start,
        end=start + len(ref.quote),
        sha256=doc.sha256,
        quote=ref.quote,
        title=doc.title,
        supports=ref.supports,
    )


def verify_span(span: SourceSpan, raw: bytes) -> bool:
    """True when the document bytes still have the digest and the span still holds the quote."""
    return (
        sha256_hex(raw) == span.sha256 and raw.decode("utf-8")[span.start : span.end] == span.quote
    )
