"""Hypothesis strategies for FHIR R4 input of this domain.

Every strategy draws its codes from the value sets in ``knowledge/valuesets`` (every
code system a concept holds is reachable, code families by their regex), writes
times relative to an evaluation instant ``now`` (default: the examples' instant
2026-06-01T12:00:00Z) and produces JSON that validates with the ``fhir.resources``
R4B models. Strategies shrink towards small bundles of simple values.

Coherent patients built from the rules (red flags per category, mechanical-only
patients) are in :mod:`cds_backpain.testing.cases`; everything is re-exported by
:mod:`cds_backpain.testing`.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from . import builders as _fhir
from .builders import (
    ABSENT,
    CLINICAL_STATUSES,
    EXAMPLE_NOW,
    MED_REQUEST_STATUSES,
    MED_STATEMENT_STATUSES,
    OBSERVATION_STATUSES,
    PRESENT,
    VERIFICATION_STATUSES,
)

__all__ = [
    "EXAMPLE_NOW",
    "NEGATION_FORMS",
    "clinical_resources",
    "codings",
    "conditions",
    "finding_observations",
    "imaging_orders",
    "measure_observations",
    "medication_courses",
    "negated_twin",
    "negation_twins",
    "patient_bundles",
    "patients",
    "unrelated_resources",
]

Json = dict[str, Any]
Knowledgeish = Any  # a cds_backpain.Knowledge (duck-typed: .valuesets, .rules, .compiled)

#: Condition clinical statuses that make a current problem / a history (``facts.py``).
CURRENT_CLINICAL = ("active", "recurrence", "relapse")
HISTORY_CLINICAL = ("inactive", "remission", "resolved")
#: Verification statuses that are evidence (refuted and entered-in-error are not;
#: differential is left out of positive evidence on purpose here).
EVIDENCE_VERIFICATION = ("confirmed", "unconfirmed", "provisional")
#: Observation statuses that are evidence.
EVIDENCE_OBSERVATION = ("final", "amended", "corrected")
#: Negation / status forms :func:`negation_twins` produces, by resource type.
NEGATION_FORMS: dict[str, tuple[str, ...]] = {
    "Condition": ("refuted", "entered-in-error"),
    "Observation": ("absent", "false", "entered-in-error", "cancelled"),
    "MedicationStatement": ("entered-in-error",),
    "MedicationRequest": ("entered-in-error", "cancelled"),
    "ServiceRequest": ("entered-in-error",),
}
#: Forms that must leave no fact at all (the resource is as good as not there).
VOID_FORMS = frozenset({"refuted", "entered-in-error", "cancelled"})

#: Generator ranges per canonical unit: (low, high, decimals). Plausible values only;
#: they steer the generator, they are not clinical thresholds.
MEASURE_RANGES: dict[str, tuple[float, float, int]] = {
    "{score}": (0, 10, 0),
    "Cel": (35.0, 41.5, 1),
    "kg": (35.0, 140.0, 1),
    "kg/m2": (14.0, 40.0, 1),
    "km": (0.0, 150.0, 1),
    "%": (-20.0, 60.0, 1),
}
#: Other UCUM units a measure may arrive in: canonical -> (unit, from canonical).
ALT_UNITS: dict[str, tuple[tuple[str, Callable[[float], float]], ...]] = {
    "Cel": (("[degF]", lambda c: c * 9.0 / 5.0 + 32.0),),
    "kg": (("[lb_av]", lambda kg: kg / 0.45359237), ("g", lambda kg: kg * 1000.0)),
    "km": (("[mi_i]", lambda km: km / 1.609344), ("m", lambda km: km * 1000.0)),
}
_MAX_AGE = 120
_MAX_DAYS = 3650


# --------------------------------------------------------------------------- knowledge


def knowledge_or_default(knowledge: Knowledgeish | None) -> Knowledgeish:
    """``knowledge``, or the bundled knowledge base when it is None."""
    if knowledge is not None:
        return knowledge
    from ..kb.loader import load_knowledge

    return load_knowledge()


@dataclass(frozen=True)
class ValueSetCode:
    """One code of a value set, with the concepts it means and its side (if any)."""

    system: str
    code: str
    display: str
    laterality: str | None
    concepts: frozenset[str]

    def coding(self, display: str | None = None) -> Json:
        out = {"system": self.system, "code": self.code}
        shown = self.display if display is None else display
        if shown:
            out["display"] = shown
        return out


@dataclass
class CodeBook:
    """Codes per concept and system, and what the rules say, for one knowledge base."""

    knowledge: Knowledgeish
    kinds: dict[str, str]
    units: dict[str, str | None]
    modalities: dict[str, str | None]
    labels: dict[str, str]
    #: concept -> system -> explicitly listed codes
    codes: dict[str, dict[str, list[ValueSetCode]]]
    #: concept -> [(system, regex)] code families
    families: dict[str, list[tuple[str, str]]]
    plans: dict[str, Any] = field(default_factory=dict)
    #: memoised strategies, keyed by (what, concept, ...) so a draw reuses one object
    strategies: dict[tuple[object, ...], st.SearchStrategy[Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def concepts_of(self, kind: str) -> list[str]:
        return sorted(k for k, v in self.kinds.items() if v == kind)

    def lookup(self, system: str, code: str) -> frozenset[str]:
        return frozenset(m.concept for m in self.knowledge.valuesets.lookup(system, code))


_books: dict[int, tuple[Knowledgeish, CodeBook]] = {}
_books_lock = threading.Lock()
#: codings(concept) for the default knowledge base, so a draw reuses one strategy object.
_codings_cache: dict[str, st.SearchStrategy[list[Json]]] = {}


_default: list[CodeBook] = []


def code_book(knowledge: Knowledgeish | None) -> CodeBook:
    """The :class:`CodeBook` of ``knowledge`` (default: the bundled one), built once."""
    if knowledge is None and _default:
        return _default[0]
    kb = knowledge_or_default(knowledge)
    with _books_lock:
        hit = _books.get(id(kb))
        if hit is not None and hit[0] is kb:
            return hit[1]
    index = kb.valuesets
    codes: dict[str, dict[str, list[ValueSetCode]]] = {}
    for concept, system, code in index.codes():
        matches = index.lookup(system, code)
        side = next((m.laterality for m in matches if m.concept == concept), None)
        label = index.concepts[concept].label
        codes.setdefault(concept, {}).setdefault(system, []).append(
            ValueSetCode(system, code, label, side, frozenset(m.concept for m in matches))
        )
    families: dict[str, list[tuple[str, str]]] = {}
    # Regex families, so that family-only codes (ICD-10-CM C-, Z85-, S32.0- ...) are drawn too.
    for concept, system, pattern in index.families():
        families.setdefault(concept, []).append((system, pattern))
    info = index.concepts
    book = CodeBook(
        knowledge=kb,
        kinds={k: v.kind for k, v in info.items()},
        units={k: v.unit for k, v in info.items()},
        modalities={k: v.modality for k, v in info.items()},
        labels={k: v.label for k, v in info.items()},
        codes=codes,
        families=families,
    )
    with _books_lock:
        _books[id(kb)] = (kb, book)
        if knowledge is None and not _default:
            _default.append(book)
    return book


# --------------------------------------------------------------------------- basics


def evaluation_instant(now: dt.datetime | str | None) -> dt.datetime:
    """``now`` as an aware datetime (ISO text accepted; default :data:`EXAMPLE_NOW`)."""
    if now is None:
        return EXAMPLE_NOW
    if isinstance(now, str):
        now = dt.datetime.fromisoformat(now.replace("Z", "+00:00"))
    return now if now.tzinfo else now.replace(tzinfo=dt.UTC)


def days_before(now: dt.datetime, days: int) -> dt.datetime:
    """The instant ``days`` days before ``now``."""
    return now - dt.timedelta(days=days)


def _or(given: Any, default: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``given`` unless it is None (a strategy is always truthy: never use ``or``)."""
    return default if given is None else given


