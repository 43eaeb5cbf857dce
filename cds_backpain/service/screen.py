"""Real clients send resources the rules never read: they must not fail the call.

The service evaluates what the client sent; when the evaluation refuses the input, each
defect is traced back to the resource it is in and named in the client's terms
(``prefetch.conditions.entry[0]``, ``context.draftOrders.entry[2]``). A defective
resource the rules do not read (a type no rule reads, or no code any value set knows)
and a draft order that cannot be parsed are left out and reported as warnings; any
other defect still refuses the call (400), since the rules would read that resource, and
so does a resource about another patient than ``context.patientId``, whatever it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..ingest import VALIDATED_TYPES
from .errors import issue, operation_outcome

if TYPE_CHECKING:
    from ..kb.valuesets import ValueSetIndex

#: Resource types whose content the rules read (anything else is only counted): the
#: types ingest validates.
READ_TYPES = VALIDATED_TYPES
#: Where each type keeps the codes that make it matter.
_CODE_ELEMENTS = {
    "MedicationRequest": ("medicationCodeableConcept",),
    "MedicationStatement": ("medicationCodeableConcept",),
}
_ITEM = re.compile(r"^array item (\d+): ")


@dataclass(frozen=True)
class Skipped:
    """A resource left out of the evaluation, where the client put it, and why."""

    location: str
    reference: str
    why: str


def client_locations(
    resources: Sequence[Mapping[str, Any]],
    prefetch: Mapping[str, Any] | None,
    draft_orders: Sequence[Mapping[str, Any]],
) -> list[str]:
    """Where the client put each resource, in the client's terms.

    Resources are matched by identity with the objects of the request (draft orders also
    by reference); one fetched from the FHIR server is named by its reference.
    """
    where: dict[int, str] = {}
    for key, value in (prefetch or {}).items():
        if not isinstance(value, dict):
            continue
        if value.get("resourceType") == "Bundle":
            for i, entry in enumerate(value.get("entry") or ()):
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    where.setdefault(id(entry["resource"]), f"prefetch.{key}.entry[{i}]")
        else:
            where.setdefault(id(value), f"prefetch.{key}")
    drafts: dict[str, str] = {}
    for i, draft in enumerate(draft_orders):
        where.setdefault(id(draft), f"context.draftOrders.entry[{i}]")
        drafts.setdefault(_ref(draft), f"context.draftOrders.entry[{i}]")
    # Draft orders may reach the evaluation as copies: matched by reference then.
    return [
        where.get(id(r)) or drafts.get(_ref(r)) or f"{_ref(r)} (from fhirServer)" for r in resources
    ]


def _ref(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def read_by_rules(resource: Mapping[str, Any], valuesets: ValueSetIndex) -> bool:
    """True if the rules may read ``resource``: a type they read with a code a value
    set knows (the Patient always; a resource whose codes cannot be told is read)."""
    rtype = resource.get("resourceType")
    if rtype not in READ_TYPES:
        return False
    if rtype == "Patient":
        return True
    if rtype in _CODE_ELEMENTS and resource.get("medicationReference") is not None:
        return True  # its Medication decides
    codings: list[Any] = []
    for name in _CODE_ELEMENTS.get(str(rtype), ("code",)):
        value = resource.get(name)
        if value is None:
            continue
        if not isinstance(value, dict) or not isinstance(value.get("coding", []), list):
            return True
        codings.extend(value.get("coding", []))
    for c in codings:
        if not isinstance(c, dict):
            return True
        if valuesets.lookup(c.get("system"), c.get("code")):
            return True
    return False


def triage(
    outcome: Mapping[str, Any],
    resources: Sequence[Mapping[str, Any]],
    locations: Sequence[str],
    drafts: frozenset[int],
    valuesets: ValueSetIndex,
) -> tuple[dict[int, Skipped], dict[str, Any] | None]:
    """Split the defects of a refused evaluation.

    Returns the resources to leave out (index -> :class:`Skipped`) and, if any defect
    is in a resource the rules read (or in no single resource), the OperationOutcome
    to answer with, its locations in the client's terms. ``drafts`` are the indices of
    draft orders: one that cannot be parsed is left out (not rated) whatever its type.
    """
    skip: dict[int, Skipped] = {}
    kept: list[dict[str, Any]] = []
    for item in outcome.get("issue") or ():
        text = str(item.get("diagnostics", ""))
        m = _ITEM.match(text)
        index = int(m.group(1)) if m else None
        if index is None or index >= len(resources):
            kept.append(dict(item))
            continue
        resource = resources[index]
        detail = text[m.end() :] if m else text
        where = locations[index]
        ref = f"{resource.get('resourceType')}/{resource.get('id')}"
        if not _about_another_patient(item) and (
            index in drafts or not read_by_rules(resource, valuesets)
        ):
            why = (
                "a draft order that cannot be parsed is not rated"
                if index in drafts
                else ("the rules do not read this resource")
            )
            skip.setdefault(index, Skipped(where, ref, f"{why} ({detail})"))
            continue
        kept.append(
            {
                **item,
                "diagnostics": f"{where} ({ref}): {detail}",
                "expression": [
                    _client_expression(where, e, str(resource.get("resourceType")))
                    for e in item.get("expression") or ()
                ]
                or [where],
            }
        )
    if kept:
        return skip, {"resourceType": "OperationOutcome", "issue": kept}
    return skip, None


def _about_another_patient(item: Mapping[str, Any]) -> bool:
    """Whether an issue says a resource is about another patient: that refuses the call
    whatever the resource, since the client's data are mixed up."""
    return item.get("code") == "business-rule" and any(
        str(e).endswith(".subject") for e in item.get("expression") or ()
    )


def _client_expression(where: str, expression: str, rtype: str) -> str:
    """``MedicationRequest.category`` in ``prefetch.x.entry[0]`` ->
    ``prefetch.x.entry[0].resource.category``."""
    if "(from fhirServer)" in where:
        return expression
    inner = expression.removeprefix(rtype).lstrip(".")
    head = f"{where}.resource" if where.endswith("]") else where
    return f"{head}.{inner}" if inner else head


def warnings_outcome(skipped: Sequence[Skipped]) -> dict[str, Any]:
    """The left-out resources as an OperationOutcome of warnings."""
    return operation_outcome(
        issue(
            f"{s.location} ({s.reference}) was left out: {s.why}",
            severity="warning",
            code="informational",
            expression=[s.location],
        )
        for s in skipped
    )
