"""Argonaut "CDS Hooks for PAMA": imaging-order ratings as system actions.

For every draft ServiceRequest the evaluation rated, the service returns an ``update``
system action carrying the whole draft plus the rating extensions (no other change to
the order), at the top-level ``systemActions`` (CDS Hooks 2.0) and, when configured,
mirrored under ``extension.systemActions`` (Argonaut-era clients and the sandbox).
A ``not-appropriate`` rating also gets a card, the evaluation's own card for the rating
conclusion, with a suggestion to remove the draft order.

The order hooks answer the orders: order-select shows the cards about the selected
orders and the red flags, not every patient-view card; a suggestion to order what an
open draft rated appropriate already orders (same modality) is left out. An order that
could only be rated "no criteria apply" because it has no indication is not rated and
gets a card asking for the indication (PAMA): the evaluation decides that and makes the
card, as for every transport; order-select keeps it for the selected orders only. Every
word added here comes from ``knowledge/templates.yaml`` (``wording``); orders are named
by their code's text, never by a FHIR id.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..emit.cards import indication_order
from ..emit.markdown import truncate
from ..evaluation import Conclusion, Evaluation
from ..kb.knowledge import Knowledge
from .config import ServiceConfig

RATING_URL = "http://fhir.org/argonaut/Extension/pama-rating"
QCDSM_URL = "http://fhir.org/argonaut/Extension/pama-rating-qcdsm-consulted"
CONSULT_ID_URL = "http://fhir.org/argonaut/Extension/pama-rating-consult-id"
AUC_APPLIED_URL = "http://fhir.org/argonaut/Extension/pama-rating-auc-applied"
RATING_SYSTEM = "http://fhir.org/argonaut/CodeSystem/pama-rating"
PAMA_URLS = frozenset({RATING_URL, QCDSM_URL, CONSULT_ID_URL, AUC_APPLIED_URL})
_NAMESPACE = uuid.UUID("6f1c7a0e-2b7d-4f53-9a51-3c1b8f0e2d44")


def ref(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def order_name(resource: Mapping[str, Any], knowledge: Knowledge) -> str:
    """What a clinician calls the order: its code's text, else a coding's display."""
    code = resource.get("code") if isinstance(resource.get("code"), dict) else {}
    names = [code.get("text")] + [
        c.get("display") for c in code.get("coding") or () if isinstance(c, dict)
    ]
    return next(
        (n.strip() for n in names if isinstance(n, str) and n.strip()),
        knowledge.wording.unnamed_order,
    )


def in_scope(
    drafts: Iterable[Mapping[str, Any]], selections: Sequence[str]
) -> list[dict[str, Any]]:
    """Draft ServiceRequests in scope: the selected ones (order-select) or all (order-sign)."""
    return [
        dict(r)
        for r in drafts
        if r.get("resourceType") == "ServiceRequest"
        and r.get("id")
        and (not selections or ref(r) in selections)
    ]


def rated_drafts(
    evaluation: Evaluation, drafts: Iterable[Mapping[str, Any]], selections: Sequence[str]
) -> list[tuple[dict[str, Any], str]]:
    """(draft ServiceRequest, rating) for the rated orders in scope (an order the
    evaluation left unrated for want of an indication has no rating)."""
    return [
        (r, evaluation.ratings[ref(r)])
        for r in in_scope(drafts, selections)
        if evaluation.ratings.get(ref(r))
    ]


def rating_action(
    resource: Mapping[str, Any], rating: str, config: ServiceConfig, knowledge: Knowledge
) -> dict[str, Any]:
    """An ``update`` of the draft with the rating extensions (replacing earlier ones)."""
    updated = copy.deepcopy(dict(resource))
    kept = [e for e in updated.get("extension") or () if e.get("url") not in PAMA_URLS]
    pama = [
        {
            "url": RATING_URL,
            "valueCodeableConcept": {
                "coding": [
                    {
                        "system": RATING_SYSTEM,
                        "code": rating,
                        "display": knowledge.wording.rating[rating],  # type: ignore[index]
                    }
                ]
            },
        },
        {"url": QCDSM_URL, "valueString": config.pama_qcdsm},
        {"url": CONSULT_ID_URL, "valueUri": f"urn:uuid:{uuid.uuid4()}"},
    ]
    if config.pama_auc_applied:
        pama.append({"url": AUC_APPLIED_URL, "valueUri": config.pama_auc_applied})
    updated["extension"] = kept + pama
    description = knowledge.wording.rating_description.format(
        rating=knowledge.wording.rating[rating],  # type: ignore[index]
        order=order_name(resource, knowledge),
    )
    return {"type": "update", "description": description, "resource": updated}


def system_actions(
    evaluation: Evaluation,
    drafts: Iterable[Mapping[str, Any]],
    selections: Sequence[str],
    config: ServiceConfig,
    knowledge: Knowledge,
) -> list[dict[str, Any]]:
    return [
        rating_action(r, rating, config, knowledge)
        for r, rating in rated_drafts(evaluation, drafts, selections)
    ]


def _conclusion_for(evaluation: Evaluation, order: str) -> Conclusion | None:
    for c in evaluation.conclusions:
        if c.rating == "not-appropriate" and order in c.orders:
            return c
    return None


def topic_code(card: Mapping[str, Any]) -> str | None:
    """The conclusion id a card is about (its ``source.topic`` code), if any."""
    code = ((card.get("source") or {}).get("topic") or {}).get("code")
    return code if isinstance(code, str) else None


def conclusion_of(card: Mapping[str, Any], by_id: Mapping[str, Conclusion]) -> Conclusion | None:
    code = topic_code(card)
    return by_id.get(code) if code is not None else None


def _card_for(cards: Sequence[dict[str, Any]], conclusion: Conclusion) -> dict[str, Any] | None:
    return next((card for card in cards if topic_code(card) == conclusion.id), None)


def remove_order_suggestion(
    card_uuid: str, resource: Mapping[str, Any], knowledge: Knowledge
) -> dict[str, Any]:
    """A suggestion deleting the draft order (``resourceId``, no resource: cds-resp-2),
    labelled with the order's name."""
    order = ref(resource)
    name = order_name(resource, knowledge)
    words = knowledge.wording
    return {
        "label": truncate(words.remove_order_label.format(order=name), 80),
        "uuid": str(uuid.uuid5(_NAMESPACE, f"remove|{card_uuid}|{order}")),
        "isRecommended": False,
        "actions": [
            {
                "type": "delete",
                "description": words.remove_order_description.format(order=name),
                "resourceId": order,
            }
        ],
    }