def _first(typical: str, values: Sequence[str]) -> list[str]:
    """``values`` with the typical one first (what examples shrink towards)."""
    return [typical, *(v for v in values if v != typical)]


def _as_strategy(value: Any) -> st.SearchStrategy[Any]:
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


_ids = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True)
#: Days before ``now``: shrink to 0; mostly recent, sometimes years back.
_days_ago = st.one_of(st.integers(0, 120), st.integers(0, _MAX_DAYS))


def concept_codes(
    book: CodeBook,
    concept: str,
    *,
    laterality: str | None = None,
    forbid: frozenset[str] = frozenset(),
) -> st.SearchStrategy[ValueSetCode]:
    """One code of ``concept``: a system first (so every system is reachable), then a code."""
    key = ("code", concept, laterality, forbid)
    with book.lock:
        hit = book.strategies.get(key)
    if hit is None:
        hit = _build_code_strategy(book, concept, laterality, forbid)
        with book.lock:
            book.strategies[key] = hit
    return hit


def _build_code_strategy(
    book: CodeBook, concept: str, laterality: str | None, forbid: frozenset[str]
) -> st.SearchStrategy[ValueSetCode]:
    per_system: dict[str, list[st.SearchStrategy[ValueSetCode]]] = {}
    for system, codes in sorted(book.codes.get(concept, {}).items()):
        ok = [
            c
            for c in codes
            if not (c.concepts & forbid)
            and (laterality is None or c.laterality in (None, laterality))
        ]
        # Prefer codes that carry the wanted side; codes without a side get a bodySite.
        if ok:
            per_system.setdefault(system, []).append(st.sampled_from(ok))
    if laterality is None:
        for system, regex in book.families.get(concept, ()):

            def as_code(code: str, system: str = system) -> ValueSetCode:
                return ValueSetCode(
                    system,
                    code,
                    book.labels[concept],
                    None,
                    book.lookup(system, code) or frozenset({concept}),
                )

            fam = (
                st.from_regex(regex, fullmatch=True)
                .filter(lambda c: c == c.strip() and "\n" not in c)
                .map(as_code)
                .filter(lambda c: concept in c.concepts and not (c.concepts & forbid))
            )
            per_system.setdefault(system, []).append(fam)
    if not per_system:
        return st.nothing()
    systems = sorted(per_system)
    options = {s: st.one_of(v) for s, v in per_system.items()}

    @st.composite
    def gen(draw: st.DrawFn) -> ValueSetCode:
        return draw(options[draw(st.sampled_from(systems))])

    return gen()


