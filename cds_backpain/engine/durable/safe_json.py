"""JSON text that durable-rules' C parser reads the way Python wrote it.

Two parser defects are avoided here (engine notes D6 and section 4.10):

* A number in exponent form without a ``.`` (``1e-05``, ``1e+20``: what
  ``json.dumps`` emits for ordinary floats) silently truncates a batch; it is
  rewritten to ``1.0e-05``.
* ``\\uXXXX`` escapes are not decoded, so text is written with
  ``ensure_ascii=False``.

NaN and infinities have no JSON form: :func:`dumps` raises ``ValueError``.
"""

from __future__ import annotations

import json
import re

_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":")
)
#: Whole string tokens (left untouched) or numbers in exponent form.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?[eE][+-]?\d+')


def _fix(match: re.Match[str]) -> str:
    token = match.group()
    if token[0] == '"' or "." in token:
        return token
    cut = token.find("e") if "e" in token else token.find("E")
    return f"{token[:cut]}.0{token[cut:]}"


def dumps(value: object) -> str:
    """Compact JSON for durable-rules; ``ValueError`` on NaN or infinity."""
    text = _ENCODER.encode(value)
    # float.__repr__ writes every exponent with a sign; without "e+"/"e-" there is none.
    if "e+" not in text and "e-" not in text:
        return text
    return _TOKEN.sub(_fix, text)
