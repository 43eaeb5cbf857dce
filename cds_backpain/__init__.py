"""cds-backpain: clinical decision support for low back pain in runners.

    >>> import cds_backpain
    >>> ev = cds_backpain.evaluate(bundle_json, now="2026-06-01T12:00:00Z")
    >>> ev.urgency, [c["summary"] for c in ev.cards]

Decision support for clinicians, not a diagnosis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._errors import (
    CdsBackpainError,
    EngineError,
    InputLimitError,
    InternalError,
    InvalidInputError,
    KnowledgeError,
)
from .engine.base import Engine
from .evaluation import (
    Conclusion,
    Derivation,
    Evaluation,
    GuidelineCitation,
    Issue,
    KnowledgeStamp,
    Provenance,
    SourceSpan,
    SuggestionOut,
)
from .kb.knowledge import Knowledge
from .settings import Settings

if TYPE_CHECKING:
    # Imported on first use at run time (they bring fhir.resources and the engines, about
    # 250 ms); type checkers see the real definitions here.
    from .ingest.parse import Limits, ParsedJSON, parse_json
    from .kb.loader import load_knowledge
    from .pipeline import evaluate

__version__ = "0.1.0"

__all__ = [
    "CdsBackpainError",
    "Conclusion",
    "Derivation",
    "Engine",
    "EngineError",
    "Evaluation",
    "GuidelineCitation",
    "InputLimitError",
    "InternalError",
    "InvalidInputError",
    "Issue",
    "Knowledge",
    "KnowledgeError",
    "KnowledgeStamp",
    "Limits",
    "ParsedJSON",
    "Provenance",
    "Settings",
    "SourceSpan",
    "SuggestionOut",
    "__version__",
    "evaluate",
    "load_knowledge",
    "parse_json",
]

#: Public names defined in heavier modules, imported on first access.
_LAZY = {
    "evaluate": ".pipeline",
    "load_knowledge": ".kb.loader",
    "Limits": ".ingest.parse",
    "ParsedJSON": ".ingest.parse",
    "parse_json": ".ingest.parse",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cds_backpain' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
