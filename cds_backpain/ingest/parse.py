"""Bytes, text, files or parsed JSON in; a checked JSON document (object or array) out.

Every limit is checked before the expensive step it protects: size before decoding,
nesting depth before ``json.loads`` can recurse, string length and entry count before
model validation. A limit hit raises :class:`InputLimitError` naming the limit.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .outcome import clip, fail, fail_limit


@dataclass(frozen=True)
class Limits:
    """Upper bounds on one input. Every one is named in the error when exceeded."""

    #: Size of the encoded input (bytes or file); text is measured as UTF-8.
    max_bytes: int = 5 * 1024 * 1024
    #: Bundle entries, or items of a top-level JSON array.
    max_entries: int = 5_000
    #: Nesting of JSON arrays and objects (the top-level value is depth 1).
    max_depth: int = 64
    #: Characters of any one JSON string (keys included).
    max_string: int = 100_000


@dataclass(frozen=True, eq=False)
class ParsedJSON:
    """A JSON document (object or array) that :func:`parse_json` parsed and checked under
    ``limits``: handed to :func:`~cds_backpain.ingest.ingest` (or ``evaluate``) under the
    same limits, it is taken as it is, without a second walk.

    A caller that parsed a larger document once (the CDS Hooks service parses each
    request) passes parts of it on with :meth:`excerpt`.
    """

    value: dict[str, Any] | list[Any]
    limits: Limits

    def excerpt(self, items: list[Any]) -> ParsedJSON:
        """Values cut out of this document (each already checked), as one JSON array."""
        return ParsedJSON(list(items), self.limits)


JsonInput = bytes | bytearray | memoryview | str | dict[str, Any] | list[Any] | Path | ParsedJSON


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET = re.compile(r"[\[\]{}]")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKey(k)
            seen.add(k)
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number is too large to represent")
    return value


def _text_depth(text: str) -> int:
    """Maximum bracket nesting of JSON text, ignoring brackets inside strings."""
    brackets = _BRACKET.findall(_JSON_STRING.sub("", text))
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


#: bytes.translate arguments: brackets to ``(`` and ``)``; everything but brackets and quotes.
_PARENS = bytes.maketrans(b"[{]}", b"(())")
_NOT_MARKS = bytes(b for b in range(256) if b not in b'[]{}"')


def _nesting_at_most(encoded: bytes, limit: int) -> bool:
    """True if the arrays and objects of JSON ``encoded`` nest no deeper than ``limit``;
    False when deeper or unsure (the caller then measures with :func:`_text_depth`).

    Escaped backslashes and quotes go first; then only brackets and quotes are kept, every
    other quote-delimited piece (string contents) dropped, and each ``replace`` pass
    removes the innermost bracket pairs, so the number of passes is the nesting depth.
    All of it runs in C (about 25 µs for 12 kB).
    """
    if b"\\" in encoded:
        encoded = encoded.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = encoded.translate(None, _NOT_MARKS)
    parens = b"".join(marks.split(b'"')[::2]).translate(_PARENS)
    for _ in range(limit):
        if not parens:
            return True
        inner = parens.replace(b"()", b"")
        if len(inner) == len(parens):
            return False  # unbalanced: not JSON; let the parser say so
        parens = inner
    return not parens


def _decode(raw: bytes, limits: Limits) -> str:
    if len(raw) > limits.max_bytes:
        fail_limit("max_bytes", limits.max_bytes, f"input is {len(raw)} bytes")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail("structure", f"input is not valid UTF-8 (bad byte at offset {exc.start})")


def _parse_text(text: str, limits: Limits, encoded: bytes | None = None) -> Any:
    if len(text) > limits.max_bytes:
        fail_limit("max_bytes", limits.max_bytes, "input text is too large")
    if encoded is None:
        encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) > limits.max_bytes:
        fail_limit("max_bytes", limits.max_bytes, "input text is too large")
    if not _nesting_at_most(encoded, limits.max_depth):
        depth = _text_depth(text)
        if depth > limits.max_depth:
            fail_limit("max_depth", limits.max_depth, f"JSON nesting depth is {depth}")
    try:
        return json.loads(
            text,
            object_pairs_hook=_object,
            parse_constant=_no_constant,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as exc:
        fail(
            "structure",
            f"input is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
        )
    except _DuplicateKey as exc:
        fail("structure", f"JSON object has the key {clip(exc.key, 40)!r} twice")
    except RecursionError:  # pragma: no cover - depth is checked first
        fail_limit("max_depth", limits.max_depth, "JSON nesting is too deep")
    except ValueError as exc:  # NaN/Infinity, integers beyond Python's digit limit
        fail("structure", f"input is not valid JSON: {clip(exc, 60)}")


def _path_to(doc: Any, bad: Any) -> str:
    """A JSON path to the object ``bad`` (by identity) in ``doc``, for error messages."""
    stack: list[tuple[Any, str]] = [(doc, "$")]
    while stack:
        node, path = stack.pop()
        if node is bad:
            return path
        if isinstance(node, dict):
            for k, v in node.items():
                if k is bad:
                    return f"{path}.{clip(k, 20)}"
                stack.append((v, f"{path}.{clip(k, 40)}"))
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node))
    return "$"


def check_tree(doc: Any, limits: Limits) -> None:
    """Check nesting depth and string lengths of an already parsed JSON value.

    Level by level (one list per depth, no per-node tuples): about twice as fast as a
    stack walk on FHIR documents, which are wide and shallow.
    """
    level: list[Any] = [doc]
    depth = 1
    while level:
        containers: list[Any] = []
        for node in level:
            if isinstance(node, dict | list):
                containers.append(node)
            elif isinstance(node, str) and len(node) > limits.max_string:
                fail_limit(
                    "max_string",
                    limits.max_string,
                    f"a JSON string has {len(node)} characters",
                    _path_to(doc, node),
                )
        if containers and depth > limits.max_depth:
            fail_limit(
                "max_depth", limits.max_depth, f"JSON nesting depth exceeds {limits.max_depth}"
            )
        level = []
        for node in containers:
            if isinstance(node, dict):
                if node and max(map(len, node)) > limits.max_string:
                    fail_limit(
                        "max_string",
                        limits.max_string,
                        "a JSON key is too long",
                        _path_to(doc, node),
                    )
                level.extend(node.values())
            else:
                level.extend(node)
        depth += 1


def parse_json(data: JsonInput, limits: Limits) -> ParsedJSON:
    """Parse ``data`` and check it under ``limits``: a :class:`ParsedJSON` to pass on.

    Raises :class:`~cds_backpain.InvalidInputError` for input that is not a JSON object
    or array, :class:`~cds_backpain.InputLimitError` beyond ``limits``.
    """
    return ParsedJSON(load_json(data, limits), limits)


def load_json(data: JsonInput, limits: Limits) -> dict[str, Any] | list[Any]:
    """Parse and check ``data``; the result is a JSON object or array."""
    if isinstance(data, ParsedJSON):
        if data.limits == limits:
            return data.value
        data = data.value  # checked under other limits: checked again below
    if isinstance(data, Path):
        path = data
        try:
            size = path.stat().st_size
            if size > limits.max_bytes:
                fail_limit("max_bytes", limits.max_bytes, f"input file is {size} bytes")
            data = path.read_bytes()
        except OSError as exc:
            fail("not-found", f"cannot read input file {clip(path.name, 60)!r}: {exc.strerror}")
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    encoded = None
    if isinstance(data, bytes):
        encoded = data
        data = _decode(data, limits)
        encoded = encoded.removeprefix(b"\xef\xbb\xbf")
    checked_text = False
    if isinstance(data, str):
        doc = _parse_text(data, limits, encoded)
        # Nesting was checked on the text, and no string is longer than the text.
        checked_text = len(data) <= limits.max_string
    elif isinstance(data, dict | list):
        doc = data
    else:
        fail(
            "structure",
            f"input must be JSON bytes, text, a dict or a list, not {type(data).__name__}",
        )
    if not isinstance(doc, dict | list):
        fail(
            "structure",
            "input must be a JSON object (a resource or Bundle) or an array of resources",
        )
    if not checked_text:
        check_tree(doc, limits)
    return doc