def codings(
    concept: str,
    *,
    knowledge: Knowledgeish | None = None,
    displays: st.SearchStrategy[str | None] | None = None,
) -> st.SearchStrategy[list[Json]]:
    """A ``coding`` list for ``concept``: one code, sometimes a second from the same value set.

    ``displays`` draws the ``display`` text (default: the value set's label); pass
    ``st.text()`` to put arbitrary (hostile) text in front of the card builder.
    """

    def build(book: CodeBook) -> st.SearchStrategy[list[Json]]:
        key = ("codings", concept, id(displays))
        with book.lock:
            hit = book.strategies.get(key)
        if hit is not None and displays is None:
            return hit
        one = concept_codes(book, concept)
        shown = displays if displays is not None else st.none()

        @st.composite
        def gen(draw: st.DrawFn) -> list[Json]:
            first = draw(one)
            out = [first.coding(draw(shown))]
            if draw(st.booleans()):
                second = draw(one)
                if (second.system, second.code) != (first.system, first.code):
                    out.append(second.coding(draw(shown)))
            return out

        made = gen()
        if displays is None:
            with book.lock:
                book.strategies[key] = made
        return made

    if displays is None and knowledge is None:
        with _books_lock:
            cached = _codings_cache.get(concept)
        if cached is not None:
            return cached
    out = st.deferred(lambda: build(code_book(knowledge)))
    if displays is None and knowledge is None:
        with _books_lock:
            _codings_cache[concept] = out
    return out


# --------------------------------------------------------------------------- resources


