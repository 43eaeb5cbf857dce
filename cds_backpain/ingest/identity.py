"""Who and what the resources are: references, duplicates, the one patient, subjects.

A leak between patients is worse than a refusal: every clinical resource must point
at the one Patient of the input, by ``Patient/<id>``, by the Patient entry's
``fullUrl``, or by an absolute URL compared whole: ``https://other-server/fhir/Patient/<id>``
is another server's patient, even with the same id. Without an absolute Patient
``fullUrl``, an absolute reference is this patient's only when it is on the server of the
resource that makes it (its own ``fullUrl``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from .outcome import Problems, clip
from .r4 import SUBJECT_TYPES
from .unpack import Entry

_RESTFUL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def strip_history(ref: str) -> str:
    """A reference without its ``/_history/<version>`` suffix."""
    return ref.split("/_history/", 1)[0]


def _anonymous_key(entry: Entry) -> str:
    canon = json.dumps(entry.raw, sort_keys=True, separators=(",", ":"), default=str)
    return f"{entry.rt}/anon-{hashlib.sha256(canon.encode()).hexdigest()[:16]}"


def assign_keys(entries: list[Entry], problems: Problems) -> dict[str, Entry]:
    """Give each entry its reference key; record duplicates and fullUrl/id mismatches."""
    by_key: dict[str, Entry] = {}
    by_url: dict[str, Entry] = {}
    for e in entries:
        rid = e.raw.get("id") if isinstance(e.raw.get("id"), str) else None
        url_match = _RESTFUL.search(e.full_url) if e.full_url else None
        if rid and url_match and (url_match.group(1) != e.rt or url_match.group(2) != rid):
            problems.error(
                "invalid",
                f"fullUrl does not match the resource ({e.rt}/{clip(rid, 64)})",
                e.where.removesuffix(".resource") + ".fullUrl",
            )
        if rid:
            e.key = f"{e.rt}/{rid}"
        elif url_match and url_match.group(1) == e.rt:
            e.key = f"{e.rt}/{url_match.group(2)}"
        elif e.full_url:
            e.key = e.full_url
        else:
            e.key = _anonymous_key(e)
        if e.key in by_key:
            problems.error(
                "duplicate",
                f"{clip(e.key, 80)} occurs more than once (also at {by_key[e.key].where})",
                e.where + (".id" if rid else ""),
            )
        else:
            by_key[e.key] = e
        if e.full_url:
            if e.full_url in by_url and by_url[e.full_url] is not e:
                problems.error(
                    "duplicate",
                    f"fullUrl {clip(e.full_url, 80)} occurs more than once",
                    e.where.removesuffix(".resource") + ".fullUrl",
                )
            by_url[e.full_url] = e
    return by_key


def find_patient(
    entries: list[Entry], problems: Problems, container: str | None = None
) -> Entry | None:
    """The one Patient entry (records an error for none or several).

    ``container`` is where a missing Patient should have been (``Bundle.entry``).
    """
    patients = [e for e in entries if e.rt == "Patient"]
    if not patients:
        problems.error(
            "required",
            "missing Patient: the input must include the patient's Patient resource",
            container,
        )
        return None
    if len(patients) > 1:
        problems.error(
            "business-rule",
            f"a Bundle must describe one patient, found {len(patients)} Patients",
            patients[1].where,
        )
        return None
    return patients[0]


def _item(entry: Entry, positions: Mapping[int, int]) -> str:
    """``array item <i>: `` for a resource of a top-level array (as the validation
    messages of its items begin), else nothing."""
    index = positions.get(id(entry.raw))
    return "" if index is None else f"array item {index}: "


def check_expected_patient(
    patient: Entry, expected: str, problems: Problems, positions: Mapping[int, int] = {}
) -> None:
    """Record an error unless ``patient`` is ``expected`` (an id or ``Patient/<id>``).

    ``positions`` maps ``id(raw resource)`` to its index in a top-level array.
    """
    want = expected if expected.startswith("Patient/") else f"Patient/{expected}"
    if patient.key != want:
        problems.error(
            "business-rule",
            f"{_item(patient, positions)}the Patient of this input is "
            f"{clip(patient.key, 80)}, not the expected patient {clip(want, 80)}; "
            "one input must describe one patient",
            patient.where,
        )


class PatientMatcher:
    """Decides whether a Reference points at the one patient of the input."""

    def __init__(self, patient: Entry):
        self.id = patient.raw.get("id") if isinstance(patient.raw.get("id"), str) else None
        self.full_url = patient.full_url
        self.key = patient.key
        model = patient.model
        self.identifiers = {
            (i.system, i.value)
            for i in (getattr(model, "identifier", None) or [])
            if i.value is not None
        }

    def matches(self, reference: Any, referrer_url: str | None = None) -> bool:
        """Whether ``reference`` is this patient; ``referrer_url`` is the ``fullUrl`` of
        the resource that makes it (the server a relative reference is resolved on)."""
        ref = getattr(reference, "reference", None)
        if ref is None:
            ident = getattr(reference, "identifier", None)
            return ident is not None and (ident.system, ident.value) in self.identifiers
        ref = strip_history(ref)
        if ref in (self.key, self.full_url):
            return True
        if self.id is None:
            return False
        if not ref.startswith(("http://", "https://")):
            return ref == f"Patient/{self.id}"
        if _is_absolute(self.full_url):
            return False  # compared whole above
        base = server_base(referrer_url)
        return base is not None and ref == f"{base}/Patient/{self.id}"


def _is_absolute(url: str | None) -> bool:
    return url is not None and url.startswith(("http://", "https://"))


def server_base(full_url: str | None) -> str | None:
    """The server base of an absolute RESTful ``fullUrl`` (``https://s/fhir/Condition/1``
    -> ``https://s/fhir``), else None."""
    if not _is_absolute(full_url):
        return None
    assert full_url is not None
    m = _RESTFUL.search(full_url)
    return full_url[: m.start()] if m and m.start() > 0 else None


def check_subjects(
    entries: list[Entry],
    matcher: PatientMatcher,
    problems: Problems,
    positions: Mapping[int, int] = {},
) -> None:
    """Every clinical resource must be about the one patient (Observation may omit subject).

    ``positions`` maps ``id(raw resource)`` to its index in a top-level array.
    """
    for e in entries:
        if e.rt not in SUBJECT_TYPES:
            continue
        if e.model is not None:
            subject = getattr(e.model, "subject", None)
        elif e.notes.get("screened"):  # not validated: its raw reference (checked to be a str)
            raw = e.raw.get("subject")
            subject = SimpleNamespace(reference=raw["reference"]) if raw else None
        else:
            continue
        if subject is None:
            # required elsewhere (the model already says so); optional on these two
            if e.rt not in ("Observation", "MedicationDispense"):
                problems.error(
                    "required",
                    f"{_item(e, positions)}{e.rt}.subject is missing",
                    f"{e.where}.subject",
                )
            continue
        if not matcher.matches(subject, e.full_url):
            # Another server is named (a mix-up of servers), another patient's id never is.
            other = server_base(strip_history(getattr(subject, "reference", None) or ""))
            found = f" but a Patient on {clip(other, 120)}" if other else ""
            problems.error(
                "business-rule",
                f"{_item(e, positions)}{e.rt}.subject does not reference the Patient of this "
                f"input ({clip(matcher.key, 80)}){found}; one input must describe one patient",
                f"{e.where}.subject",
            )


class Resolver:
    """Finds the entry a literal reference points at (type/id, fullUrl or absolute URL)."""

    def __init__(self, by_key: dict[str, Entry], entries: list[Entry]):
        self.by_key = by_key
        self.by_url = {e.full_url: e for e in entries if e.full_url}

    def resolve(self, ref: str | None, rt: str) -> Entry | None:
        if not ref:
            return None
        ref = strip_history(ref)
        hit = self.by_url.get(ref) or self.by_key.get(ref)
        if hit is None:
            m = _RESTFUL.search(ref)
            if m:
                hit = self.by_key.get(f"{m.group(1)}/{m.group(2)}")
        return hit if hit is not None and hit.rt == rt else None
