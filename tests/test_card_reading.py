"""Cards read right at a glance, for every bundled example.

No timing word contradicts another on one card; one patient never gets two cards with
the same buttons at the same indicator; an order against the criteria is a warning;
self-care comes before the return to running.
"""

from __future__ import annotations

import re

import pytest

from cds_backpain import evaluate
from cds_backpain.examples import EXAMPLES_NOW, load_examples
from cds_backpain.kb.loader import load_knowledge

EXAMPLES = load_examples()
URGENCY_LINE = re.compile(r"\*\*Urgency:\*\* ([^·]+) ·")
RATING_LINE = re.compile(r"^\*\*Order rating:\*\* (.+)$", re.M)


@pytest.fixture(scope="module")
def cards():
    return {ex.name: evaluate(ex.path, now=EXAMPLES_NOW).cards for ex in EXAMPLES}


def test_no_card_says_routine_beside_a_prompt_summary(cards):
    words = load_knowledge().wording.urgency
    assert "routine" not in " ".join(words.values())
    for name, listed in cards.items():
        for card in listed:
            line = URGENCY_LINE.search(card["detail"])
            if line is None:  # a rating card: its line gives the rating (test below)
                assert RATING_LINE.search(card["detail"]), (name, card["summary"])
                continue
            urgency = line.group(1)
            if re.search(r"\b(promptly|soon|today|same-day|now)\b", card["summary"]):
                assert "routine" not in urgency, (name, card["summary"], urgency)


def test_one_patient_never_gets_two_cards_with_the_same_buttons(cards):
    seen_merge = False
    for name, listed in cards.items():
        offers = [
            (c["indicator"], tuple(sorted(s["label"] for s in c["suggestions"])))
            for c in listed
            if c.get("suggestions")
        ]
        assert len(offers) == len(set(offers)), name
        seen_merge |= any("Suggested actions: see the card" in c["detail"] for c in listed)
    assert seen_merge  # the case exists among the examples (08: two progressive-deficit rules)


def test_an_order_rated_not_appropriate_is_a_warning(cards):
    card = next(
        c
        for c in cards["02-mechanical-mri-order-not-indicated"]
        if c["source"]["topic"]["code"].startswith("imaging-order-not-indicated")
    )
    assert card["indicator"] == "warning"


def test_self_care_comes_before_the_return_to_running(cards):
    topics = [c["source"]["topic"]["code"] for c in cards["01-mechanical-runner-baseline"]]
    assert topics.index("mech-self-care") < topics.index("mech-running-prevention")


def test_a_rating_card_states_the_rating_not_an_urgency_of_its_own(cards):
    """A card rating a draft order says "Order rating: Appropriate" (or Not appropriate...),
    never "Urgency: self-care · Imaging: none advised" beside the order it endorses."""
    words = load_knowledge().wording.rating
    rated = 0
    for listed in cards.values():
        for card in listed:
            line = RATING_LINE.search(card["detail"])
            if line is None:
                continue
            rated += 1
            assert line.group(1) in words.values(), card["summary"]
            assert not URGENCY_LINE.search(card["detail"]), card["summary"]
    assert rated
