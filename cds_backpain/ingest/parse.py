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


JsonInput = bytes | bytearray | memoryview | str | dict | list | Path

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


def _decode(raw: bytes, limits: Limits) -> str:
    if len(raw) > limits.max_bytes:
        fail_limit("max_bytes", limits.max_bytes, f"input is {len(raw)} bytes")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail("structure", f"input is not valid UTF-8 (bad byte at offset {exc.start})")


def _parse_text(text: str, limits: Limits) -> Any:
    if (
        len(text) > limits.max_bytes
        or len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes
    ):
        fail_limit("max_bytes", limits.max_bytes, "input text is too large")
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
    """Check nesting depth and string lengths of an already parsed JSON value."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > limits.max_depth:
                fail_limit(
                    "max_depth", limits.max_depth, f"JSON nesting depth exceeds {limits.max_depth}"
                )
            for k, v in node.items():
                if isinstance(k, str) and len(k) > limits.max_string:
                    fail_limit(
                        "max_string",
                        limits.max_string,
                        "a JSON key is too long",
                        _path_to(doc, node),
                    )
                stack.append((v, depth + 1))
        elif isinstance(node, list):
            if depth > limits.max_depth:
                fail_limit(
                    "max_depth", limits.max_depth, f"JSON nesting depth exceeds {limits.max_depth}"
                )
            stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, str) and len(node) > limits.max_string:
            fail_limit(
                "max_string",
                limits.max_string,
                f"a JSON string has {len(node)} characters",
                _path_to(doc, node),
            )


def load_json(data: JsonInput, limits: Limits) -> dict[str, Any] | list[Any]:
    """Parse and check ``data``; the result is a JSON object or array."""
    if isinstance(data, Path):
        try:
            size = data.stat().st_size
            if size > limits.max_bytes:
                fail_limit("max_bytes", limits.max_bytes, f"input file is {size} bytes")
            data = data.read_bytes()
        except OSError as exc:
            fail("not-found", f"cannot read input file {clip(data.name, 60)!r}: {exc.strerror}")
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if isinstance(data, bytes):
        data = _decode(data, limits)
    if isinstance(data, str):
        doc = _parse_text(data, limits)
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
    check_tree(doc, limits)
    return doc
