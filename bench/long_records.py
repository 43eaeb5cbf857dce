"""Long patient records for the scaling benchmark: all relevant, or padded with history.

``relevant_record(n)``: a Patient and ``n`` resources every one of which the rules read,
as a long-stay patient's record holds them: temperatures, weights, pain scores (over
years), finding Observations (present and absent) and Conditions (current and resolved),
with IV drug use among them so the infection rules chain over the whole series.

``irrelevant_record(n)``: a mechanical back-pain patient padded to ``n`` resources with
history no value set knows (heights, unrelated problems and drugs), as Synthea writes it.

Codes come from the knowledge base's value sets (``cds_backpain.batch.synth``); this is
test data and says nothing clinical.
"""

from __future__ import annotations

import random
from typing import Any

from cds_backpain.batch.synth import Generator, Item, synthetic_patient

NOW = "2026-06-01T12:00:00Z"
YEARS = (0, 3000)  # days ago

#: What a relevant record is made of, and how often.
MIX: tuple[tuple[Item, int], ...] = (
    (Item("body_temperature", "measure", days=YEARS, value=(36.0, 38.6)), 40),
    (Item("body_weight", "measure", days=YEARS, value=(62.0, 80.0)), 15),
    (Item("pain_score", "measure", days=YEARS, value=(1, 8)), 15),
    (Item("low_back_pain", "finding", days=YEARS), 5),
    (Item("night_pain", "finding", days=YEARS), 5),
    (Item("leg_numbness", "negated", days=YEARS), 5),
    (Item("low_back_pain", days=YEARS), 5),
    (Item("sciatica", days=YEARS, status="resolved"), 5),
    (Item("iv_drug_use", days=(100, 3000)), 5),
)


def relevant_record(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """A Patient and ``n`` resources, all of them read by some rule."""
    gen = Generator(seed=seed, now=NOW)
    pid, _, out = gen.patient("irrelevant", resources=1)
    subject = {"reference": f"Patient/{pid}"}
    items, weights = zip(*MIX, strict=True)
    rng = random.Random(seed)
    for _ in range(n):
        out.append(gen._item(rng.choices(items, weights)[0], subject))
    return out


def irrelevant_record(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """A mechanical back-pain patient padded to ``n`` resources with unrelated history."""
    return synthetic_patient(n, profile="mechanical", seed=seed, now=NOW)