@st.composite
def _patient(
    draw: st.DrawFn,
    now: dt.datetime,
    ages: st.SearchStrategy[int],
    genders: st.SearchStrategy[str | None],
    id: str,
    partial_birth_dates: bool,
) -> Json:
    age = draw(ages)
    back = draw(st.integers(0, 364))
    born = _fhir.birth_date_for_age(age, now, back)
    birth: dt.date | str = born
    if partial_birth_dates and draw(st.booleans()):
        birth = born.isoformat()[: draw(st.sampled_from([4, 7]))]
    return _fhir.patient(id, gender=draw(genders), birth_date=birth)


def patients(
    *,
    now: dt.datetime | str | None = None,
    ages: st.SearchStrategy[int] | None = None,
    genders: st.SearchStrategy[str | None] | None = None,
    id: str = "pat",
    partial_birth_dates: bool = False,
) -> st.SearchStrategy[Json]:
    """A Patient of any age (0-120 whole years at ``now``) and any administrative gender.

    ``partial_birth_dates`` also draws ``YYYY`` and ``YYYY-MM`` birth dates (age is then
    only approximately the drawn one).
    """
    return _patient(
        evaluation_instant(now),
        ages if ages is not None else st.integers(0, _MAX_AGE),
        genders
        if genders is not None
        else st.sampled_from(["female", "male", "other", "unknown", None]),
        id,
        partial_birth_dates,
    )


def _concept_strategy(
    concept: str | st.SearchStrategy[str] | None, kind: str, knowledge: Knowledgeish | None
) -> st.SearchStrategy[str]:
    if concept is not None:
        return _as_strategy(concept)
    return st.deferred(lambda: _concepts_of(code_book(knowledge), kind))


def _concepts_of(book: CodeBook, kind: str) -> st.SearchStrategy[str]:
    with book.lock:
        hit = book.strategies.get(("concepts", kind))
        if hit is None:
            hit = book.strategies[("concepts", kind)] = st.sampled_from(book.concepts_of(kind))
    return hit


def conditions(
    concept: str | st.SearchStrategy[str] | None = None,
    *,
    now: dt.datetime | str | None = None,
    knowledge: Knowledgeish | None = None,
    subject: str = "Patient/pat",
    clinical_statuses: st.SearchStrategy[str | None] | None = None,
    verification_statuses: st.SearchStrategy[str | None] | None = None,
    onset_days: st.SearchStrategy[int | None] | None = None,
    displays: st.SearchStrategy[str | None] | None = None,
) -> st.SearchStrategy[Json]:
    """A Condition of a finding concept with any clinical and verification status.

    ``onset_days`` is how many days before ``now`` it began (None: no onset).
    """
    instant = evaluation_instant(now)
    clinical = _or(clinical_statuses, st.sampled_from(CLINICAL_STATUSES))
    verification = _or(
        verification_statuses, st.sampled_from(_first("confirmed", VERIFICATION_STATUSES))
    )
    onsets = _or(onset_days, st.one_of(_days_ago, st.none()))

    keys = _concept_strategy(concept, "finding", knowledge)

    @st.composite
    def gen(draw: st.DrawFn) -> Json:
        key = draw(keys)
        days = draw(onsets)
        return _fhir.condition(
            draw(_ids),
            draw(codings(key, knowledge=knowledge, displays=displays)),
            subject=subject,
            clinical=draw(clinical),
            verification=draw(verification),
            onset=None if days is None else days_before(instant, days),
        )

    return gen()


#: Observation answers: name -> valueBoolean / valueCodeableConcept / nothing.
_ANSWERS: dict[str, Any] = {
    "true": True,
    "present": PRESENT,
    "false": False,
    "absent": ABSENT,
    "none": None,
}


