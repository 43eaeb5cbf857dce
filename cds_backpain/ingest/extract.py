"""Validated resources -> facts, following the status and negation semantics of the
clinical brief, section 2.5. Codes are looked up in the value sets; free text never
becomes a fact.

* Condition: refuted / entered-in-error -> no fact. active/recurrence/relapse (or no
  clinicalStatus and no abatement) -> ``status`` active; inactive/remission/resolved
  (or abatement without clinicalStatus) -> history. ``days`` since onset.
* Observation: final/amended/corrected/preliminary only; dataAbsentReason -> none.
  Finding concepts need an answer: valueBoolean, or valueCodeableConcept Present /
  Absent; a bare code is never positive. Measures are converted to the concept's unit.
* MedicationStatement / MedicationRequest: entered-in-error, not-taken and
  doNotPerform -> no fact; ``current`` for an active course (a request also needs an
  order-like intent); ``days`` = exposure up to now.
* ServiceRequest: draft/active imaging orders -> order facts.
* Procedure: completed procedures (e.g. lumbar discectomy) -> present findings of their concept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..facts import Fact, Laterality
from .fhirtime import FhirTime, fhir_time, whole_days, whole_years
from .identity import Resolver
from .outcome import Problems, clip
from .qualifiers import ABSENT, BODY_SITE_SIDE, PRESENT
from .r4 import CONDITION_CLINICAL, CONDITION_VER_STATUS
from .units import convert
from .unpack import Entry

if TYPE_CHECKING:
    from ..kb.valuesets import ConceptMatch, ValueSetIndex

UCUM = "http://unitsofmeasure.org"
MAX_AGE_YEARS = 130
#: How far after ``now`` a recorded time may lie (clock skew, time zones).
FUTURE_SLACK = dt.timedelta(days=1)
#: Running-load change compares the latest week with the weeks of this many days before it
#: (used when knowledge/parameters.yaml has no ``running_load_window_days``).
RUNNING_LOAD_WINDOW_DAYS = 28

CLINICAL_ACTIVE = frozenset({"active", "recurrence", "relapse"})
CLINICAL_HISTORY = frozenset({"inactive", "remission", "resolved"})
VERIFICATION_EXCLUDED = frozenset({"refuted", "entered-in-error"})
OBSERVATION_USED = frozenset({"final", "amended", "corrected", "preliminary"})
ORDER_INTENTS = frozenset(
    {"order", "plan", "original-order", "instance-order", "reflex-order", "filler-order"}
)
MED_NO_FACT = frozenset({"entered-in-error", "not-taken"})
SERVICE_ORDER_STATUS = frozenset({"draft", "active"})

#: Concepts handled as a series (only the latest reading becomes a fact) and derived ones.
BODY_WEIGHT = "body_weight"
WEEKLY_DISTANCE = "weekly_running_distance"
WEIGHT_LOSS_PCT = "weight_loss_pct"
RUNNING_LOAD_CHANGE = "running_load_change"


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


def _param(parameters: Mapping[str, Any], name: str) -> float | None:
    p = parameters.get(name)
    if p is None:
        return None
    value = getattr(p, "value", p)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _codings(concepts: Iterable[Any]) -> list[tuple[str, str]]:
    out = []
    for cc in concepts:
        for c in (getattr(cc, "coding", None) or []) if cc is not None else []:
            if c.system and c.code:
                out.append((c.system, c.code))
    return out


def _status_code(cc: Any, system: str) -> str | None:
    for system_, code in _codings([cc]):
        if system_ == system:
            return code
    for c in getattr(cc, "coding", None) or [] if cc is not None else []:
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

    def side(self, matches: list[ConceptMatch], body_sites: Iterable[Any]) -> Laterality | None:
        """Laterality from the codes themselves, else from bodySite qualifiers."""
        sides = {m.laterality for m in matches if m.laterality}
        if not sides:
            sides = {BODY_SITE_SIDE[c] for c in _codings(body_sites) if c in BODY_SITE_SIDE}
        if not sides:
            return None
        if len(sides) == 1:
            return sides.pop()  # type: ignore[return-value]
        return "bilateral"

    def instant(
        self, value: Any, where: str, what: str, *, future_ok: bool = False
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
        m = e.model
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
        m = e.model
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
        elif m.onsetAge is not None or m.onsetRange is not None:
            q = m.onsetAge if m.onsetAge is not None else m.onsetRange.low
            onset = self.at_age(q, f"{w}.onsetAge" if m.onsetAge is not None else f"{w}.onsetRange")
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

    def at_age(self, q: Any, where: str) -> dt.datetime | None:
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
        m = e.model
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
        m = e.model
        if m.status not in OBSERVATION_USED or m.dataAbsentReason is not None:
            return []
        matches = self.match(_codings([m.code]), frozenset({"finding", "measure"}))
        if not matches:
            return []
        when = self.observation_when(e)
        days = self.days_since(when)
        facts: list[Fact] = []
        for concept, ms in sorted(matches.items()):
            if ms[0].kind == "finding":
                present = self.answer(e)
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
                value = self.measure_value(e, ms[0])
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

    def answer(self, e: Entry) -> bool | None:
        """True/False for a finding Observation's answer; None (with a warning) if it has none."""
        m = e.model
        if m.valueBoolean is not None:
            return bool(m.valueBoolean)
        if m.valueCodeableConcept is not None:
            codes = set(_codings([m.valueCodeableConcept]))
            if codes & ABSENT:
                return False
            if codes & PRESENT:
                return True
            self.problems.warn(
                "code-invalid",
                "finding Observation answered with a code other than Present/Absent; not used",
                f"{e.where}.valueCodeableConcept",
            )
            return None
        if m.valueQuantity is not None:
            return None  # a finding valued by a quantity: not a yes/no answer
        self.problems.warn(
            "incomplete",
            "finding Observation has no answer (valueBoolean or Present/Absent); "
            "a bare code is not evidence",
            f"{e.where}.value[x]",
        )
        return None

    def unit_of(self, match: ConceptMatch) -> str | None:
        if match.unit:
            return match.unit
        info = self.vs.concepts.get(match.concept)
        return getattr(info, "unit", None)

    def measure_value(self, e: Entry, match: ConceptMatch) -> float | None:
        m = e.model
        canonical = self.unit_of(match)
        where = f"{e.where}.valueQuantity"
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
            candidates = []
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
            f"{e.where}.value[x]",
        )
        return None

    def medication_codes(self, e: Entry) -> list[tuple[str, str]]:
        m = e.model
        if m.medicationCodeableConcept is not None:
            return _codings([m.medicationCodeableConcept])
        ref = m.medicationReference.reference if m.medicationReference is not None else None
        med = None
        if ref and ref.startswith("#"):
            med = next(
                (
                    c
                    for c in (m.contained or [])
                    if getattr(c, "id", None) == ref[1:] and c.get_resource_type() == "Medication"
                ),
                None,
            )
        else:
            target = self.resolver.resolve(ref, "Medication")
            if target is not None:
                med = target.model
                e.notes["medication"] = target.key
        if med is None:
            self.problems.warn(
                "not-found",
                "medicationReference does not resolve to a Medication in the input; not used",
                f"{e.where}.medicationReference",
            )
            return []
        ingredients = [i.itemCodeableConcept for i in (med.ingredient or [])]
        return _codings([med.code, *ingredients])

    def medication(self, e: Entry) -> list[Fact]:
        m = e.model
        if m.status in MED_NO_FACT or getattr(m, "doNotPerform", None):
            return []
        matches = self.match(self.medication_codes(e), frozenset({"med"}))
        if not matches:
            return []
        if e.rt == "MedicationRequest":
            current = m.status == "active" and m.intent in ORDER_INTENTS
        else:
            current = m.status == "active"
        days = self.exposure_days(e, current)
        if "medication" in e.notes:
            self.out.used.add(e.notes["medication"])
        return [
            self.fact(
                kind="med",
                concept=concept,
                source=e.key,
                current=current,
                days=days,
                label=ms[0].label,
            )
            for concept, ms in sorted(matches.items())
        ]

    def exposure_days(self, e: Entry, current: bool) -> int | None:
        m = e.model
        w = e.where
        starts: list[dt.datetime] = []
        ends: list[dt.datetime] = []
        durations: list[dt.timedelta] = []
        effective_period = getattr(m, "effectivePeriod", None)
        if effective_period is not None:
            self._period(effective_period, f"{w}.effectivePeriod", starts, ends)
        if getattr(m, "effectiveDateTime", None) is not None:
            t = fhir_time(m.effectiveDateTime)
            if t is not None:
                starts.append(t.point(self.now))
        dosage_name = "dosageInstruction" if e.rt == "MedicationRequest" else "dosage"
        for i, d in enumerate(getattr(m, dosage_name, None) or []):
            repeat = d.timing.repeat if d.timing is not None else None
            if repeat is None:
                continue
            if repeat.boundsPeriod is not None:
                self._period(
                    repeat.boundsPeriod,
                    f"{w}.{dosage_name}[{i}].timing.repeat.boundsPeriod",
                    starts,
                    ends,
                )
            if repeat.boundsDuration is not None and repeat.boundsDuration.value is not None:
                days = {"d": 1, "wk": 7, "mo": 30.4375, "a": 365.25}.get(
                    repeat.boundsDuration.code or ""
                )
                if days is not None:
                    durations.append(dt.timedelta(days=float(repeat.boundsDuration.value) * days))
        if not starts and getattr(m, "authoredOn", None) is not None:
            t = fhir_time(m.authoredOn)
            if t is not None:
                starts.append(t.point(self.now))
        if not starts:
            return None
        start = min(starts)
        if ends:
            end = max(ends)
        elif durations:
            end = start + max(durations)
        elif current:
            end = self.now
        else:
            return None
        end = min(end, self.now)
        if end < start:
            return 0
        return whole_days(start, end)

    def _period(
        self, p: Any, where: str, starts: list[dt.datetime], ends: list[dt.datetime]
    ) -> None:
        s = fhir_time(p.start)
        en = fhir_time(p.end)
        if s is not None and en is not None and en.end <= s.earliest:
            self.problems.error("value", "period ends before it starts", where)
            return
        if s is not None:
            starts.append(s.point(self.now))
        if en is not None:
            ends.append(en.end if en.precision != "time" else en.earliest)

    def procedure(self, e: Entry) -> list[Fact]:
        """A completed Procedure (e.g. a lumbar discectomy) is a present finding of its concept."""
        m = e.model
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
        m = e.model
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
        for concept, items in sorted(by_concept.items()):
            if concept in (BODY_WEIGHT, WEEKLY_DISTANCE):
                out.append(_latest(items).fact)
            else:
                out.extend(i.fact for i in items)
        weights = by_concept.get(BODY_WEIGHT, [])
        if len(weights) >= 2:
            derived = self.weight_loss(weights)
            if derived is not None:
                out.append(derived)
        if RUNNING_LOAD_CHANGE not in by_concept and len(by_concept.get(WEEKLY_DISTANCE, [])) >= 2:
            derived = self.load_change(by_concept[WEEKLY_DISTANCE])
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

    def weight_loss(self, weights: list[Measured]) -> Fact | None:
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
        return self.derived_fact(WEIGHT_LOSS_PCT, loss, latest, in_window)

    def load_change(self, weeks: list[Measured]) -> Fact | None:
        window = _param(self.parameters, "running_load_window_days") or RUNNING_LOAD_WINDOW_DAYS
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
        return self.derived_fact(RUNNING_LOAD_CHANGE, change, latest, earlier)


def _latest(items: list[Measured]) -> Measured:
    """The most recent reading; ties (and undated readings) broken by source reference."""
    floor = dt.datetime.min.replace(tzinfo=dt.UTC)
    return max(items, key=lambda m: (m.when or floor, m.fact.source or "", m.fact.value or 0.0))


def patient_fact(
    entry: Entry, now: dt.datetime, problems: Problems
) -> tuple[Fact, FhirTime | None]:
    """The patient fact (age at ``now``, sex) and the birth date used for ages at onset."""
    m = entry.model
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
    sex = m.gender if m.gender in ("male", "female", "other", "unknown") else None
    fact = Fact(kind="patient", concept="patient", source=entry.key, age=age, sex=sex)
    return fact, birth
