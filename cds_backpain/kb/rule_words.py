"""A rule in words, as the rule catalog (docs/rules.md) and the FHIR knowledge package's
PlanDefinition descriptions both show it."""

from __future__ import annotations

from collections.abc import Iterable

from .knowledge import Knowledge
from .models import AbsentPattern, Pattern, Rule, Test

_OPS = {"eq": "is", "in": "is one of", "lt": "<", "le": "≤", "gt": ">", "ge": "≥"}
_KIND_WORDS = {
    "finding": "finding",
    "measure": "measurement",
    "med": "medication",
    "order": "draft order",
    "conclusion": "conclusion",
}


def _value(kb: Knowledge, v: object) -> str:
    if isinstance(v, tuple):
        return ", ".join(_value(kb, x) for x in v)
    if isinstance(v, str) and v.startswith("$"):
        p = kb.parameters[v[1:]]
        unit = f" {p.unit}" if p.unit else ""
        return f"{p.value}{unit} (`{v[1:]}`)"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def _test(kb: Knowledge, t: Test) -> str:
    return f"{t.attribute} {_OPS[t.op]} {_value(kb, t.value)}"


def concept_words(kb: Knowledge, keys: Iterable[str]) -> str:
    """Concepts in words, e.g. 'Sciatica (`sciatica`) or Foot drop (`foot_drop`)'."""
    return " or ".join(f"{kb.labels.get(k, k)} (`{k}`)" for k in keys)


def pattern_words(kb: Knowledge, p: Pattern) -> str:
    """One pattern in words, e.g. 'finding Sciatica (`sciatica`) with laterality is left'."""
    tests = "; ".join(_test(kb, t) for t in p.tests)
    if p.kind == "patient":
        return f"patient {tests}"
    head = f"{_KIND_WORDS[p.kind]} {concept_words(kb, p.concepts)}"
    return f"{head} with {tests}" if tests else head


def _absent_words(kb: Knowledge, a: AbsentPattern) -> str:
    return f"no current {_KIND_WORDS[a.kind]} {concept_words(kb, a.concepts)}"


def when_lines(kb: Knowledge, rule: Rule) -> list[str]:
    """A rule's ``when`` in words, one Markdown line per clause heading or pattern."""
    out: list[str] = []
    when = rule.when
    if when.all:
        out.append("**All of:**")
        out += [f"- {pattern_words(kb, p)}" for p in when.all]
    if when.any:
        out.append("**At least one of:**")
        for b in when.any:
            out.append("- " + " **and** ".join(pattern_words(kb, p) for p in b.patterns))
    if when.none:
        out.append("**None of:**")
        out += [f"- {_absent_words(kb, a)}" for a in when.none]
    return out
