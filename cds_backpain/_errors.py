"""The package's exception hierarchy: one base class, a few typed children."""

from __future__ import annotations

from typing import Any


class CdsBackpainError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidInputError(CdsBackpainError):
    """The input is not acceptable FHIR R4 for this package.

    ``outcome`` is a FHIR R4 OperationOutcome (as a JSON dict) with one issue per
    defect, each naming where it was found (``expression``).
    """

    def __init__(self, outcome: dict[str, Any]):
        self.outcome = outcome
        issues = outcome.get("issue", [])
        first = issues[0].get("diagnostics", "invalid input") if issues else "invalid input"
        more = f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(first + more)


class InputLimitError(InvalidInputError):
    """The input exceeds a configured limit (bytes, entries, nesting, string length)."""


class KnowledgeError(CdsBackpainError):
    """The knowledge base under ``knowledge/`` is defective (schema, quote, digest, limit)."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class EngineError(CdsBackpainError):
    """The rules engine failed while evaluating; no partial result is returned."""


class InternalError(CdsBackpainError):
    """A defect of this package met while evaluating: our bug, not the caller's input.

    It was logged with its traceback; the original exception is ``__cause__``. Nothing was
    evaluated. A service answers it with 500, never with a 4xx that blames the client.
    """
