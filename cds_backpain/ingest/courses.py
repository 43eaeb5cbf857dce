"""Medication courses and exposure: the interval each MedicationRequest,
MedicationStatement or MedicationDispense covers, and the union of one drug class's courses.

A course's interval comes from what the resource says, most specific first:

* start: ``effectivePeriod.start`` / ``effectiveDateTime`` / ``Dosage.timing.repeat
  .boundsPeriod.start`` / ``whenHandedOver`` (MedicationDispense), else ``authoredOn``,
  else ``dispenseRequest.validityPeriod.start``;
* end: ``effectivePeriod.end`` / ``boundsPeriod.end``; else the longest of
  ``boundsDuration``, the ``repeat.count`` administrations at the stated frequency,
  ``daysSupply`` (MedicationDispense) and ``dispenseRequest.expectedSupplyDuration`` x
  (1 + ``numberOfRepeatsAllowed``); else
  ``validityPeriod.end``; else one day for a single injection; else *now* for a current
  course (an active course runs until it is stopped); else unknown.

Courses of one drug class whose gaps are at most ``medication_course_gap_days`` form one
episode (monthly repeat prescriptions add up); an episode's exposure is the number of
days its courses cover (the union, so overlapping courses count once).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .fhirtime import fhir_time, whole_days

#: Length in days of the UCUM time units FHIR durations and timing periods use.
UNIT_DAYS: dict[str, float] = {
    "s": 1 / 86400,
    "min": 1 / 1440,
    "h": 1 / 24,
    "d": 1.0,
    "wk": 7.0,
    "mo": 30.4375,
    "a": 365.25,
}
#: Plain-word units EHRs write in ``Quantity.unit`` (e.g. a daysSupply of "30 days").
UNIT_NAMES: dict[str, str] = {
    "d": "d",
    "day": "d",
    "days": "d",
    "wk": "wk",
    "week": "wk",
    "weeks": "wk",
    "mo": "mo",
    "month": "mo",
    "months": "mo",
}
ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Course:
    """One resource's course of one drug class."""

    concept: str
    label: str | None
    source: str
    current: bool
    start: dt.datetime | None
    #: Exclusive end; None when unknown (an undated or open-ended, non-current course).
    end: dt.datetime | None


@dataclass(frozen=True)
class Episode:
    """Courses of one drug class joined across gaps of at most the course gap."""

    concept: str
    label: str | None
    courses: tuple[Course, ...]
    #: Days covered by the union of the courses' intervals (None: undated courses).
    days: int | None
    #: Days since the episode ended (0 while it lasts); None when undated.
    ended_days: int | None

    @property
    def current(self) -> bool:
        return any(c.current for c in self.courses)

    @property
    def latest(self) -> Course:
        """The course the fact cites first: the one ending last (ties by reference)."""
        floor = dt.datetime.min.replace(tzinfo=dt.UTC)
        return max(self.courses, key=lambda c: (c.end or floor, c.source))


def duration(q: Any) -> dt.timedelta | None:
    """A FHIR Duration (value + UCUM time code) as a timedelta; None if unusable."""
    if q is None or q.value is None or float(q.value) < 0:
        return None
    days = UNIT_DAYS.get(q.code or "") or UNIT_DAYS.get(UNIT_NAMES.get((q.unit or "").lower(), ""))
    return None if days is None else dt.timedelta(days=float(q.value) * days)


def count_duration(repeat: Any) -> dt.timedelta | None:
    """How long ``repeat.count`` administrations take at ``frequency`` per ``period``."""
    if repeat.count is None or repeat.count <= 0:
        return None
    frequency = repeat.frequency or 1
    period = float(repeat.period) if repeat.period is not None else 1.0
    unit = UNIT_DAYS.get(repeat.periodUnit or "d", 1.0)
    periods = math.ceil(repeat.count / frequency)
    return max(ONE_DAY, dt.timedelta(days=periods * period * unit))


def supply_duration(dispense: Any) -> dt.timedelta | None:
    """Expected supply x (1 + repeats) of a MedicationRequest.dispenseRequest."""
    if dispense is None:
        return None
    supply = duration(dispense.expectedSupplyDuration)
    if supply is None:
        return None
    return supply * (1 + max(0, dispense.numberOfRepeatsAllowed or 0))


