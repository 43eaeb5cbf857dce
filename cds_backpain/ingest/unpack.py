"""Split a JSON document into its resources and validate each one.

Accepts a Bundle (collection, searchset, transaction, batch, document), a single
resource, or a JSON array of resources. The Bundle itself is validated without its
entries' resources, which are validated one by one so that every defect has an
exact location.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fhir_core.fhirabstractmodel import FHIRAbstractModel

from .outcome import Problems, clip, fail_limit
from .parse import Limits
from .r4 import ACCEPTED_BUNDLE_TYPES, REQUIRED_CODES, VALIDATED_TYPES
from .validate import Timer, check_type, version_problems


@dataclass
class Entry:
    """One top-level resource of the input."""

    rt: str
    raw: dict[str, Any]
    #: FHIRPath-like location of the resource (``Bundle.entry[3].resource`` or ``Condition``).
    where: str
    full_url: str | None = None
    model: FHIRAbstractModel | None = None
    #: Reference the resource is known by (``Condition/1``); set by :mod:`.identity`.
    key: str = ""
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Unpacked:
    entries: list[Entry]
    bundle_type: str | None


def _merge(sub: Problems, into: Problems, prefix: str) -> None:
    for d in sub.defects:
        into.error(d.code, prefix + d.diagnostics, d.expression)
    into.warnings.extend(sub.warnings)


#: Decides whether an entry can matter to the rules (True: validate it fully).
Screen = Callable[["Entry"], bool]


def _validate_entry(
    entry: Entry, problems: Problems, timer: Timer, lenient: bool, screen: Screen | None = None
) -> None:
    if screen is not None and not screen(entry):
        # No value set knows its code: it is ignored and counted, never rejected, so it is
        # not model-validated; another FHIR version and a foreign subject are still refused.
        version_problems(entry.raw, entry.rt, entry.where, problems)
        entry.notes["screened"] = True
        return
    raw = entry.raw
    if entry.rt == "MedicationRequest" and "intent" not in raw and lenient:
        raw = {**raw, "intent": "order"}
        entry.raw = raw
        problems.warn(
            "required",
            "MedicationRequest.intent is missing; assumed 'order'",
            f"{entry.where}.intent",
        )
    entry.model = timer.validate(raw, entry.rt, entry.where, problems)


def _bundle(
    doc: dict[str, Any],
    limits: Limits,
    problems: Problems,
    timer: Timer,
    lenient: bool,
    screen: Screen | None = None,
) -> Unpacked:
    if version_problems(doc, "Bundle", "Bundle", problems):
        return Unpacked([], None)
    btype = doc.get("type")
    shell: dict[str, Any] = {k: v for k, v in doc.items() if k != "entry"}
    if btype is None:
        if lenient:
            btype = shell["type"] = "collection"
            problems.warn("required", "Bundle.type is missing; assumed 'collection'", "Bundle.type")
    elif not isinstance(btype, str):
        problems.error("structure", "Bundle.type must be a code (a JSON string)", "Bundle.type")
    elif btype in REQUIRED_CODES["Bundle", "type"] and btype not in ACCEPTED_BUNDLE_TYPES:
        problems.error(
            "not-supported",
            f"Bundle.type {clip(btype, 30)!r} is not supported "
            f"(use one of {', '.join(sorted(ACCEPTED_BUNDLE_TYPES))})",
            "Bundle.type",
        )
    raw_entries = doc.get("entry", [])
    if not isinstance(raw_entries, list):
        problems.error("structure", "Bundle.entry must be an array", "Bundle.entry")
        raw_entries = []
    if len(raw_entries) > limits.max_entries:
        fail_limit(
            "max_entries",
            limits.max_entries,
            f"Bundle has {len(raw_entries)} entries",
            "Bundle.entry",
        )
    shells: list[Any] = []
    resources: list[tuple[int, Any]] = []
    for i, e in enumerate(raw_entries):
        if isinstance(e, dict):
            shells.append({k: v for k, v in e.items() if k != "resource"})
            if "resource" in e:
                resources.append((i, e["resource"]))
        else:
            shells.append(e)
    if raw_entries:
        shell["entry"] = shells
    timer.validate(shell, "Bundle", "Bundle", problems)

    entries: list[Entry] = []
    for i, res in resources:
        where = f"Bundle.entry[{i}].resource"
        rt = check_type(res, where, problems)
        if rt is None:
            continue
        if rt == "Bundle":
            problems.error(
                "not-supported", "a Bundle inside a Bundle entry is not supported", where
            )
            continue
        full_url = raw_entries[i].get("fullUrl")
        entry = Entry(rt, res, where, full_url if isinstance(full_url, str) else None)
        if rt in VALIDATED_TYPES:
            _validate_entry(entry, problems, timer, lenient, screen)
        entries.append(entry)
    return Unpacked(entries, btype if isinstance(btype, str) else None)


def unpack(
    doc: dict[str, Any] | list[Any],
    limits: Limits,
    problems: Problems,
    timer: Timer,
    lenient: bool,
    screen: Screen | None = None,
) -> Unpacked:
    """The resources of ``doc``, validated; defects are recorded in ``problems``."""
    if isinstance(doc, dict) and doc.get("resourceType") == "Bundle":
        return _bundle(doc, limits, problems, timer, lenient, screen)
    items = doc if isinstance(doc, list) else [doc]
    if len(items) > limits.max_entries:
        fail_limit("max_entries", limits.max_entries, f"the array has {len(items)} resources")
    entries: list[Entry] = []
    for i, item in enumerate(items):
        sub = Problems()
        prefix = f"array item {i}: " if isinstance(doc, list) else ""
        rt = check_type(item, "Resource", sub)
        if rt == "Bundle":
            sub.error(
                "not-supported", "a Bundle inside an array of resources is not supported", "Bundle"
            )
        elif rt is not None:
            entry = Entry(rt, item, rt)
            if rt in VALIDATED_TYPES:
                _validate_entry(entry, sub, timer, lenient, screen)
            entries.append(entry)
        _merge(sub, problems, prefix)
    return Unpacked(entries, None)
