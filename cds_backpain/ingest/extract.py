"""Validated resources -> facts, following the status and negation semantics below
(those of ``cds_backpain/facts.py``). Codes are looked up in the value sets; free text never
becomes a fact.

* Condition: refuted / entered-in-error -> no fact. active/recurrence/relapse (or no
  clinicalStatus and no abatement) -> ``status`` active; inactive/remission/resolved
  (or abatement without clinicalStatus) -> history. ``days`` since onset.
* Observation: final/amended/corrected/preliminary only; dataAbsentReason -> none.
  Finding concepts need an answer: valueBoolean, valueCodeableConcept Present /
  Absent, or (without a value) a positive / negative interpretation; a bare code is
  never positive. Measures are converted to the concept's unit. Each component is read
  the same way, with its own code, value, interpretation and dataAbsentReason.
* MedicationStatement / MedicationRequest / MedicationDispense: entered-in-error,
  not-taken and doNotPerform (and fills not handed over) -> no fact; non-systemic
  routes / dose forms (qualifier value sets) -> no fact; ``current`` for an active
  course (a request also needs an order-like intent; a fill, a supply that lasts).
  Courses are joined per drug class into exposure episodes (``courses``): one fact per
  episode, ``days`` = days covered up to now, ``ended_days`` = days since it ended.
* ServiceRequest: draft/active imaging orders -> order facts.
* Procedure: completed procedures (e.g. lumbar discectomy) -> present findings of their concept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from ..facts import Fact, Laterality
from ..kb.valuesets import normalise_system
from .courses import Course, course_interval, episodes
from .fhirtime import FhirTime, fhir_time, whole_days, whole_years
from .identity import Resolver
from .outcome import Problems, clip
from .qualifiers import (
    ANSWER_ABSENT,
    ANSWER_PRESENT,
    BODY_SITE_SIDE,
    INTERPRETATION_NEGATIVE,
    INTERPRETATION_POSITIVE,
)
from .r4 import CONDITION_CLINICAL, CONDITION_VER_STATUS
from .units import convert
from .unpack import Entry

if TYPE_CHECKING:
    # The R4B models are types only here: importing them all would load every module of
    # fhir.resources they use on the first input, whatever resources it holds.
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from fhir.resources.R4B.condition import Condition
    from fhir.resources.R4B.dosage import Dosage
    from fhir.resources.R4B.medication import Medication
    from fhir.resources.R4B.medicationdispense import MedicationDispense
    from fhir.resources.R4B.medicationrequest import MedicationRequest
    from fhir.resources.R4B.medicationstatement import MedicationStatement
    from fhir.resources.R4B.observation import Observation, ObservationComponent
    from fhir.resources.R4B.patient import Patient
    from fhir.resources.R4B.procedure import Procedure
    from fhir.resources.R4B.quantity import Quantity
    from fhir.resources.R4B.servicerequest import ServiceRequest
    from fhir_core.fhirabstractmodel import FHIRAbstractModel

    from ..kb.valuesets import ConceptMatch, ValueSetIndex

    #: The resources a medication course is read from.
    CourseResource = MedicationRequest | MedicationStatement | MedicationDispense

UCUM = "http://unitsofmeasure.org"
MAX_AGE_YEARS = 130
#: How far after ``now`` a recorded time may lie (clock skew, time zones).
FUTURE_SLACK = dt.timedelta(days=1)
#: Courses of one drug class this many days apart or closer are one exposure episode
#: (used when knowledge/parameters.yaml has no ``medication_course_gap_days``).
MEDICATION_COURSE_GAP_DAYS = 30
#: Qualifier value sets (knowledge/valuesets, fact-kind ``qualifier``) read for courses.
NON_SYSTEMIC_ROUTE = "non_systemic_route"
NON_SYSTEMIC_FORM = "non_systemic_dose_form"
INJECTION = "injection_administration"

CLINICAL_ACTIVE = frozenset({"active", "recurrence", "relapse"})
CLINICAL_HISTORY = frozenset({"inactive", "remission", "resolved"})
VERIFICATION_EXCLUDED = frozenset({"refuted", "entered-in-error"})
OBSERVATION_USED = frozenset({"final", "amended", "corrected", "preliminary"})
ORDER_INTENTS = frozenset(
    {"order", "plan", "original-order", "instance-order", "reflex-order", "filler-order"}
)
MED_NO_FACT = frozenset({"entered-in-error", "not-taken"})
#: MedicationDispense statuses of a supply the patient received.
DISPENSE_USED = frozenset({"completed", "in-progress"})
SERVICE_ORDER_STATUS = frozenset({"draft", "active"})

#: Ingest roles of measures (the ``ingest-role`` extension of their value sets, so the
#: concept keys are knowledge): the series only the latest reading of becomes a fact, and
#: the measures derived from them.
WEIGHT_SERIES = "weight-series"
DISTANCE_SERIES = "weekly-distance-series"
WEIGHT_LOSS = "weight-loss"
LOAD_CHANGE = "running-load-change"


#: FHIR R4 administrative gender codes, as the patient fact's ``sex``.
_GENDERS: dict[str, Literal["male", "female", "other", "unknown"]] = {
    "male": "male",
    "female": "female",
    "other": "other",
    "unknown": "unknown",
}

FINDING_OR_MEASURE = frozenset({"finding", "measure"})
QUALIFIER = frozenset({"qualifier"})


@dataclass(frozen=True)
class _Part:
    """An Observation or one of its components: a code with its own value[x],
    interpretation and dataAbsentReason. ``panel``: an Observation that has components."""

    element: Observation | ObservationComponent
    where: str
    panel: bool = False


@dataclass
class Measured:
    """A measure fact with the instant it was taken (for series and derivations)."""

    fact: Fact
    when: dt.datetime | None


@dataclass
class Extraction:
    facts: list[Fact] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    orders: set[str] = field(default_factory=set)
    measured: list[Measured] = field(default_factory=list)
    courses: list[Course] = field(default_factory=list)


def _param(parameters: Mapping[str, Any], name: str) -> float | None:
    p = parameters.get(name)
    if p is None:
        return None
    value = getattr(p, "value", p)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _code_name(code: CodeableConcept | None) -> str | None:
    """What a CodeableConcept calls itself: its text, else its first coding display."""
    if code is None:
        return None
    names = [code.text] + [c.display for c in code.coding or ()]
    return next((n.strip() for n in names if isinstance(n, str) and n.strip()), None)


def _model(e: Entry, *resource_types: str) -> FHIRAbstractModel:
    """The validated model of an entry handed to an extractor, checked to be of one of
    ``resource_types``.

    This is the typing boundary of extraction: an entry holds its model as the generic
    ``FHIRAbstractModel`` (validation builds it with the R4B class its resource type
    names), and each handler casts the result to that class.
    """
    m = e.model
    if m is None or m.get_resource_type() not in resource_types:
        raise TypeError(f"{e.where}: no validated {' or '.join(resource_types)} model")
    return m


def _codings(concepts: Iterable[CodeableConcept | None]) -> list[tuple[str, str]]:
    """(system, code) of every coding, systems normalised (OID aliases resolved)."""
    out = []
    for cc in concepts:
        for c in (cc.coding or []) if cc is not None else []:
            if c.system and c.code:
                out.append((normalise_system(c.system), c.code.strip()))
    return out


def _status_code(cc: CodeableConcept | None, system: str) -> str | None:
    for system_, code in _codings([cc]):
        if system_ == system:
            return code
    for c in (cc.coding or []) if cc is not None else []:
        if c.system is None and c.code:
            return c.code
    return None


class Extractor:
    """Turns the validated entries of one input into facts."""

    def __init__(
        self,
        valuesets: ValueSetIndex,
        parameters: Mapping[str, Any],
        now: dt.datetime,
        problems: Problems,
        resolver: Resolver,
        birth: FhirTime | None,
    ):
        self.vs = valuesets
        self.parameters = parameters
        self.now = now
        self.problems = problems
        self.resolver = resolver
        self.birth = birth
        self.out = Extraction()

    # -- helpers -------------------------------------------------------------------------

    def match(
        self, codings: list[tuple[str, str]], kinds: frozenset[str]
    ) -> dict[str, list[ConceptMatch]]:
        """Concept key -> the matches of ``codings`` (value-set hits of the given kinds)."""
        found: dict[str, list[ConceptMatch]] = {}
        for system, code in codings:
            for m in self.vs.lookup(system, code):
                if m.kind in kinds:
                    found.setdefault(m.concept, []).append(m)
        return found

    def side(
        self, matches: list[ConceptMatch], body_sites: Iterable[CodeableConcept | None]
    ) -> Laterality | None:
        """Laterality from the codes themselves, else from bodySite qualifiers."""
        sides = {m.laterality for m in matches if m.laterality}
        if not sides:
            sides = {
                m.laterality
                for m in self.match(_codings(body_sites), QUALIFIER).get(BODY_SITE_SIDE, ())
                if m.laterality
            }
        if not sides:
            return None
        if len(sides) == 1:
            return sides.pop()  # type: ignore[return-value]
        return "bilateral"

    def instant(
        self, value: object, where: str, what: str, *, future_ok: bool = False
    ) -> dt.datetime | None:
        """A FHIR time as one UTC instant; records an error if it lies in the future."""
        t = fhir_time(value)
        if t is None:
            return None
        if not future_ok and t.earliest > self.now + FUTURE_SLACK:
            self.problems.error("business-rule", f"{what} is in the future", where)
        if t.approximate:
            self.problems.warn(
                "informational", f"{what} is a partial date; durations are approximate", where
            )
        return t.point(self.now)

    def days_since(self, when: dt.datetime | None) -> int | None:
        return None if when is None else max(0, whole_days(when, self.now))

    def fact(self, **kw: Any) -> Fact:
        return Fact(**kw)

    # -- resources -------------------------------------------------------------------------

    def condition(self, e: Entry) -> list[Fact]:
        m = cast("Condition", _model(e, "Condition"))
        ver = _status_code(m.verificationStatus, CONDITION_VER_STATUS)
        if ver in VERIFICATION_EXCLUDED:
            return []
        matches = self.match(_codings([m.code]), frozenset({"finding"}))
        if not matches:
            return []
        clin = _status_code(m.clinicalStatus, CONDITION_CLINICAL)
        abated = any(
            getattr(m, f"abatement{x}") is not None
            for x in ("DateTime", "Age", "Period", "Range", "String")
        )
        history = clin in CLINICAL_HISTORY or (clin is None and abated)
        status = "history" if history else "active"
        days = self.condition_days(e)
        facts = []
        for concept, ms in sorted(matches.items()):
            facts.append(
                self.fact(
                    kind="finding",
                    concept=concept,
                    source=e.key,
                    present=True,
                    status=status,
                    laterality=self.side(ms, m.bodySite or []),
                    days=days,
                    label=ms[0].label,
                )
            )
        return facts

    def condition_days(self, e: Entry) -> int | None:
        m = cast("Condition", _model(e, "Condition"))
        w = e.where
        onset: dt.datetime | None = None
        if m.onsetDateTime is not None:
            onset = self.instant(m.onsetDateTime, f"{w}.onsetDateTime", "onset")
        elif m.onsetPeriod is not None:
            start = self.instant(m.onsetPeriod.start, f"{w}.onsetPeriod.start", "onset")
            end = fhir_time(m.onsetPeriod.end)
            if start and end and end.end <= start:
                self.problems.error(
                    "value", "onsetPeriod ends before it starts", f"{w}.onsetPeriod"
                )
            onset = start
        elif m.onsetAge is not None:
            onset = self.at_age(m.onsetAge, f"{w}.onsetAge")
        elif m.onsetRange is not None:
            onset = self.at_age(m.onsetRange.low, f"{w}.onsetRange")
        elif m.onsetString is not None:
            self.problems.warn(
                "informational", "onsetString is free text and is not used", f"{w}.onsetString"
            )
        recorded = None
        if m.recordedDate is not None:
            recorded = self.instant(m.recordedDate, f"{w}.recordedDate", "recordedDate")
        if m.abatementDateTime is not None and onset is not None:
            ab = fhir_time(m.abatementDateTime)
            if ab is not None and ab.end <= onset:
                self.problems.error("value", "abatement is before onset", f"{w}.abatementDateTime")
        if onset is None and recorded is not None:
            # recordedDate is when the entry was recorded, not when the problem began: an old
            # problem re-recorded today must not look new, so the finding stays undated (rules
            # read "undated" the safe way, and the card asks whether it is new).
            self.problems.warn(
                "informational",
                "no usable onset; the finding is treated as undated (recordedDate is when it was "
                "recorded, not when it began)",
                f"{w}.recordedDate",
            )
        return self.days_since(onset)

    def at_age(self, q: Quantity | None, where: str) -> dt.datetime | None:
        if q is None or q.value is None:
            return None
        if self.birth is None:
            self.problems.warn(
                "informational", "onset given as an age but birthDate is unknown", where
            )
            return None
        years = {"a": 1.0, "mo": 1 / 12, "wk": 7 / 365.25, "d": 1 / 365.25}.get(
            q.code or q.unit or ""
        )
        if q.value < 0:
            self.problems.error("value", "onset age is negative", where)
            return None
        if years is None:
            self.problems.warn(
                "informational", "onset age has no usable unit (a, mo, wk, d)", where
            )
            return None
        onset = self.birth.point(self.now) + dt.timedelta(days=float(q.value) * years * 365.25)
        if onset > self.now + FUTURE_SLACK:
            self.problems.error(
                "business-rule", "onset age is after the patient's current age", where
            )
        return min(onset, self.now)

    def observation_when(self, e: Entry) -> dt.datetime | None:
        m = cast("Observation", _model(e, "Observation"))
        w = e.where
        if m.effectiveDateTime is not None:
            return self.instant(m.effectiveDateTime, f"{w}.effectiveDateTime", "effective time")
        if m.effectivePeriod is not None:
            p = m.effectivePeriod
            start = fhir_time(p.start)
            end = fhir_time(p.end)
            if start and end and end.end <= start.earliest:
                self.problems.error(
                    "value", "effectivePeriod ends before it starts", f"{w}.effectivePeriod"
                )
            ref = p.end if p.end is not None else p.start
            return self.instant(ref, f"{w}.effectivePeriod", "effective time")
        if m.effectiveInstant is not None:
            return self.instant(m.effectiveInstant, f"{w}.effectiveInstant", "effective time")
        if m.issued is not None:
            return self.instant(m.issued, f"{w}.issued", "issued time")
        return None

    def observation(self, e: Entry) -> list[Fact]:
        """Facts of an Observation: its own code and value, then one part per component.

        A component is read with the same semantics as the Observation itself (answer,
        interpretation, dataAbsentReason, unit conversion); the Observation's status,
        effective time and bodySite apply to it, and its facts cite the Observation.
        """
        m = cast("Observation", _model(e, "Observation"))
        if m.status not in OBSERVATION_USED:
            return []
        parts = [_Part(m, e.where, panel=bool(m.component))]
        parts.extend(_Part(c, f"{e.where}.component[{i}]") for i, c in enumerate(m.component or []))
        matched = [
            (part, matches)
            for part in parts
            if part.element.dataAbsentReason is None
            and (matches := self.match(_codings([part.element.code]), FINDING_OR_MEASURE))
        ]
        if not matched:
            return []
        when = self.observation_when(e)
        days = self.days_since(when)
        facts: list[Fact] = []
        for part, matches in matched:
            for concept, ms in sorted(matches.items()):
                if ms[0].kind == "finding":
                    present = self.answer(part)
                    if present is None:
                        continue
                    facts.append(
                        self.fact(
                            kind="finding",
                            concept=concept,
                            source=e.key,
                            present=present,
                            status="active",
                            laterality=self.side(ms, [m.bodySite]),
                            days=days,
                            label=ms[0].label,
                        )
                    )
                else:
                    value = self.measure_value(part, ms[0])
                    if value is None:
                        continue
                    f = self.fact(
                        kind="measure",
                        concept=concept,
                        source=e.key,
                        value=value,
                        unit=self.unit_of(ms[0]),
                        days=days,
                        label=ms[0].label,
                    )
                    self.out.measured.append(Measured(f, when))
                    self.out.used.add(e.key)
        return facts

    def answer(self, part: _Part) -> bool | None:
        """True/False for a finding's answer; None (with a warning) if it has none.

        valueBoolean, or valueCodeableConcept Present/Absent; without a value, an
        interpretation of positive/detected or negative/not detected; a bare code is
        never evidence.
        """
        m = part.element
        if m.valueBoolean is not None:
            return bool(m.valueBoolean)
        if m.valueCodeableConcept is not None:
            answers = self.qualifiers(_codings([m.valueCodeableConcept]))
            if ANSWER_ABSENT in answers:
                return False
            if ANSWER_PRESENT in answers:
                return True
            self.problems.warn(
                "code-invalid",
                "finding Observation answered with a code other than Present/Absent; not used",
                f"{part.where}.valueCodeableConcept",
            )
            return None
        if m.valueQuantity is not None:
            return None  # a finding valued by a quantity: not a yes/no answer
        interpreted = self.qualifiers(_codings(m.interpretation or []))
        negative = INTERPRETATION_NEGATIVE in interpreted
        positive = INTERPRETATION_POSITIVE in interpreted
        if negative and not positive:
            return False
        if positive and not negative:
            return True
        if part.panel:
            return None  # a panel's own code: its components carry the answers
        self.problems.warn(
            "incomplete",
            "finding Observation has no answer (valueBoolean, Present/Absent or a "
            "positive/negative interpretation); a bare code is not evidence",
            f"{part.where}.value[x]",
        )
        return None

    def unit_of(self, match: ConceptMatch) -> str | None:
        if match.unit:
            return match.unit
        info = self.vs.concepts.get(match.concept)
        return getattr(info, "unit", None)

    def measure_value(self, part: _Part, match: ConceptMatch) -> float | None:
        m = part.element
        canonical = self.unit_of(match)
        where = f"{part.where}.valueQuantity"
        if m.valueQuantity is not None:
            q = m.valueQuantity
            if q.value is None:
                return None
            if q.comparator is not None:
                self.problems.warn(
                    "incomplete", "a measured value with a comparator (<, >) is not used", where
                )
                return None
            value = float(q.value)
            if canonical is None:
                return value
            candidates: list[str | None] = []
            if q.code is not None and q.system in (None, UCUM):
                candidates.append(q.code)
            if q.unit is not None:
                candidates.append(q.unit)
            if not candidates:
                candidates.append(None)
            for unit in candidates:
                converted = convert(value, unit, canonical)
                if converted is not None:
                    return round(converted, 6)
            self.problems.warn(
                "code-invalid",
                f"unit {clip(candidates[0], 20)!r} cannot be converted to {canonical}; "
                "value not used",
                where,
            )
            return None
        if m.valueInteger is not None and canonical in (None, "{score}"):
            return float(m.valueInteger)
        self.problems.warn(
            "incomplete",
            f"a {match.concept} Observation needs a valueQuantity",
            f"{part.where}.value[x]",
        )
        return None

    def medication_product(self, e: Entry) -> tuple[list[tuple[str, str]], Medication | None]:
        """The drug codings of a course (its concept, or its Medication's code and
        ingredients) and the Medication model when it references one."""
        m = _course_model(e)
        if m.medicationCodeableConcept is not None:
            return _codings([m.medicationCodeableConcept]), None
        ref = m.medicationReference.reference if m.medicationReference is not None else None
        med: Medication | None = None
        if ref and ref.startswith("#"):
            med = next(
                (
                    cast("Medication", c)  # its resource type is checked here
                    for c in (m.contained or [])
                    if getattr(c, "id", None) == ref[1:] and c.get_resource_type() == "Medication"
                ),
                None,
            )
        else:
            target = self.resolver.resolve(ref, "Medication")
            if target is not None:
                # resolve() returns only an entry of the type asked for; its model is None
                # when the relevance screen skipped validating it.
                med = cast("Medication | None", target.model)
                e.notes["medication"] = target.key
        if med is None:
            self.problems.warn(
                "not-found",
                "medicationReference does not resolve to a Medication in the input; not used",
                f"{e.where}.medicationReference",
            )
            return [], None
        ingredients = [i.itemCodeableConcept for i in (med.ingredient or [])]
        return _codings([med.code, *ingredients]), med

    def qualifiers(self, codings: list[tuple[str, str]]) -> set[str]:
        """The qualifier concepts (knowledge/valuesets, fact-kind qualifier) of ``codings``."""
        return set(self.match(codings, QUALIFIER))

    def systemic(
        self, e: Entry, dosages: list[Dosage], med: Medication | None
    ) -> tuple[bool, bool]:
        """(systemic, single administration) of a course, from Dosage.route and the
        Medication's dose form: every stated route non-systemic, or no route and a
        non-systemic dose form, is not systemic exposure; an injection route or form is a
        single administration unless its timing says otherwise."""
        routes = [_codings([d.route]) for d in dosages if d.route is not None]
        route_kinds = [self.qualifiers(r) for r in routes]
        form = self.qualifiers(_codings([med.form])) if med is not None else set()
        if route_kinds:
            systemic = not all(NON_SYSTEMIC_ROUTE in k for k in route_kinds)
        else:
            systemic = NON_SYSTEMIC_FORM not in form
        single = INJECTION in form or any(INJECTION in k for k in route_kinds)
        return systemic, single

    def medication(self, e: Entry) -> list[Fact]:
        """Records the course of each drug class the resource matches; the facts are made
        per exposure episode afterwards (:meth:`exposures`)."""
        m = _course_model(e)
        if m.status in MED_NO_FACT or getattr(m, "doNotPerform", None):
            return []
        if e.rt == "MedicationDispense" and m.status not in DISPENSE_USED:
            return []
        codings, med = self.medication_product(e)
        matches = self.match(codings, frozenset({"med"}))
        if not matches:
            return []
        dosage_name = "dosage" if e.rt == "MedicationStatement" else "dosageInstruction"
        dosages = list(getattr(m, dosage_name, None) or [])
        systemic, single = self.systemic(e, dosages, med)
        if not systemic:
            self.problems.warn(
                "informational",
                "medication given by a non-systemic route or dose form (topical, inhaled, "
                "nasal, eye, ear, joint); not counted as systemic exposure",
                f"{e.where}.{dosage_name}",
            )
            return []
        if e.rt == "MedicationRequest":
            intent = cast("MedicationRequest", m).intent
            current = m.status == "active" and intent in ORDER_INTENTS
        else:
            current = m.status == "active"
        self.check_periods(e, dosage_name, dosages)
        start, end = course_interval(
            m, dosages, current=current, single_administration=single, now=self.now
        )
        if e.rt == "MedicationDispense":  # a supply is current while it lasts
            current = end is not None and end > self.now
        for concept, ms in sorted(matches.items()):
            self.out.courses.append(Course(concept, ms[0].label, e.key, current, start, end))
        self.out.used.add(e.key)
        if "medication" in e.notes:
            self.out.used.add(e.notes["medication"])
        return []

    def check_periods(self, e: Entry, dosage_name: str, dosages: list[Dosage]) -> None:
        """Errors for course periods that end before they start."""
        m = _course_model(e)
        periods = [(getattr(m, "effectivePeriod", None), f"{e.where}.effectivePeriod")]
        for i, d in enumerate(dosages):
            repeat = d.timing.repeat if d.timing is not None else None
            if repeat is not None:
                where = f"{e.where}.{dosage_name}[{i}].timing.repeat.boundsPeriod"
                periods.append((repeat.boundsPeriod, where))
        dispense = getattr(m, "dispenseRequest", None)
        if dispense is not None:
            periods.append((dispense.validityPeriod, f"{e.where}.dispenseRequest.validityPeriod"))
        for p, where in periods:
            if p is None:
                continue
            s, en = fhir_time(p.start), fhir_time(p.end)
            if s is not None and en is not None and en.end <= s.earliest:
                self.problems.error("value", "period ends before it starts", where)

    def exposures(self) -> list[Fact]:
        """One med fact per exposure episode of each drug class (see ``courses``)."""
        gap = _param(self.parameters, "medication_course_gap_days")
        if gap is None:
            gap = MEDICATION_COURSE_GAP_DAYS
        out = []
        for ep in episodes(self.out.courses, dt.timedelta(days=gap), self.now):
            latest = ep.latest
            out.append(
                self.fact(
                    kind="med",
                    concept=ep.concept,
                    source=latest.source,
                    also=tuple(sorted({c.source for c in ep.courses} - {latest.source})),
                    current=ep.current,
                    days=ep.days,
                    ended_days=ep.ended_days,
                    label=ep.label,
                )
            )
        return out

    def procedure(self, e: Entry) -> list[Fact]:
        """A completed Procedure (e.g. a lumbar discectomy) is a present finding of its concept."""
        m = cast("Procedure", _model(e, "Procedure"))
        if m.status != "completed":
            return []
        matches = self.match(_codings([m.code]), frozenset({"finding"}))
        if not matches:
            return []
        when = None
        if m.performedDateTime is not None:
            when = self.instant(m.performedDateTime, f"{e.where}.performedDateTime", "performed")
        elif m.performedPeriod is not None and m.performedPeriod.start is not None:
            when = self.instant(
                m.performedPeriod.start, f"{e.where}.performedPeriod.start", "performed"
            )
        days = self.days_since(when)
        return [
            self.fact(
                kind="finding",
                concept=concept,
                source=e.key,
                present=True,
                status="active",
                days=days,
                label=ms[0].label,
            )
            for concept, ms in sorted(matches.items())
        ]

    def service_request(self, e: Entry) -> list[Fact]:
        m = cast("ServiceRequest", _model(e, "ServiceRequest"))
        if m.status not in SERVICE_ORDER_STATUS or m.doNotPerform:
            return []
        matches = self.match(_codings([m.code]), frozenset({"order"}))
        if not matches:
            return []
        self.out.orders.add(e.key)
        return [
            self.fact(
                kind="order",
                concept=concept,
                source=e.key,
                modality=ms[0].modality,
                indication=bool(m.reasonCode or m.reasonReference),
                name=_code_name(m.code),
                label=ms[0].label,
            )
            for concept, ms in sorted(matches.items())
        ]

    # -- series ------------------------------------------------------------------------

    def series(self) -> list[Fact]:
        """Measure facts after series handling, plus derived weight loss / load change."""
        out: list[Fact] = []
        by_concept: dict[str, list[Measured]] = {}
        for ms in self.out.measured:
            by_concept.setdefault(ms.fact.concept, []).append(ms)
        roles = self.vs.roles
        weight, distance = roles.get(WEIGHT_SERIES), roles.get(DISTANCE_SERIES)
        for concept, items in sorted(by_concept.items()):
            if concept in (weight, distance):
                out.append(_latest(items).fact)
            else:
                out.extend(i.fact for i in items)
        weights = by_concept.get(weight, []) if weight else []
        loss = roles.get(WEIGHT_LOSS)
        if loss and len(weights) >= 2:
            derived = self.weight_loss(weights, loss)
            if derived is not None:
                out.append(derived)
        weeks = by_concept.get(distance, []) if distance else []
        change = roles.get(LOAD_CHANGE)
        if change and change not in by_concept and len(weeks) >= 2:
            derived = self.load_change(weeks, change)
            if derived is not None:
                out.append(derived)
        return out

    def derived_fact(
        self, concept: str, value: float, latest: Measured, others: list[Measured]
    ) -> Fact:
        info = self.vs.concepts.get(concept)
        return self.fact(
            kind="measure",
            concept=concept,
            source=latest.fact.source,
            also=tuple(
                sorted({o.fact.source for o in others if o.fact.source} - {latest.fact.source})
            ),
            value=round(value, 3),
            unit=getattr(info, "unit", None) or "%",
            days=latest.fact.days,
            label=getattr(info, "label", None),
        )

    def weight_loss(self, weights: list[Measured], concept: str) -> Fact | None:
        window = _param(self.parameters, "weight_loss_window_days")
        if window is None:
            self.problems.warn(
                "informational",
                "parameter weight_loss_window_days is not set; weight loss is not derived",
            )
            return None
        timed = [w for w in weights if w.when is not None]
        if len(timed) < 2:
            return None
        latest = _latest(timed)
        assert latest.when is not None
        start = latest.when - dt.timedelta(days=window)
        in_window = [w for w in timed if start <= w.when <= latest.when]  # type: ignore[operator]
        if len(in_window) < 2:
            return None
        top = max(w.fact.value or 0.0 for w in in_window)
        if top <= 0:
            return None
        loss = max(0.0, (top - (latest.fact.value or 0.0)) / top * 100.0)
        return self.derived_fact(concept, loss, latest, in_window)

    def load_change(self, weeks: list[Measured], concept: str) -> Fact | None:
        window = _param(self.parameters, "running_load_window_days")
        if window is None:
            self.problems.warn(
                "informational",
                "parameter running_load_window_days is not set; running-load change is not derived",
            )
            return None
        timed = [w for w in weeks if w.when is not None]
        if len(timed) < 2:
            return None
        latest = _latest(timed)
        assert latest.when is not None
        start = latest.when - dt.timedelta(days=window)
        earlier = [w for w in timed if w is not latest and start <= w.when < latest.when]  # type: ignore[operator]
        if not earlier:
            return None
        mean = sum(w.fact.value or 0.0 for w in earlier) / len(earlier)
        if mean <= 0:
            return None
        change = ((latest.fact.value or 0.0) - mean) / mean * 100.0
        return self.derived_fact(concept, change, latest, earlier)


def _course_model(e: Entry) -> CourseResource:
    """The MedicationRequest, MedicationStatement or MedicationDispense of a course entry."""
    m = _model(e, "MedicationRequest", "MedicationStatement", "MedicationDispense")
    return cast("CourseResource", m)


def _latest(items: list[Measured]) -> Measured:
    """The most recent reading; ties (and undated readings) broken by source reference."""
    floor = dt.datetime.min.replace(tzinfo=dt.UTC)
    return max(items, key=lambda m: (m.when or floor, m.fact.source or "", m.fact.value or 0.0))


def patient_fact(
    entry: Entry, now: dt.datetime, problems: Problems
) -> tuple[Fact, FhirTime | None]:
    """The patient fact (age at ``now``, sex) and the birth date used for ages at onset."""
    m = cast("Patient", _model(entry, "Patient"))
    birth = fhir_time(m.birthDate) if m.birthDate is not None else None
    age = None
    where = f"{entry.where}.birthDate"
    if birth is None:
        problems.warn("incomplete", "Patient.birthDate is missing; age is unknown", where)
    elif birth.earliest > now:
        problems.error("value", "Patient.birthDate is after the evaluation time", where)
    else:
        born = birth.point(now).date()
        age = whole_years(born, now.date())
        if birth.approximate:
            problems.warn(
                "informational",
                f"Patient.birthDate gives only a {birth.precision}; age is approximate "
                "(mid-period assumed)",
                where,
            )
        if age > MAX_AGE_YEARS:
            problems.error("value", f"Patient age {age} is over {MAX_AGE_YEARS} years", where)
    # FHIR R4 administrative gender; absent is read as "unknown", so that rules with a
    # sex-specific threshold apply their sex-neutral (safer) reading.
    sex = _GENDERS.get(m.gender or "", "unknown")
    fact = Fact(kind="patient", concept="patient", source=entry.key, age=age, sex=sex)
    return fact, birth
