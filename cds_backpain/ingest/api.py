"""``ingest()``: FHIR R4 JSON in, validated models and typed facts out."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fhir_core.fhirabstractmodel import FHIRAbstractModel

from .._errors import InternalError, InvalidInputError
from ..evaluation import Issue
from ..facts import Fact
from .extract import Extractor, patient_fact
from .identity import (
    PatientMatcher,
    Resolver,
    assign_keys,
    check_expected_patient,
    check_subjects,
    find_patient,
)
from .outcome import Problems
from .parse import JsonInput, Limits, load_json
from .unpack import Entry, unpack
from .validate import Timer

log = logging.getLogger(__name__)

#: Resource types whose relevance is decided by their ``code`` alone.
_SCREENED_TYPES = frozenset({"Condition", "Observation", "Procedure", "ServiceRequest"})


def relevance_screen(valuesets: ValueSetIndex) -> Callable[[Entry], bool]:
    """True for an entry that may matter to the rules and must be validated.

    Only a well-formed ``code`` whose every coding is unknown to the value sets (for an
    Observation, every component's ``code`` too), with a well-formed ``subject``, screens
    a resource out; anything odd is validated, so that malformed input is reported rather
    than silently ignored.
    """

    def known(cc: object) -> bool | None:
        """True: a coding the value sets know (or something odd); None: all unknown."""
        codings = cc.get("coding", []) if isinstance(cc, dict) else None
        if not isinstance(codings, list):
            return True
        for c in codings:
            if not isinstance(c, dict):
                return True
            system, code = c.get("system"), c.get("code")
            if system is None or code is None:
                continue
            if not isinstance(system, str) or not isinstance(code, str):
                return True
            if valuesets.lookup(system, code):
                return True
        return None

    def screen(entry: Entry) -> bool:
        if entry.rt not in _SCREENED_TYPES:
            return True
        raw = entry.raw
        if known(raw.get("code")):
            return True
        if entry.rt == "Observation" and "component" in raw:
            components = raw["component"]
            if not isinstance(components, list):
                return True
            for comp in components:
                if not isinstance(comp, dict) or known(comp.get("code")):
                    return True
        subject = raw.get("subject")
        return subject is not None and not (
            isinstance(subject, dict) and isinstance(subject.get("reference"), str)
        )

    return screen


if TYPE_CHECKING:
    from ..kb.valuesets import ValueSetIndex


@dataclass(frozen=True)
class Ingested:
    """What one input said about its patient, as facts the rules can read."""

    #: Reference of the one patient (``Patient/<id>``).
    patient_ref: str
    #: Facts in a canonical order (input order never changes it).
    facts: tuple[Fact, ...]
    #: Validated fhir.resources R4B models, keyed by reference (``Condition/1``).
    resources: dict[str, FHIRAbstractModel]
    #: ``{"resources": n, "used": n, "ignored": n}`` over the top-level resources.
    counts: dict[str, int]
    #: Things worth knowing that did not stop ingest (approximate age, unknown unit...).
    warnings: tuple[Issue, ...]
    #: Draft or active imaging orders (``ServiceRequest/<id>``) found in the input.
    orders: tuple[str, ...]
    #: Seconds spent: ``parse``, ``validate`` (fhir.resources models), ``extract``, ``total``.
    timings: dict[str, float] = field(default_factory=dict, compare=False)


def count_relevant(resources: Sequence[object], valuesets: ValueSetIndex) -> int:
    """How many of ``resources`` (raw JSON values) the rules may read, by the relevance
    screen ingest applies before validating (anything odd counts: it would be validated)."""
    screen = relevance_screen(valuesets)
    return sum(
        1
        for r in resources
        if not isinstance(r, dict)
        or not isinstance(r.get("resourceType"), str)
        or screen(Entry(r["resourceType"], r, r["resourceType"]))
    )


def _fact_key(f: Fact) -> tuple[str, str, str, str]:
    # The JSON of a model lists its fields in declaration order: a total, stable order.
    return (f.kind, f.concept, f.source or "", f.model_dump_json())


def ingest(
    data: JsonInput,
    *,
    valuesets: ValueSetIndex,
    parameters: Mapping[str, Any],
    now: dt.datetime,
    limits: Limits | None = None,
    lenient: bool = True,
    expected_patient: str | None = None,
) -> Ingested:
    """Read FHIR R4 JSON about one patient and return its facts.

    ``data`` is a Bundle, a single resource, or a JSON array of resources, as bytes,
    text, a parsed dict/list, or a ``Path`` to a file. ``now`` (timezone-aware) is the
    evaluation instant: ages and durations are computed at it. With ``lenient`` a
    missing ``Bundle.type`` is read as ``collection`` and a missing
    ``MedicationRequest.intent`` as ``order``, each with a warning. ``expected_patient``
    (an id, or ``Patient/<id>``) is the patient the caller means: input whose Patient is
    another one is refused (and every resource must be about that Patient, as always).

    Raises :class:`InvalidInputError` (an OperationOutcome with every defect found) for
    input that is not acceptable FHIR R4 about exactly one patient,
    :class:`InputLimitError` when a :class:`Limits` bound is exceeded, and
    :class:`InternalError` (logged) when a defect of ours stops the reading.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    try:
        return _ingest(
            data, valuesets, parameters, now.astimezone(dt.UTC), limits, lenient, expected_patient
        )
    except InvalidInputError:
        raise
    except Exception as exc:  # a defect of ours: say so, never blame the input
        log.exception("internal error while reading the input")
        raise InternalError(
            f"internal error while reading the input ({type(exc).__name__}); "
            "it was logged and nothing was evaluated"
        ) from exc


def _ingest(
    data: JsonInput,
    valuesets: ValueSetIndex,
    parameters: Mapping[str, Any],
    now: dt.datetime,
    limits: Limits | None,
    lenient: bool,
    expected_patient: str | None,
) -> Ingested:
    limits = limits or Limits()
    t0 = time.perf_counter()
    doc = load_json(data, limits)
    t_parse = time.perf_counter() - t0

    problems = Problems()
    timer = Timer()
    unpacked = unpack(doc, limits, problems, timer, lenient, relevance_screen(valuesets))
    problems.raise_if_any()

    t1 = time.perf_counter()
    entries = unpacked.entries
    by_key = assign_keys(entries, problems)
    container = (
        "Bundle.entry" if isinstance(doc, dict) and doc.get("resourceType") == "Bundle" else None
    )
    patient = find_patient(entries, problems, container)
    problems.raise_if_any()
    assert patient is not None and patient.model is not None
    # Where each item of a top-level array is, for the messages (as its validation's say).
    positions = {id(item): i for i, item in enumerate(doc)} if isinstance(doc, list) else {}
    if expected_patient is not None:
        check_expected_patient(patient, expected_patient, problems, positions)
        problems.raise_if_any()
    check_subjects(entries, PatientMatcher(patient), problems, positions)
    problems.raise_if_any()

    pfact, birth = patient_fact(patient, now, problems)
    extractor = Extractor(valuesets, parameters, now, problems, Resolver(by_key, entries), birth)
    facts: list[Fact] = [pfact]
    used = {patient.key}
    handlers = {
        "Condition": extractor.condition,
        "Observation": extractor.observation,
        "MedicationRequest": extractor.medication,
        "MedicationStatement": extractor.medication,
        "MedicationDispense": extractor.medication,
        "ServiceRequest": extractor.service_request,
        "Procedure": extractor.procedure,
    }
    for e in entries:
        handler = handlers.get(e.rt)
        if handler is None or e.model is None:
            continue
        produced = handler(e)
        if produced:
            used.add(e.key)
            facts.extend(produced)
    facts.extend(extractor.series())
    facts.extend(extractor.exposures())
    used |= extractor.out.used
    problems.raise_if_any()
    t_extract = time.perf_counter() - t1

    resources = {e.key: e.model for e in entries if e.model is not None}
    n = len(entries)
    n_used = sum(1 for e in entries if e.key in used)
    return Ingested(
        patient_ref=patient.key,
        facts=tuple(sorted(facts, key=_fact_key)),
        resources=resources,
        counts={"resources": n, "used": n_used, "ignored": n - n_used},
        warnings=problems.sorted_warnings(),
        orders=tuple(sorted(extractor.out.orders)),
        timings={
            "parse": t_parse,
            "validate": timer.seconds,
            "extract": t_extract,
            "total": time.perf_counter() - t0,
        },
    )
