"""The interface every engine implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .compiled import CompiledRules, Firings


class Engine(Protocol):
    """Runs compiled rules over one patient's keyed facts; returns rule id -> support keys.

    Implementations must be deterministic, keep nothing between calls, and raise
    :class:`cds_backpain.EngineError` rather than return a partial result.
    """

    name: str

    def run(self, rules: CompiledRules, facts: Sequence[dict[str, object]]) -> Firings: ...