def covered_days(intervals: Iterable[tuple[dt.datetime, dt.datetime]]) -> int:
    """Whole days covered by the union of ``intervals``."""
    total = dt.timedelta(0)
    last_end: dt.datetime | None = None
    for start, end in sorted(intervals):
        if last_end is not None and start < last_end:
            start = last_end
        if end > start:
            total += end - start
            last_end = end if last_end is None else max(last_end, end)
    return total // ONE_DAY


def episodes(courses: Sequence[Course], gap: dt.timedelta, now: dt.datetime) -> list[Episode]:
    """Courses of each concept joined into episodes (undated courses stand alone)."""
    out: list[Episode] = []
    by_concept: dict[str, list[Course]] = {}
    for c in courses:
        by_concept.setdefault(c.concept, []).append(c)
    for concept, items in sorted(by_concept.items()):
        label = items[0].label
        dated = sorted(
            (c for c in items if c.start is not None and c.end is not None),
            key=lambda c: (c.start, c.end, c.source),
        )
        for c in items:
            if c.start is None or c.end is None:
                out.append(Episode(concept, label, (c,), None, 0 if c.current else None))
        group: list[Course] = []
        group_end: dt.datetime | None = None
        for c in dated:
            assert c.start is not None and c.end is not None
            if group and group_end is not None and c.start - group_end > gap:
                out.append(_episode(concept, label, group, now))
                group = []
            group.append(c)
            group_end = c.end if group_end is None or len(group) == 1 else max(group_end, c.end)
        if group:
            out.append(_episode(concept, label, group, now))
    return out


def _episode(concept: str, label: str | None, group: list[Course], now: dt.datetime) -> Episode:
    spans = [(c.start, min(c.end, now)) for c in group if c.start and c.end]
    end = max(c.end for c in group if c.end)
    days = covered_days((s, e) for s, e in spans if e > s)
    ended = max(0, whole_days(end, now))
    return Episode(concept, label, tuple(group), days, ended)


def course_interval(
    m: Any,
    dosages: Sequence[Any],
    *,
    current: bool,
    single_administration: bool,
    now: dt.datetime,
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The (start, exclusive end) a MedicationRequest/Statement model ``m`` covers.

    ``dosages`` are its Dosage elements; ``single_administration`` is true for an
    injection, which without timing counts as one day. Malformed periods (end before
    start) are checked by the caller.
    """
    starts: list[dt.datetime] = []
    ends: list[dt.datetime] = []
    spans: list[dt.timedelta] = []

    def period(p: Any) -> None:
        if p is None:
            return
        s, e = fhir_time(p.start), fhir_time(p.end)
        if s is not None:
            starts.append(s.point(now))
        if e is not None:
            ends.append(e.end if e.precision != "time" else e.earliest)

    period(getattr(m, "effectivePeriod", None))
    handed = fhir_time(getattr(m, "whenHandedOver", None) or getattr(m, "whenPrepared", None))
    if handed is not None:
        starts.append(handed.point(now))
    supplied = duration(getattr(m, "daysSupply", None))
    if supplied is not None:
        spans.append(supplied)
    when = fhir_time(getattr(m, "effectiveDateTime", None))
    if when is not None:
        starts.append(when.point(now))
    for d in dosages:
        repeat = d.timing.repeat if d.timing is not None else None
        if repeat is None:
            continue
        period(repeat.boundsPeriod)
        for span in (duration(repeat.boundsDuration), count_duration(repeat)):
            if span is not None:
                spans.append(span)
    dispense = getattr(m, "dispenseRequest", None)
    supply = supply_duration(dispense)
    if supply is not None:
        spans.append(supply)
    validity = dispense.validityPeriod if dispense is not None else None
    if not starts:
        for value in (getattr(m, "authoredOn", None), validity.start if validity else None):
            t = fhir_time(value)
            if t is not None:
                starts.append(t.point(now))
                break
    if not starts:
        return None, None
    start = min(starts)
    if ends:
        return start, max(ends)
    if spans:
        return start, start + max(spans)
    valid_end = fhir_time(validity.end) if validity is not None else None
    if valid_end is not None and valid_end.end > start:
        return start, valid_end.end
    if single_administration:
        return start, start + ONE_DAY
    if current:
        return start, max(start, now)
    if when is not None and getattr(m, "effectivePeriod", None) is None:
        return start, start + ONE_DAY  # taken at one instant
    return start, None
