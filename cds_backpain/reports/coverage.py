"""Rule coverage over the bundled examples: each rule fires somewhere, and stops firing
when the evidence it rested on is taken away (its "does not fire" case)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..evaluation import ConclusionSupport, Evaluation, ResourceSupport
from ..examples import Example, load_examples
from ..kb.knowledge import Knowledge


@dataclass
class RuleCoverage:
    rule: str
    fired_in: list[str] = field(default_factory=list)
    silent_in: list[str] = field(default_factory=list)
    #: Example whose evidence was removed, and whether the rule then stayed silent.
    knockout: tuple[str, bool] | None = None

    @property
    def ok(self) -> bool:
        return (
            bool(self.fired_in)
            and bool(self.silent_in)
            and (self.knockout is None or self.knockout[1])
        )


def _support_resources(ev: Evaluation, rule_id: str) -> set[str]:
    by_rule = {d.rule: d for d in ev.derivations}
    by_concept: dict[str, list[str]] = {}
    for d in ev.derivations:
        by_concept.setdefault(d.concept, []).append(d.rule)
    out: set[str] = set()
    todo, seen = [rule_id], set()
    while todo:
        rid = todo.pop()
        if rid in seen or rid not in by_rule:
            continue
        seen.add(rid)
        for s in by_rule[rid].support_items:
            if isinstance(s, ConclusionSupport):
                todo.extend(by_concept.get(s.concept, []))
            elif (
                isinstance(s, ResourceSupport)
                and "/" in s.reference
                and not s.reference.startswith("Patient/")
            ):
                out.add(s.reference)
    return out


def _without(bundle: dict[str, Any], refs: set[str]) -> dict[str, Any]:
    entries = [
        e
        for e in bundle.get("entry", [])
        if f"{e.get('resource', {}).get('resourceType')}/{e.get('resource', {}).get('id')}"
        not in refs
    ]
    return {**bundle, "entry": entries}


def coverage(knowledge: Knowledge, examples: list[Example] | None = None) -> list[RuleCoverage]:
    """Coverage of every rule over ``examples`` (default: the bundled ones)."""
    from ..pipeline import evaluate

    examples = examples if examples is not None else load_examples()
    table = {rid: RuleCoverage(rid) for rid in knowledge.rules}
    evaluations: dict[str, tuple[Example, Evaluation]] = {}
    for ex in examples:
        ev = evaluate(ex.path.read_bytes(), now=ex.now, knowledge=knowledge, engine="reference")
        evaluations[ex.name] = (ex, ev)
        fired = {d.rule for d in ev.derivations}
        for rid, row in table.items():
            (row.fired_in if rid in fired else row.silent_in).append(ex.name)
    for row in table.values():
        for name in row.fired_in:
            ex, ev = evaluations[name]
            refs = _support_resources(ev, row.rule)
            if not refs:
                continue
            bundle = json.loads(ex.path.read_text(encoding="utf-8"))
            again = evaluate(
                _without(bundle, refs), now=ex.now, knowledge=knowledge, engine="reference"
            )
            row.knockout = (name, row.rule not in {d.rule for d in again.derivations})
            if row.knockout[1]:  # else try the next example (the rule may also rest on age)
                break
    return list(table.values())


def render_coverage(rows: list[RuleCoverage]) -> str:
    lines = ["rule | fires in | silent in | evidence removed -> silent", "---|---|---|---"]
    for r in rows:
        ko = (
            "n/a (patient and absences only)"
            if r.knockout is None
            else (f"{'yes' if r.knockout[1] else 'NO'} ({r.knockout[0]})")
        )
        first = r.fired_in[0] if r.fired_in else "NEVER"
        lines.append(f"{r.rule} | {len(r.fired_in)} (e.g. {first}) | {len(r.silent_in)} | {ko}")
    good = sum(r.ok for r in rows)
    lines.append(f"\n{good} of {len(rows)} rules covered both ways")
    return "\n".join(lines)
