"""Time metamorphoses: move a whole record in time, or one finding out of its window.

Two properties every rule must keep, whatever the data:

* **Shift invariance.** Moving every date of a record and the evaluation instant by the
  same amount changes nothing a clinician sees (:func:`shift_record`, :func:`triage`).
  The shift is a whole number of 28-year cycles, during which the Gregorian calendar
  repeats day for day (between 1901 and 2099), so ages, durations and birthdays are
  preserved exactly and only the year digits change.
* **Recency.** A finding that a rule reads only while it is recent stops counting once it
  is moved beyond its window (:func:`recency_windows`, :func:`age_resource`): the rule no
  longer fires on it, and it is not cited as evidence.

No clinical content lives here: the windows come from the compiled rules and their
parameters (``knowledge/parameters.yaml``).
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..engine.compiled import CompiledRules

__all__ = [
    "CYCLE_YEARS",
    "RecencyWindow",
    "age_resource",
    "dated",
    "recency_windows",
    "shift_instant",
    "shift_record",
    "triage",
]

#: The Gregorian calendar repeats exactly every 28 years between 1901 and 2099.
CYCLE_YEARS = 28

Json = Any

_DATE = re.compile(r"^(\d{4})(-\d{2}(-\d{2}(T.*)?)?)?$")
#: Keys of FHIR elements of type date, dateTime or instant in the resources this product reads
#: (choice types end in DateTime/Instant/Date; Period has start/end).
_DATE_KEYS = frozenset(
    {
        "birthDate",
        "deceasedDateTime",
        "recordedDate",
        "authoredOn",
        "issued",
        "start",
        "end",
        "date",
        "timestamp",
        "lastUpdated",
        "dateAsserted",
        "occurrenceDateTime",
        "performedDateTime",
        "effectiveDateTime",
        "effectiveInstant",
        "onsetDateTime",
        "abatementDateTime",
        "valueDateTime",
    }
)


def _is_date_key(key: str) -> bool:
    return key in _DATE_KEYS or key.endswith(("DateTime", "Instant"))


def _walk_dates(value: Json, fn: Any) -> Json:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(v, str) and _is_date_key(k) and _DATE.match(v):
                out[k] = fn(v)
            else:
                out[k] = _walk_dates(v, fn)
        return out
    if isinstance(value, list):
        return [_walk_dates(v, fn) for v in value]
    return value


def _check_cycle(years: int) -> None:
    if years % CYCLE_YEARS:
        raise ValueError(f"shift by a multiple of {CYCLE_YEARS} years, not {years}")


def _shift_year(text: str, years: int) -> str:
    m = _DATE.match(text)
    assert m is not None
    year = int(m.group(1)) + years
    if not 1901 <= year <= 2099:
        raise ValueError(f"{text} shifted by {years} years leaves 1901-2099")
    return f"{year:04d}{text[4:]}"


def shift_record(data: Json, years: int) -> Json:
    """A deep copy of ``data`` (a Bundle, a resource or a list) with every date moved by
    ``years`` (a multiple of :data:`CYCLE_YEARS`)."""
    _check_cycle(years)
    return _walk_dates(copy.deepcopy(data), lambda s: _shift_year(s, years))


def shift_instant(now: dt.datetime, years: int) -> dt.datetime:
    """``now`` moved by ``years`` (a multiple of :data:`CYCLE_YEARS`), same day and time."""
    _check_cycle(years)
    return now.replace(year=now.year + years)


def _shift_days(text: str, days: int) -> str:
    m = _DATE.match(text)
    assert m is not None
    if m.group(4):  # dateTime / instant: keep the time and the offset
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        moved = (when + dt.timedelta(days=days)).isoformat()
        return moved.replace("+00:00", "Z") if text.endswith("Z") else moved
    if m.group(3):  # full date
        return (dt.date.fromisoformat(text) + dt.timedelta(days=days)).isoformat()
    # year or year-month precision: move by whole years (never later than asked)
    years = -((-days) // 365) if days < 0 else days // 365
    return _shift_year(text, years) if years else text


def age_resource(resource: Mapping[str, Any], days: int) -> Json:
    """A copy of ``resource`` with every date moved ``days`` earlier (a finding, reading or
    course that happened that much longer ago)."""
    return _walk_dates(copy.deepcopy(dict(resource)), lambda s: _shift_days(s, -days))


def dated(resource: Mapping[str, Any]) -> bool:
    """Whether ``resource`` carries a clinical time (onset, effective or authored), so that
    moving it in time means something (``recordedDate`` alone is not one)."""

    def times(v: Json) -> Iterable[str]:
        if isinstance(v, dict):
            for k, x in v.items():
                if k in ("recordedDate", "issued", "meta"):
                    continue
                if isinstance(x, str) and _is_date_key(k):
                    yield x
                else:
                    yield from times(x)
        elif isinstance(v, list):
            for x in v:
                yield from times(x)

    return any(True for _ in times(dict(resource)))


@dataclass(frozen=True)
class RecencyWindow:
    """A rule pattern that counts a fact only while it is recent: ``days < window``."""

    rule: str
    kind: str
    concepts: tuple[str, ...]
    #: The first day on which the fact no longer counts.
    window: int


def recency_windows(compiled: CompiledRules) -> tuple[RecencyWindow, ...]:
    """Every (rule, pattern) with an upper bound on ``days``, from the compiled rules."""
    out: dict[tuple[str, str, tuple[str, ...]], int] = {}
    for rule in compiled.rules:
        for branch in rule.branches:
            for p in branch:
                for t in p.tests:
                    if t.attribute != "days" or t.op not in ("lt", "le"):
                        continue
                    if not isinstance(t.value, int | float) or isinstance(t.value, bool):
                        continue
                    limit = int(t.value) + (1 if t.op == "le" else 0)
                    key = (rule.id, p.kind, p.concepts)
                    out[key] = max(out.get(key, 0), limit)
    return tuple(
        RecencyWindow(rule=r, kind=k, concepts=c, window=w) for (r, k, c), w in sorted(out.items())
    )


def triage(evaluation: Any) -> Json:
    """What the clinician is told, without times or ids that move with the record: the
    headline, each recommendation (id, category, urgency, imaging, red flag), the rules that
    fired, the order ratings and the orders asked for their indication."""
    return {
        "urgency": evaluation.urgency,
        "imaging": evaluation.imaging,
        "conclusions": sorted(
            (c.id, c.category, c.urgency, c.imaging, c.red_flag) for c in evaluation.conclusions
        ),
        "rules": sorted({d.rule for d in evaluation.derivations}),
        "ratings": dict(sorted(evaluation.ratings.items())),
        "missing_indication": list(evaluation.missing_indication),
    }
