"""What a recommendation claims, and whether its own provenance supports each claim.

A recommendation claims
* an **urgency** when it tells the clinician how soon to act: every urgency above
  ``self_care``, and ``self_care`` itself when the card is self-care advice
  (``self_care: true``: "no clinician needed now" is a claim too). Info-level messages
  (urgency ``self_care`` without the self-care flag: medication safety, order ratings)
  claim no urgency;
* an **imaging** advice when its imaging is not ``none``, or when it rates a draft
  imaging order (``rating``);
* otherwise, for an info-level message without a rating, its **advice**.

Each claim needs at least one item of the rule's own ``provenance`` whose ``supports``
names it (upstream rules' items are evidence for their own conclusions, not for this card).
The decision and its alternatives are in docs/clinical-decisions/provenance.md.
"""

from __future__ import annotations

from .models import Recommend, Rule


def claims_urgency(rec: Recommend) -> bool:
    """Whether the recommendation tells the clinician how soon to act."""
    return rec.urgency != "self_care" or rec.self_care


def required_supports(rec: Recommend) -> tuple[str, ...]:
    """The ``supports`` values the recommendation's provenance must cover."""
    needed = []
    if claims_urgency(rec):
        needed.append("urgency")
    if rec.imaging != "none" or rec.rating is not None:
        needed.append("imaging")
    if not needed:
        needed.append("advice")
    return tuple(needed)


def unsupported(rule: Rule) -> list[str]:
    """Why the rule's provenance does not support its recommendation (empty when it does)."""
    rec = rule.recommend
    if rec is None:
        return []
    given = {s for ref in rule.provenance if not ref.when_chain for s in ref.supports}
    out = []
    for need in required_supports(rec):
        if need in given:
            continue
        if need == "urgency":
            what = f"its urgency {rec.urgency!r}" + (" (self-care advice)" if rec.self_care else "")
        elif need == "imaging":
            what = f"its rating {rec.rating!r}" if rec.rating else f"its imaging {rec.imaging!r}"
        else:
            what = "its advice (an info message, no urgency claim)"
        out.append(f"no provenance item supports {what}: add one with 'supports: [{need}]'")
    return out
