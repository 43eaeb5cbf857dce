"""The order conclusions are shown in, and the red-flag policy's last line of defence."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..evaluation import Conclusion
    from ..kb.knowledge import Knowledge
    from ..vocabulary import Rating, Urgency

__all__ = ["ordered_conclusions", "rule_rank"]

logger = logging.getLogger("cds_backpain.emit")


def rule_rank(knowledge: Knowledge) -> dict[str, int]:
    """Rule id -> position in the knowledge (file order, then order in the file): the
    order the clinical owner wrote them in (self-care before return to running)."""
    return {rule_id: i for i, rule_id in enumerate(knowledge.rules)}


@dataclass(frozen=True, slots=True)
class _Shown:
    """What the red-flag policy reads of a conclusion about to be shown."""

    red_flag: bool
    self_care: bool
    safety_warning: bool
    urgency: Urgency
    rating: Rating | None


def _shown(c: Conclusion, knowledge: Knowledge) -> _Shown:
    rule = knowledge.rules.get(c.id)
    rec = rule.recommend if rule is not None else None
    # A conclusion of no recommendation of this knowledge: whether it warns of a harm is
    # unknown, so an info-level message is kept (self-care advice never is).
    warns = rec.safety_warning if rec is not None else True
    return _Shown(c.red_flag, c.self_care, warns, c.urgency, c.rating)


def ordered_conclusions(
    conclusions: Sequence[Conclusion], knowledge: Knowledge
) -> list[Conclusion]:
    """Most urgent first (``urgency_order`` of knowledge/policy.yaml); red flags before
    others at equal urgency; then in the order of their rules in the knowledge (see
    :func:`rule_rank`); then by id.

    When any conclusion is a red flag, what the red-flag policy withdraws
    (:meth:`~cds_backpain.kb.models.Policy.withdrawn_beside_red_flag`, the function the
    resolve stage applies) is dropped and logged: the last line of defence. Duplicate ids
    are a bug upstream and raise ValueError.
    """
    ids = [c.id for c in conclusions]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"duplicate conclusion ids: {repeated}")
    kept = list(conclusions)
    if any(c.red_flag for c in kept):
        policy = knowledge.policy
        withdrawn = {c.id for c in kept if policy.withdrawn_beside_red_flag(_shown(c, knowledge))}
        if withdrawn:
            logger.warning("conclusions withdrawn beside a red flag: %s", sorted(withdrawn))
            kept = [c for c in kept if c.id not in withdrawn]
    order = rule_rank(knowledge)
    last = len(order)
    urgency_rank = knowledge.policy.urgency_rank

    def position(c: Conclusion) -> int:
        return min((order.get(r, last) for r in c.rules), default=order.get(c.id, last))

    return sorted(kept, key=lambda c: (-urgency_rank(c.urgency), not c.red_flag, position(c), c.id))
