"""FHIR date, dateTime and instant values as UTC instants, with their precision.

fhir.resources keeps partial dates (``2020``, ``2020-03``) as strings, full dates as
``datetime.date`` and date-times (always zoned in valid FHIR) as ``datetime``.
A date without a time means midnight UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

UTC = dt.UTC
Precision = Literal["year", "month", "day", "time"]


@dataclass(frozen=True)
class FhirTime:
    """A FHIR time value: the instant range it covers and how precise it is."""

    earliest: dt.datetime
    #: First instant after the range (exclusive); equals ``earliest`` for date-times.
    end: dt.datetime
    precision: Precision

    @property
    def approximate(self) -> bool:
        """True for a year or year-month value."""
        return self.precision in ("year", "month")

    def point(self, now: dt.datetime) -> dt.datetime:
        """One instant for the value: itself, or mid-range for a partial date (never after now)."""
        if self.precision == "time" or self.precision == "day":
            return self.earliest
        if self.precision == "month":
            mid = self.earliest.replace(day=15)
        else:
            mid = self.earliest.replace(month=7, day=1)
        return max(self.earliest, min(mid, now))


def _midnight(d: dt.date) -> dt.datetime:
    return dt.datetime(d.year, d.month, d.day, tzinfo=UTC)


def fhir_time(value: object) -> FhirTime | None:
    """The :class:`FhirTime` of a value read from a fhir.resources model (None if absent)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        when = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return FhirTime(when, when, "time")
    if isinstance(value, dt.date):
        start = _midnight(value)
        return FhirTime(start, start + dt.timedelta(days=1), "day")
    text = str(value)
    parts = text.split("-")
    try:
        year = int(parts[0])
        if len(parts) == 1:
            return FhirTime(
                dt.datetime(year, 1, 1, tzinfo=UTC), dt.datetime(year + 1, 1, 1, tzinfo=UTC), "year"
            )
        month = int(parts[1])
        if len(parts) == 2:
            nxt = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
            return FhirTime(dt.datetime(year, month, 1, tzinfo=UTC), nxt, "month")
        parsed = dt.date.fromisoformat(text[:10])
    except ValueError:
        return None
    return fhir_time(parsed)


def whole_days(start: dt.datetime, end: dt.datetime) -> int:
    """Whole days from ``start`` to ``end`` (rounded down; negative if ``end`` is earlier)."""
    return (end - start) // dt.timedelta(days=1)


def whole_years(born: dt.date, on: dt.date) -> int:
    """Age in whole years on date ``on`` of someone born on ``born``."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
