"""What is left out of an output: empty values (:func:`prune`) and repeats (:func:`dedupe`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

__all__ = ["dedupe", "prune"]

T = TypeVar("T")


def dedupe(items: Iterable[T]) -> list[T]:
    """``items`` without repeats, first occurrence kept."""
    seen: set[Any] = set()
    out: list[T] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def prune(value: Any) -> Any:
    """``value`` with None, empty strings, empty lists and empty objects removed (recursively)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = prune(v)
            if v is None or v == "" or v == [] or v == {}:
                continue
            out[k] = v
        return out
    if isinstance(value, list | tuple):
        items = [prune(v) for v in value]
        return [v for v in items if not (v is None or v == "" or v == [] or v == {})]
    return value
