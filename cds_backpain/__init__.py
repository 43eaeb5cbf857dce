"""cds-backpain: clinical decision support for low back pain in runners.

    >>> import cds_backpain
    >>> ev = cds_backpain.evaluate(bundle_json, now="2026-06-01T12:00:00Z")
    >>> ev.urgency, [c["summary"] for c in ev.cards]

Decision support for clinicians, not a diagnosis.
"""

from ._errors import (
    CdsBackpainError,
    EngineError,
    InputLimitError,
    InvalidInputError,
    KnowledgeError,
)
from .kb.knowledge import Knowledge
from .results import Conclusion, Derivation, Evaluation, GuidelineCitation, SourceSpan

__version__ = "0.1.0"

__all__ = [
    "CdsBackpainError",
    "Conclusion",
    "Derivation",
    "EngineError",
    "Evaluation",
    "GuidelineCitation",
    "InputLimitError",
    "InvalidInputError",
    "Knowledge",
    "KnowledgeError",
    "SourceSpan",
    "__version__",
    "evaluate",
    "load_knowledge",
]


def __getattr__(name: str) -> object:
    # evaluate/load_knowledge import fhir.resources and the engine: load them on first use.
    if name == "evaluate":
        from .pipeline import evaluate

        return evaluate
    if name == "load_knowledge":
        from .kb.loader import load_knowledge

        return load_knowledge
    raise AttributeError(f"module 'cds_backpain' has no attribute {name!r}")
