"""Safe Markdown for card details: one escaping function, one link builder.

Every string that did not come from this package's own code (input-derived resource
references, knowledge labels, titles, quotes, citations) goes through
:func:`escape_markdown` before it is placed in a card's ``detail``. The result renders
as the literal text in any CommonMark / GitHub-flavoured Markdown renderer: no raw HTML,
no links or images, no emphasis, headings, lists, tables, code or autolinks.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from urllib.parse import quote, urlsplit

__all__ = [
    "ELLIPSIS",
    "escape_markdown",
    "markdown_link",
    "normalize_text",
    "safe_url",
    "truncate",
]

ELLIPSIS = "…"

#: ASCII punctuation with Markdown meaning anywhere in a line (CommonMark lets every
#: ASCII punctuation character be backslash-escaped, so escaping is always harmless).
_ALWAYS = frozenset("\\`*_[](){}#|!~$@")
#: HTML-significant characters become entity references (they render as themselves).
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
#: Line-start constructs: list markers ("- ", "+ ", "1. ", "1) ") and headings/quotes
#: (``#`` and ``>`` are always escaped anyway).
_LEADING_LIST = re.compile(r"^([-+])|^(\d{1,9})([.)])")
#: Autolinks: GFM's ``scheme://`` and ``www.``, and the "fuzzy" domain links some
#: renderers add (``example.com``): a colon before ``/`` and a dot before a letter or
#: digit are escaped (``@`` is always escaped, which covers e-mail autolinks).
_SCHEME_COLON = re.compile(r":(?=/)")
_INNER_DOT = re.compile(r"\.(?=[^\W_])")


def normalize_text(text: str) -> str:
    """One line of plain text: control and format characters dropped, whitespace collapsed."""
    cleaned = "".join(
        " " if unicodedata.category(ch) == "Cc" else ch
        for ch in text
        if unicodedata.category(ch) != "Cf"
    )
    return " ".join(cleaned.split())


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters (ellipsis included), at a word if near."""
    if limit < 2:
        raise ValueError("limit must be at least 2")
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cut = head.rfind(" ")
    if cut >= limit - 25:
        head = head[:cut]
    return head.rstrip() + ELLIPSIS


def escape_markdown(text: str, *, limit: int | None = None) -> str:
    """``text`` as inert Markdown (see :func:`_escape`); memoised, bounded."""
    return _escape(text, limit)


@functools.lru_cache(maxsize=4096)
def _escape(text: str, limit: int | None) -> str:
    """``text`` as inert Markdown: renders as exactly that text, on one line.

    Newlines and control characters are removed (so no block structure can be
    injected), ``& < >`` become entity references, every Markdown-active punctuation
    character is backslash-escaped, leading list markers are neutralised and
    ``scheme://``, ``www.`` and ``name.tld`` are broken so nothing is autolinked. ``limit``
    truncates (with an ellipsis) before escaping.
    """
    plain = normalize_text(text)
    if limit is not None:
        plain = truncate(plain, limit)
    plain = _SCHEME_COLON.sub("\0colon\0", plain)
    plain = _INNER_DOT.sub("\0dot\0", plain)
    out: list[str] = []
    for ch in plain:
        if ch in _ENTITIES:
            out.append(_ENTITIES[ch])
        elif ch in _ALWAYS:
            out.append("\\" + ch)
        else:
            out.append(ch)
    escaped = "".join(out).replace("\0colon\0", "\\:").replace("\0dot\0", "\\.")
    return _LEADING_LIST.sub(_escape_leading, escaped, count=1)


def _escape_leading(m: re.Match[str]) -> str:
    if m.group(1):
        return "\\" + m.group(1)
    return m.group(2) + "\\" + m.group(3)


#: Characters left as they are in a link destination; everything else is percent-encoded
#: (notably space, ``( ) < > " \\ ` [ ] { } |`` and non-ASCII).
_URL_SAFE = "/:?#=&%+,;@!$'*-._~"


@functools.lru_cache(maxsize=1024)
def safe_url(url: str) -> str | None:
    """An absolute http(s) URL, percent-encoded for a Markdown link; None if not acceptable
    (memoised, bounded: the links are the knowledge base's source URLs)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in url):
        return None
    return quote(url, safe=_URL_SAFE)


def markdown_link(text: str, url: str, *, limit: int | None = None) -> str:
    """``[text](url)`` with escaped text; just the escaped text when the URL is not http(s)."""
    label = escape_markdown(text, limit=limit)
    target = safe_url(url)
    if target is None:
        return label
    return f"[{label}]({target})"
