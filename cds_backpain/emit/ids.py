"""Stable ids: every uuid this package emits is a uuid5 over its inputs, so identical
inputs give identical outputs."""

from __future__ import annotations

import json
import uuid

from .canonical import BASE

__all__ = ["NAMESPACE", "stable_uuid"]

#: Root of every uuid5 this package emits.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, BASE)


def stable_uuid(*parts: object) -> uuid.UUID:
    """A uuid5 under :data:`NAMESPACE` over ``parts`` (JSON-encoded, so unambiguous)."""
    return uuid.uuid5(NAMESPACE, json.dumps(parts, separators=(",", ":"), default=str))
