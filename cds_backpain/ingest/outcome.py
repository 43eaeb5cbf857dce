"""Collect input defects and turn them into a FHIR R4 OperationOutcome.

Diagnostics are plain words. Anything echoed from the input (an id, a code, a
key) goes through :func:`clip`, so no long text and no narrative reaches an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

from .._errors import InputLimitError, InvalidInputError
from ..evaluation import Issue

#: The longest piece of input text an error or warning may echo.
ECHO_MAX = 80


def clip(value: object, limit: int = ECHO_MAX) -> str:
    """``value`` as a short, single-line string (at most ``limit`` characters)."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Defect:
    """One problem with the input, in OperationOutcome terms."""

    code: str
    diagnostics: str
    expression: str | None = None

    def as_issue(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": "error",
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            issue["expression"] = [self.expression]
        return issue


def operation_outcome(defects: list[Defect]) -> dict[str, Any]:
    """A FHIR R4 OperationOutcome (JSON dict) with one issue per defect, duplicates dropped."""
    seen: set[Defect] = set()
    issues = []
    for d in defects:
        if d not in seen:
            seen.add(d)
            issues.append(d.as_issue())
    return {"resourceType": "OperationOutcome", "issue": issues}


def fail(code: str, diagnostics: str, expression: str | None = None) -> NoReturn:
    """Raise :class:`InvalidInputError` with a single issue."""
    raise InvalidInputError(operation_outcome([Defect(code, diagnostics, expression)]))


def fail_limit(name: str, value: int, what: str, expression: str | None = None) -> NoReturn:
    """Raise :class:`InputLimitError` naming the limit and its configured value."""
    raise InputLimitError(
        operation_outcome(
            [Defect("too-costly", f"{what}: exceeds limit {name}={value}", expression)]
        )
    )


@dataclass
class Problems:
    """Defects (errors) and warnings gathered while reading one input."""

    defects: list[Defect] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    def error(self, code: str, diagnostics: str, expression: str | None = None) -> None:
        self.defects.append(Defect(code, diagnostics, expression))

    def warn(self, code: str, diagnostics: str, expression: str | None = None) -> None:
        self.warnings.append(
            Issue(
                severity="warning",
                code=code,
                diagnostics=diagnostics,
                expression=(expression,) if expression else (),
            )
        )

    def raise_if_any(self) -> None:
        """Raise one :class:`InvalidInputError` carrying every defect found so far."""
        if self.defects:
            raise InvalidInputError(operation_outcome(self.defects))

    def sorted_warnings(self) -> tuple[Issue, ...]:
        unique = {(w.code, w.diagnostics, w.expression): w for w in self.warnings}
        return tuple(unique[k] for k in sorted(unique))