def finding_observations(
    concept: str | st.SearchStrategy[str] | None = None,
    *,
    now: dt.datetime | str | None = None,
    knowledge: Knowledgeish | None = None,
    subject: str = "Patient/pat",
    statuses: st.SearchStrategy[str] | None = None,
    answers: st.SearchStrategy[str] | None = None,
    effective_days: st.SearchStrategy[int | None] | None = None,
    displays: st.SearchStrategy[str | None] | None = None,
) -> st.SearchStrategy[Json]:
    """An Observation of a finding concept: present (``true``, Present), negated
    (``false``, Absent 2667000) or unanswered, with any Observation status."""
    instant = evaluation_instant(now)
    status_s = _or(statuses, st.sampled_from(_first("final", OBSERVATION_STATUSES)))
    answer_s = _or(answers, st.sampled_from(list(_ANSWERS)))
    when = _or(effective_days, st.one_of(_days_ago, st.none()))

    keys = _concept_strategy(concept, "finding", knowledge)

    @st.composite
    def gen(draw: st.DrawFn) -> Json:
        key = draw(keys)
        days = draw(when)
        return _fhir.observation(
            draw(_ids),
            draw(codings(key, knowledge=knowledge, displays=displays)),
            subject=subject,
            status=draw(status_s),
            effective=None if days is None else days_before(instant, days),
            value=_ANSWERS[draw(answer_s)],
        )

    return gen()


def round_to(value: float, decimals: int) -> float | int:
    """``value`` rounded to ``decimals`` places (an int for 0)."""
    return round(value) if decimals == 0 else round(value, decimals)


@functools.cache
def _measure_value(unit: str | None) -> st.SearchStrategy[float | int]:
    lo, hi, dec = MEASURE_RANGES.get(unit or "", (0.0, 100.0, 1))
    scale = 10**dec
    return st.integers(int(lo * scale), int(hi * scale)).map(lambda n: round_to(n / scale, dec))


def measure_observations(
    concept: str | st.SearchStrategy[str] | None = None,
    *,
    now: dt.datetime | str | None = None,
    knowledge: Knowledgeish | None = None,
    subject: str = "Patient/pat",
    statuses: st.SearchStrategy[str] | None = None,
    values: st.SearchStrategy[float] | None = None,
    other_units: bool = True,
    effective_days: st.SearchStrategy[int | None] | None = None,
) -> st.SearchStrategy[Json]:
    """A numeric Observation (``valueQuantity``) of a measure concept.

    ``values`` are in the concept's canonical unit; with ``other_units`` the quantity is
    sometimes written in another UCUM unit (``[degF]``, ``[lb_av]``, ``g``, ``[mi_i]``, ``m``).
    """
    instant = evaluation_instant(now)
    status_s = _or(statuses, st.sampled_from(_first("final", OBSERVATION_STATUSES)))
    when = _or(effective_days, st.one_of(_days_ago, st.none()))

    keys = _concept_strategy(concept, "measure", knowledge)

    @st.composite
    def gen(draw: st.DrawFn) -> Json:
        book = code_book(knowledge)
        key = draw(keys)
        unit = book.units.get(key) or ""
        value = draw(values if values is not None else _measure_value(unit))
        alts = ALT_UNITS.get(unit, ()) if other_units else ()
        choice = draw(st.integers(0, len(alts)))
        if choice:
            unit, convert = alts[choice - 1]
            value = round(convert(value), 3)
        days = draw(when)
        return _fhir.observation(
            draw(_ids),
            draw(codings(key, knowledge=knowledge)),
            subject=subject,
            status=draw(status_s),
            effective=None if days is None else days_before(instant, days),
            value=(value, unit),
            category="vital-signs",
        )

    return gen()


#: Course lengths in days.
_COURSES = {"short": st.integers(1, 14), "long": st.integers(90, 1500)}


