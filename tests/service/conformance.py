"""Checks every service answer against the CDS Hooks 2.0 digest (requirements.md).

* JSON Schema written from the digest (``cds_backpain/service/schemas``),
* the spec's FHIRPath invariants ``cds-resp-*`` / ``cds-fb-*`` evaluated with fhirpathpy,
* no null/empty values (2.1), unique uuids (23), plain Markdown (24),
* every FHIR resource in a suggestion or system action valid for the R4B models (32).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import fhirpathpy
from fhir.resources.R4B import get_fhir_model_class

from cds_backpain.service.schema import validator

#: FHIRPath invariants of the CDS Hooks logical models: (id, element, expression).
RESPONSE_INVARIANTS = (
    (
        "cds-resp-1",
        "card",
        # The spec writes where(isRecommended); fhirpathpy 2.2 keeps items whose criterion
        # is false there, so the equivalent where(isRecommended = true) is evaluated.
        "(selectionBehavior = 'at-most-one') implies "
        "suggestions.where(isRecommended = true).count() <= 1",
    ),
    (
        "cds-resp-2",
        "action",
        "(type = 'delete') implies (resourceId.exists() and resource.empty())",
    ),
    ("cds-resp-3", "link", "(type != 'smart') implies (appContext.empty())"),
    ("cds-resp-4", "overrideReason", "all(display.exists())"),
    ("cds-resp-5", "suggestion", "actions.all(description.exists())"),
    ("cds-resp-6", "card", "suggestions.exists() implies selectionBehavior.exists()"),
    (
        "cds-resp-7",
        "suggestion",
        "actionSelectionBehavior.empty() or actionSelectionBehavior = 'all' "
        "or actionSelectionBehavior = 'any' or actionSelectionBehavior = 'at-most-one'",
    ),
)
FEEDBACK_INVARIANTS = (
    ("cds-fb-1", "feedback", "outcome = 'accepted' or outcome = 'overridden'"),
    ("cds-fb-2", "feedback", "(outcome = 'accepted') implies acceptedSuggestions.exists()"),
    ("cds-fb-3", "overrideReason", "reason.exists() or userComment.exists()"),
)
_HTML = re.compile(r"<\s*/?\s*[A-Za-z!]")


def schema_errors(definition: str, instance: Any) -> list[str]:
    return [
        f"{list(e.absolute_path)}: {e.message}" for e in validator(definition).iter_errors(instance)
    ]


def holds(expression: str, element: Any) -> bool:
    result = fhirpathpy.evaluate(element, expression)
    return result == [True]


def empty_values(value: Any, path: str = "$", allow: tuple[str, ...] = ()) -> Iterator[str]:
    """Paths of null / "" / [] / {} values (CDS Hooks 2.1), except the paths in ``allow``."""
    if value is None or value == "" or value == [] or value == {}:
        if path not in allow:
            yield path
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield from empty_values(v, f"{path}.{k}", allow)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from empty_values(v, f"{path}[{i}]", allow)


def _elements(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for card in body.get("cards", []):
        yield "card", card
        for reason in card.get("overrideReasons", []):
            yield "overrideReason", reason
        for link in card.get("links", []):
            yield "link", link
        for s in card.get("suggestions", []):
            yield "suggestion", s
            for a in s.get("actions", []):
                yield "action", a
    for a in body.get("systemActions", []):
        yield "action", a


def fhir_resources(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for kind, element in _elements(body):
        if kind == "action" and "resource" in element:
            yield element["resource"]
    for a in (body.get("extension") or {}).get("systemActions", []):
        if "resource" in a:
            yield a["resource"]


def check_response(body: dict[str, Any]) -> None:
    """Assert that a 200 hook answer conforms (raises AssertionError naming the defect)."""
    assert not schema_errors("Response", body), schema_errors("Response", body)
    assert not list(empty_values(body, allow=("$.cards",))), list(
        empty_values(body, allow=("$.cards",))
    )
    for inv, kind, expression in RESPONSE_INVARIANTS:
        for k, element in _elements(body):
            if k == kind:
                assert holds(expression, element), f"{inv} fails on {element}"
    uuids = [c["uuid"] for c in body["cards"]] + [
        s["uuid"] for c in body["cards"] for s in c.get("suggestions", [])
    ]
    assert len(uuids) == len(set(uuids)), "uuids are not unique in the response"
    for card in body["cards"]:
        assert len(card["summary"]) < 140
        assert not _HTML.search(card.get("detail", "")), "raw HTML in a card detail"
    for resource in fhir_resources(body):
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def check_outcome(body: Any) -> None:
    assert not schema_errors("OperationOutcome", body), schema_errors("OperationOutcome", body)


def feedback_conforms(item: dict[str, Any]) -> bool:
    """Whether a feedback item satisfies the cds-fb invariants."""
    ok = all(holds(e, item) for _, k, e in FEEDBACK_INVARIANTS if k == "feedback")
    reason = item.get("overrideReason")
    if reason is not None:
        ok = ok and holds(FEEDBACK_INVARIANTS[2][2], reason)
    return ok
