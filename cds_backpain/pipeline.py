"""``evaluate()``: one patient's FHIR R4 data in, an :class:`Evaluation` out."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._errors import InvalidInputError
from .emit import build_bundle, build_cards
from .engine.base import Engine
from .engine.fact_classes import run_on_classes
from .engine.prepare import engine_input
from .engine.select import get_engine
from .evaluation import Conclusion, Derivation, Evaluation, KnowledgeStamp
from .facts import Fact
from .ingest import Limits, ParsedJSON, ingest
from .kb.knowledge import Knowledge
from .kb.loader import load_knowledge
from .resolve import derivations, headline, resolve
from .settings import Settings, applied, current

#: Evaluation instants outside ``[EARLIEST, LATEST)`` are refused: before it no patient's
#: age makes sense, after it date arithmetic (windows, ages) nears the end of the calendar.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def to_instant(now: datetime | str | None) -> datetime:
    """``now`` as an aware UTC datetime (naive values are taken as UTC; None: the current
    time), without the range check; ValueError or OverflowError if it is not an instant."""
    if now is None:
        return datetime.now(UTC)
    if isinstance(now, str):
        text = now.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        now = datetime.fromisoformat(text)
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now.astimezone(UTC)


def _refuse_now(diagnostics: str) -> InvalidInputError:
    return InvalidInputError(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "value",
                    "diagnostics": diagnostics,
                    "expression": ["now"],
                }
            ],
        }
    )


def parse_now(now: datetime | str | None) -> datetime:
    """The evaluation instant as an aware UTC datetime (naive values are taken as UTC).

    Raises :class:`InvalidInputError` (an OperationOutcome naming ``now``) for a value
    that is not an ISO 8601 instant or lies outside :data:`EARLIEST`-:data:`LATEST`.
    """
    try:
        instant = to_instant(now)
    except (ValueError, OverflowError, TypeError):
        raise _refuse_now(
            f"now {str(now)[:60]!r} is not an ISO 8601 instant (e.g. 2026-06-01T12:00:00Z)"
        ) from None
    if not EARLIEST <= instant < LATEST:
        raise _refuse_now(f"now {instant.isoformat()} is outside {EARLIEST.year}-{LATEST.year - 1}")
    return instant


@dataclass(frozen=True, eq=False)
class _Rendering:
    """Renders one evaluation's cards and bundle, with the knowledge and settings it used
    (keeps the facts, not the validated resources)."""

    knowledge: Knowledge
    settings: Settings
    patient_ref: str
    instant: datetime
    conclusions: tuple[Conclusion, ...]
    derivations: tuple[Derivation, ...]
    facts: tuple[Fact, ...]
    ratings: Mapping[str, str]

    def cards(self) -> list[dict[str, Any]]:
        with applied(self.settings):
            return build_cards(
                self.conclusions,
                knowledge=self.knowledge,
                patient_ref=self.patient_ref,
                derivations=self.derivations,
                facts=self.facts,
            )

    def bundle(self) -> dict[str, Any]:
        with applied(self.settings):
            return build_bundle(
                self.conclusions,
                self.derivations,
                knowledge=self.knowledge,
                patient_ref=self.patient_ref,
                now=self.instant,
                ratings=self.ratings,
            )


def _explained(facts: Sequence[Fact]) -> tuple[dict[str, Any], ...]:
    return tuple(
        f.model_dump(exclude_none=True, exclude={"label", "also"})
        | ({"also": list(f.also)} if f.also else {})
        for f in facts
    )


def evaluate(
    data: bytes | str | dict[str, Any] | list[Any] | os.PathLike[str] | ParsedJSON,
    now: datetime | str | None = None,
    *,
    engine: str | Engine | None = None,
    knowledge: Knowledge | None = None,
    limits: Limits | None = None,
    settings: Settings | None = None,
    expected_patient: str | None = None,
) -> Evaluation:
    """Evaluate one patient's FHIR R4 data against the low back pain rules.

    ``data`` is a Bundle, a single resource or a JSON array of resources (as JSON
    text, bytes, parsed JSON, a path, or a :class:`ParsedJSON` from
    :func:`~cds_backpain.ingest.parse_json`, read without a second check). ``now``
    fixes the evaluation instant (ages and durations are computed from it); default:
    the current time. ``settings``
    (default: those in force, :func:`cds_backpain.settings.current`, which never read
    the environment) choose the engine and knowledge when ``engine`` / ``knowledge``
    are not given, the canonical base of the outputs and their re-validation.
    ``expected_patient`` (an id or ``Patient/<id>``) refuses data about anyone else.

    Raises :class:`InvalidInputError` (carrying a FHIR OperationOutcome) for input
    that is not acceptable FHIR R4 or a ``now`` outside 1900-2199, and
    :class:`EngineError` if the engine fails.
    """
    chosen = settings if settings is not None else current()
    instant = parse_now(now)
    if isinstance(data, os.PathLike) and not isinstance(data, Path):
        data = Path(data)
    kb = knowledge or load_knowledge(chosen.knowledge_root)
    if engine is None or isinstance(engine, str):
        eng = get_engine(engine or chosen.engine)
    else:
        eng = engine
    got = ingest(
        data,
        valuesets=kb.valuesets,
        parameters=kb.parameters,
        now=instant,
        limits=limits,
        expected_patient=expected_patient,
    )
    # The engine sees one fact per class of facts no rule can tell apart (a bounded number
    # per concept, however long the record); the firings name every member again.
    firings = run_on_classes(eng, kb.compiled, engine_input(kb.compiled, got.facts))
    conclusions, ratings = resolve(kb, got.facts, firings)
    derived = derivations(kb, got.facts, firings)
    urgency, imaging = headline(conclusions, kb.policy)
    concluded = tuple(conclusions)
    return Evaluation(
        patient=got.patient_ref,
        now=instant.isoformat().replace("+00:00", "Z"),
        urgency=urgency,  # type: ignore[arg-type]
        imaging=imaging,  # type: ignore[arg-type]
        knowledge=KnowledgeStamp(version=kb.version, digest=kb.digest),
        engine=eng.name,
        conclusions=concluded,
        derivations=tuple(derived),
        ratings=ratings,  # type: ignore[arg-type]
        facts=_explained(got.facts),
        counts=got.counts,
        issues=tuple(got.warnings),
        rendering=_Rendering(
            knowledge=kb,
            settings=chosen,
            patient_ref=got.patient_ref,
            instant=instant,
            conclusions=concluded,
            derivations=tuple(derived),
            facts=got.facts,
            ratings=dict(ratings),
        ),
    )