def medication_courses(
    concept: str | st.SearchStrategy[str] | None = None,
    *,
    now: dt.datetime | str | None = None,
    knowledge: Knowledgeish | None = None,
    subject: str = "Patient/pat",
    resource_types: Sequence[str] = ("MedicationStatement", "MedicationRequest"),
    statuses: st.SearchStrategy[str] | None = None,
    courses: Sequence[str] = ("short", "long"),
) -> st.SearchStrategy[Json]:
    """A medication course of a med concept: MedicationStatement over a period or a
    MedicationRequest, active, completed, stopped (or any other status), short or long.

    Active courses started ``length`` days ago and run on; completed and stopped ones
    lasted ``length`` days and ended before ``now``.
    """
    instant = evaluation_instant(now)

    keys = _concept_strategy(concept, "med", knowledge)

    @st.composite
    def gen(draw: st.DrawFn) -> Json:
        key = draw(keys)
        rt = draw(st.sampled_from(list(resource_types)))
        all_statuses = (
            MED_STATEMENT_STATUSES if rt == "MedicationStatement" else (MED_REQUEST_STATUSES)
        )
        status = draw(_or(statuses, st.sampled_from(all_statuses)))
        length = draw(_COURSES[draw(st.sampled_from(list(courses)))])
        coding = draw(codings(key, knowledge=knowledge))
        rid = draw(_ids)
        if rt == "MedicationRequest":
            return _fhir.medication_request(
                rid, coding, subject=subject, status=status, authored=days_before(instant, length)
            )
        if status in ("active", "intended", "on-hold", "unknown", "not-taken"):
            return _fhir.medication_statement(
                rid, coding, subject=subject, status=status, start=days_before(instant, length)
            )
        ended = draw(st.integers(0, 365))
        return _fhir.medication_statement(
            rid,
            coding,
            subject=subject,
            status=status,
            start=days_before(instant, ended + length),
            end=days_before(instant, ended),
        )

    return gen()


def imaging_orders(
    concept: str | st.SearchStrategy[str] | None = None,
    *,
    now: dt.datetime | str | None = None,
    knowledge: Knowledgeish | None = None,
    subject: str = "Patient/pat",
    statuses: st.SearchStrategy[str] | None = None,
    reasons: st.SearchStrategy[str | None] | None = None,
) -> st.SearchStrategy[Json]:
    """An imaging ServiceRequest (draft by default) of an order concept, with or without
    an indication (``reasons``: its ``reasonCode`` text, None for none; default both)."""
    instant = evaluation_instant(now)
    status_s = _or(statuses, st.just("draft"))
    reason_s = _or(reasons, st.sampled_from([None, "Low back pain"]))

    keys = _concept_strategy(concept, "order", knowledge)

    @st.composite
    def gen(draw: st.DrawFn) -> Json:
        key = draw(keys)
        return _fhir.service_request(
            draw(_ids),
            draw(codings(key, knowledge=knowledge)),
            subject=subject,
            status=draw(status_s),
            authored=instant - dt.timedelta(minutes=10),
            reason=draw(reason_s),
        )

    return gen()


_UNRELATED_SYSTEMS = (
    ("http://snomed.info/sct", r"[1-9][0-9]{5,9}"),
    ("http://hl7.org/fhir/sid/icd-10-cm", r"[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?"),
    ("http://loinc.org", r"[1-9][0-9]{1,5}-[0-9]"),
)


def unrelated_resources(
    *,
    now: dt.datetime | str | None = None,
    knowledge: Knowledgeish | None = None,
    subject: str = "Patient/pat",
) -> st.SearchStrategy[Json]:
    """A Condition or Observation whose code is in no value set (the CDS must ignore it)."""
    instant = evaluation_instant(now)

    @st.composite
    def gen(draw: st.DrawFn) -> Json:
        book = code_book(knowledge)
        system, regex = draw(st.sampled_from(_UNRELATED_SYSTEMS))
        code = draw(
            st.from_regex(regex, fullmatch=True).filter(lambda c: not book.lookup(system, c))
        )
        coding = [{"system": system, "code": code}]
        if draw(st.booleans()):
            return _fhir.condition(
                draw(_ids), coding, subject=subject, onset=days_before(instant, draw(_days_ago))
            )
        return _fhir.observation(draw(_ids), coding, subject=subject, value=True)

    return gen()


def clinical_resources(
    *,
    now: dt.datetime | str | None = None,
    knowledge: Knowledgeish | None = None,
    subject: str = "Patient/pat",
) -> st.SearchStrategy[Json]:
    """Any one resource of this domain: finding Condition or Observation, measure, course,
    imaging order, or an unrelated record."""
    return st.one_of(
        conditions(now=now, knowledge=knowledge, subject=subject),
        finding_observations(now=now, knowledge=knowledge, subject=subject),
        measure_observations(now=now, knowledge=knowledge, subject=subject),
        medication_courses(now=now, knowledge=knowledge, subject=subject),
        imaging_orders(now=now, knowledge=knowledge, subject=subject),
        unrelated_resources(now=now, knowledge=knowledge, subject=subject),
    )


