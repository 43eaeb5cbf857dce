"""Rule coverage over the bundled clinical examples is part of the test run.

For every rule of the knowledge base, ``cds_backpain.reports.coverage.coverage`` must find a
bundled example where it fires, one where it stays silent, and (when its evidence is input data
rather than the patient's age and sex alone) show that removing that evidence from the example
silences it. A rule no example exercises, or one that fires whatever the input says, fails here.
"""

from __future__ import annotations

import pytest

from cds_backpain import load_knowledge
from cds_backpain.reports.coverage import RuleCoverage, coverage

KNOWLEDGE = load_knowledge()
RULES = list(KNOWLEDGE.rules)


@pytest.fixture(scope="module")
def table() -> dict[str, RuleCoverage]:
    return {row.rule: row for row in coverage(KNOWLEDGE)}


def test_the_report_has_one_row_per_rule(table: dict[str, RuleCoverage]) -> None:
    assert list(table) == RULES
    assert len(RULES) >= 60


@pytest.mark.parametrize("rule", RULES)
def test_rule_is_covered_both_ways(rule: str, table: dict[str, RuleCoverage]) -> None:
    row = table[rule]
    assert row.fired_in, f"{rule} fires in no bundled example"
    assert row.silent_in, f"{rule} fires in every bundled example"
    if row.knockout is not None:
        example, silenced = row.knockout
        assert silenced, f"{rule} still fires in {example} once its evidence is removed"
    assert row.ok
