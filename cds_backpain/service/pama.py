"""Argonaut "CDS Hooks for PAMA": imaging-order ratings as system actions.

For every draft ServiceRequest the evaluation rated, the service returns an ``update``
system action carrying the whole draft plus the rating extensions (no other change to
the order), at the top-level ``systemActions`` (CDS Hooks 2.0) and, when configured,
mirrored under ``extension.systemActions`` (Argonaut-era clients and the sandbox).
A ``not-appropriate`` rating also gets a card, the evaluation's own card for the rating
conclusion, with a suggestion to remove the draft order. No clinical text is written
here: the card's words come from the conclusion.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..results import Conclusion, Evaluation
from .config import ServiceConfig

RATING_URL = "http://fhir.org/argonaut/Extension/pama-rating"
QCDSM_URL = "http://fhir.org/argonaut/Extension/pama-rating-qcdsm-consulted"
CONSULT_ID_URL = "http://fhir.org/argonaut/Extension/pama-rating-consult-id"
AUC_APPLIED_URL = "http://fhir.org/argonaut/Extension/pama-rating-auc-applied"
RATING_SYSTEM = "http://fhir.org/argonaut/CodeSystem/pama-rating"
PAMA_URLS = frozenset({RATING_URL, QCDSM_URL, CONSULT_ID_URL, AUC_APPLIED_URL})
RATING_DISPLAY = {
    "appropriate": "Appropriate",
    "not-appropriate": "Not appropriate",
    "no-criteria-apply": "No criteria apply",
}
_NAMESPACE = uuid.UUID("6f1c7a0e-2b7d-4f53-9a51-3c1b8f0e2d44")


def ref(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def rated_drafts(
    evaluation: Evaluation, drafts: Iterable[Mapping[str, Any]], selections: Sequence[str]
) -> list[tuple[dict[str, Any], str]]:
    """(draft ServiceRequest, rating) for the orders in scope: the selected ones
    (order-select) or every draft (order-sign)."""
    out = []
    for resource in drafts:
        if resource.get("resourceType") != "ServiceRequest" or not resource.get("id"):
            continue
        if selections and ref(resource) not in selections:
            continue
        rating = evaluation.ratings.get(ref(resource))
        if rating:
            out.append((dict(resource), rating))
    return out


def rating_action(
    resource: Mapping[str, Any], rating: str, config: ServiceConfig
) -> dict[str, Any]:
    """An ``update`` of the draft with the rating extensions (replacing earlier ones)."""
    updated = copy.deepcopy(dict(resource))
    kept = [e for e in updated.get("extension") or () if e.get("url") not in PAMA_URLS]
    pama = [
        {
            "url": RATING_URL,
            "valueCodeableConcept": {
                "coding": [
                    {"system": RATING_SYSTEM, "code": rating, "display": RATING_DISPLAY[rating]}
                ]
            },
        },
        {"url": QCDSM_URL, "valueString": config.pama_qcdsm},
        {"url": CONSULT_ID_URL, "valueUri": f"urn:uuid:{uuid.uuid4()}"},
    ]
    if config.pama_auc_applied:
        pama.append({"url": AUC_APPLIED_URL, "valueUri": config.pama_auc_applied})
    updated["extension"] = kept + pama
    return {
        "type": "update",
        "description": f"Record the appropriateness rating '{rating}' on {ref(resource)}",
        "resource": updated,
    }


def system_actions(
    evaluation: Evaluation,
    drafts: Iterable[Mapping[str, Any]],
    selections: Sequence[str],
    config: ServiceConfig,
) -> list[dict[str, Any]]:
    return [
        rating_action(r, rating, config)
        for r, rating in rated_drafts(evaluation, drafts, selections)
    ]


def _conclusion_for(evaluation: Evaluation, order: str) -> Conclusion | None:
    for c in evaluation.conclusions:
        if c.rating == "not-appropriate" and order in c.orders:
            return c
    return None


def _card_for(cards: Sequence[dict[str, Any]], conclusion: Conclusion) -> dict[str, Any] | None:
    for card in cards:
        if (card.get("source") or {}).get("topic", {}).get("code") == conclusion.id:
            return card
    return None


def remove_order_suggestion(card_uuid: str, resource: Mapping[str, Any]) -> dict[str, Any]:
    """A suggestion deleting the draft order (``resourceId``, no resource: cds-resp-2)."""
    order = ref(resource)
    return {
        "label": f"Remove the draft order {order}",
        "uuid": str(uuid.uuid5(_NAMESPACE, f"remove|{card_uuid}|{order}")),
        "isRecommended": False,
        "actions": [
            {"type": "delete", "description": f"Delete draft order {order}", "resourceId": order}
        ],
    }


def not_appropriate_cards(
    evaluation: Evaluation,
    cards: list[dict[str, Any]],
    drafts: Iterable[Mapping[str, Any]],
    selections: Sequence[str],
    build_card: Any,
) -> list[dict[str, Any]]:
    """Give each not-appropriate order a card with a "remove the order" suggestion.

    The evaluation's card for the rating conclusion gets the suggestion; if it has no
    card, ``build_card(conclusion)`` makes one with the evaluation's own card emitter.
    Returns the cards list (the same objects, extended).
    """
    out = [copy.deepcopy(c) for c in cards]
    for resource, rating in rated_drafts(evaluation, drafts, selections):
        if rating != "not-appropriate":
            continue
        conclusion = _conclusion_for(evaluation, ref(resource))
        if conclusion is None:
            continue
        card = _card_for(out, conclusion)
        if card is None:
            card = build_card(conclusion)
            out.append(card)
        suggestion = remove_order_suggestion(card["uuid"], resource)
        existing = card.setdefault("suggestions", [])
        if all(s.get("uuid") != suggestion["uuid"] for s in existing):
            existing.append(suggestion)
        card.setdefault("selectionBehavior", "at-most-one")
    return out
