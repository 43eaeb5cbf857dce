"""``evaluate()``: one patient's FHIR R4 data in, an :class:`Evaluation` out."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .emit import build_bundle, build_cards
from .engine.base import Engine
from .engine.fact_classes import run_on_classes
from .engine.prepare import engine_input
from .engine.select import get_engine
from .ingest import Limits, ingest
from .kb.knowledge import Knowledge
from .kb.loader import load_knowledge
from .resolve import derivations, headline, resolve
from .results import Evaluation, KnowledgeStamp


def parse_now(now: datetime | str | None) -> datetime:
    """The evaluation instant as an aware UTC datetime (naive values are taken as UTC)."""
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


def evaluate(
    data: bytes | str | dict[str, Any] | list[Any] | os.PathLike[str],
    now: datetime | str | None = None,
    *,
    engine: str | Engine | None = None,
    knowledge: Knowledge | None = None,
    limits: Limits | None = None,
) -> Evaluation:
    """Evaluate one patient's FHIR R4 data against the low back pain rules.

    ``data`` is a Bundle, a single resource or a JSON array of resources (as JSON
    text, bytes, parsed JSON or a path). ``now`` fixes the evaluation instant (ages
    and durations are computed from it); default: the current time.

    Raises :class:`InvalidInputError` (carrying a FHIR OperationOutcome) for input
    that is not acceptable FHIR R4, and :class:`EngineError` if the engine fails.
    """
    instant = parse_now(now)
    if isinstance(data, os.PathLike) and not isinstance(data, Path):
        data = Path(data)
    kb = knowledge or load_knowledge()
    eng = engine if engine is not None and not isinstance(engine, str) else get_engine(engine)
    got = ingest(data, valuesets=kb.valuesets, parameters=kb.parameters, now=instant, limits=limits)
    # The engine sees one fact per class of facts no rule can tell apart (a bounded number
    # per concept, however long the record); the firings name every member again.
    firings = run_on_classes(eng, kb.compiled, engine_input(kb.compiled, got.facts))
    conclusions, ratings = resolve(kb, got.facts, firings)
    derived = derivations(kb, got.facts, firings)
    urgency, imaging = headline(conclusions, kb.policy)
    ev = Evaluation(
        patient=got.patient_ref,
        now=instant.isoformat().replace("+00:00", "Z"),
        urgency=urgency,  # type: ignore[arg-type]
        imaging=imaging,  # type: ignore[arg-type]
        knowledge=KnowledgeStamp(version=kb.version, digest=kb.digest),
        engine=eng.name,
        conclusions=conclusions,
        derivations=derived,
        ratings=ratings,  # type: ignore[arg-type]
        facts=tuple(
            f.model_dump(exclude_none=True, exclude={"label", "also"})
            | ({"also": list(f.also)} if f.also else {})
            for f in got.facts
        ),
        counts=dict(got.counts),
        issues=tuple(got.warnings),
    )
    # Rendered on first access; the closures keep the facts, not the validated resources.
    patient, facts = got.patient_ref, got.facts
    ev._render_cards = lambda: build_cards(
        conclusions, knowledge=kb, patient_ref=patient, derivations=derived, facts=facts
    )
    ev._render_bundle = lambda: build_bundle(
        conclusions, derived, knowledge=kb, patient_ref=patient, now=instant, ratings=ratings
    )
    return ev