def assemble_bundle(
    patient: Json, resources: Iterable[Json], now: dt.datetime, bundle_id: str | None = None
) -> Json:
    """A Bundle of ``patient`` and ``resources``, each given a ``<type>-<n>`` id and the
    patient as subject."""
    pid = patient["id"]
    out = [patient]
    counters: dict[str, int] = {}
    for r in resources:
        r = dict(r)
        rt = r["resourceType"]
        counters[rt] = counters.get(rt, 0) + 1
        r["id"] = f"{rt.lower()}-{counters[rt]}"
        r["subject"] = {"reference": f"Patient/{pid}"}
        out.append(r)
    return _fhir.bundle(out, id=bundle_id, timestamp=now)


def patient_bundles(
    *,
    now: dt.datetime | str | None = None,
    knowledge: Knowledgeish | None = None,
    min_resources: int = 0,
    max_resources: int = 8,
    patient: st.SearchStrategy[Json] | None = None,
    resources: st.SearchStrategy[Json] | None = None,
) -> st.SearchStrategy[Json]:
    """A ``collection`` Bundle of one Patient and ``min..max`` resources about them.

    Resource ids are ``<type>-<n>`` (unique), every ``subject`` points at the Patient.
    """
    instant = evaluation_instant(now)
    pat = _or(patient, patients(now=instant))
    res = _or(resources, clinical_resources(now=instant, knowledge=knowledge))
    listed = st.lists(res, min_size=min_resources, max_size=max_resources)

    # a composite, not st.builds: hypothesis then prints a falsifying bundle as the JSON
    # value it is (copyable, docs/qa.md), not as the call that assembled it
    @st.composite
    def bundles(draw: st.DrawFn) -> Json:
        return assemble_bundle(draw(pat), draw(listed), instant)

    return bundles()


# --------------------------------------------------------------------------- twins


def negated_twin(resource: Mapping[str, Any], form: str) -> Json:
    """The negated, refuted or voided version of ``resource``.

    ``form`` is one of :data:`NEGATION_FORMS` for the resource type: ``refuted`` and
    ``entered-in-error`` (Condition verificationStatus), ``absent`` (Observation valued
    SNOMED 2667000), ``false`` (``valueBoolean: false``), ``entered-in-error`` or
    ``cancelled`` (status of an Observation, medication or order).
    """
    rt = resource.get("resourceType")
    if form not in NEGATION_FORMS.get(str(rt), ()):
        raise ValueError(f"no {form!r} form for {rt}")
    out = {k: v for k, v in resource.items()}
    if rt == "Condition":
        out["verificationStatus"] = {
            "coding": [{"system": _fhir.VERIFICATION_SYSTEM, "code": form}]
        }
        if form == "entered-in-error":
            out.pop("clinicalStatus", None)
        return out
    if rt == "Observation" and form in ("absent", "false"):
        for key in [k for k in out if k.startswith("value")]:
            del out[key]
        if form == "absent":
            out["valueCodeableConcept"] = {"coding": [dict(ABSENT)]}
        else:
            out["valueBoolean"] = False
        return out
    out["status"] = form
    return out


def negation_twins(data: Mapping[str, Any], ref: str) -> dict[str, Json]:
    """Every negated form of resource ``ref`` (``Type/id``) in bundle ``data``:
    form name -> a copy of the bundle with that resource replaced by its twin.

    Observations with a ``valueQuantity`` (measures) only get the status forms.
    """
    entry = next(e for e in data["entry"] if _fhir.reference(e["resource"]) == ref)
    res = entry["resource"]
    forms = NEGATION_FORMS.get(res["resourceType"], ())
    if res["resourceType"] == "Observation" and "valueQuantity" in res:
        forms = tuple(f for f in forms if f in VOID_FORMS)
    out = {}
    for form in forms:
        twin = negated_twin(res, form)
        copy_ = dict(data)
        copy_["entry"] = [
            {**e, "resource": twin} if _fhir.reference(e["resource"]) == ref else e
            for e in data["entry"]
        ]
        out[form] = copy_
    return out