def not_appropriate_cards(
    evaluation: Evaluation,
    cards: list[dict[str, Any]],
    drafts: Iterable[Mapping[str, Any]],
    selections: Sequence[str],
    build_card: Any,
    knowledge: Knowledge,
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
        suggestion = remove_order_suggestion(card["uuid"], resource, knowledge)
        existing = card.setdefault("suggestions", [])
        if all(s.get("uuid") != suggestion["uuid"] for s in existing):
            existing.append(suggestion)
        card.setdefault("selectionBehavior", "at-most-one")
    return out


def _modalities(resource: Mapping[str, Any], knowledge: Knowledge) -> set[str]:
    code = resource.get("code") if isinstance(resource.get("code"), dict) else {}
    return {
        m.modality
        for c in code.get("coding") or ()
        if isinstance(c, dict)
        for m in knowledge.valuesets.lookup(c.get("system"), c.get("code"))
        if m.modality
    }


def drop_ordered_suggestions(
    cards: list[dict[str, Any]],
    evaluation: Evaluation,
    drafts: Iterable[Mapping[str, Any]],
    knowledge: Knowledge,
) -> list[dict[str, Any]]:
    """Suggestions to order a modality an open draft rated appropriate already orders
    are left out (the draft is the order); a card left without suggestions loses
    ``selectionBehavior`` too."""
    ordered = set()
    for r in in_scope(drafts, ()):
        if evaluation.ratings.get(ref(r)) == "appropriate":
            ordered |= _modalities(r, knowledge)
    if not ordered:
        return cards
    out = []
    for card in cards:
        kept = [
            s
            for s in card.get("suggestions") or ()
            if not any(
                _modalities(a.get("resource") or {}, knowledge) & ordered
                for a in s.get("actions") or ()
                if a.get("type") == "create"
            )
        ]
        card = dict(card)
        if kept:
            card["suggestions"] = kept
        else:
            card.pop("suggestions", None)
            card.pop("selectionBehavior", None)
        out.append(card)
    return out


def about_selection(
    cards: list[dict[str, Any]], evaluation: Evaluation, selections: Sequence[str]
) -> list[dict[str, Any]]:
    """order-select: the cards about the selected orders (the indication asked of a
    selected order included), and the red flags."""
    by_id = {c.id: c for c in evaluation.conclusions}
    chosen = set(selections)
    out = []
    for card in cards:
        order = indication_order(card)
        if order is not None:
            if order in chosen:
                out.append(card)
            continue
        conclusion = conclusion_of(card, by_id)
        if conclusion is None or conclusion.red_flag or chosen & set(conclusion.orders):
            out.append(card)
    return out
