"""Card-facing links and text: URL hosts on the allowlist, no internal notes.

The allowlist, the refused hosts and the internal-note phrases live in
``knowledge/links.yaml`` (:class:`~cds_backpain.kb.models.LinkPolicy`).
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from .models import LinkPolicy


def url_problem(url: str, policy: LinkPolicy) -> str | None:
    """Why ``url`` may not be linked from a card, or None when it may."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an absolute http(s) URL"
    if not policy.host_allowed(parts.hostname):
        return (
            f"{url!r}: host {parts.hostname!r} is not on the allowlist of links.yaml "
            "(use the publisher's page, the DOI, PubMed/PMC or the issuing body's page)"
        )
    return None


@functools.lru_cache(maxsize=8)
def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    words = [re.escape(p.strip()) for p in phrases if p.strip()]
    if not words:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(words) + r")(?!\w)", re.IGNORECASE)


def internal_notes(text: str, policy: LinkPolicy) -> list[str]:
    """The internal-note phrases that occur in ``text`` (case-insensitive, whole words)."""
    pattern = _pattern(policy.internal_note_phrases)
    return [] if pattern is None else [m.group(0) for m in pattern.finditer(text)]
