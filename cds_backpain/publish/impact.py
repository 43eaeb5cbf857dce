"""What a knowledge change does to a population, before it ships.

:func:`run_impact` evaluates one Bulk Data export with the old and with the new knowledge
(the batch runner, same instant for both) and :func:`compare_records` reports, per kind
of change (urgency, imaging, categories, red flags, status), how many patients moved,
example patient ids and the rules responsible. A change that removes a red flag from any
patient comes first, as an alert.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..batch.summary import read_records
from .diff import change_line, knowledge_diff, report_head

EXAMPLES = 5
RED_FLAG_LOST = "red flag lost"
RED_FLAG_CONCLUSION_LOST = "red-flag conclusion lost"


def _word(value: Any) -> str:
    return "nothing" if value is None else str(value)


def _conclusions(rec: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {c["id"]: c for c in rec.get("conclusions", ())}


@dataclass
class _Bucket:
    count: int = 0
    examples: list[str] | None = None
    rules: Counter[str] | None = None

    def add(self, patient: str, rules: Iterable[str]) -> None:
        self.count += 1
        self.examples = self.examples or []
        if len(self.examples) < EXAMPLES:
            self.examples.append(patient)
        self.rules = self.rules or Counter()
        self.rules.update(set(rules))

    def to_json(self) -> dict[str, Any]:
        rules = self.rules or Counter()
        return {
            "patients": self.count,
            "examples": sorted(self.examples or []),
            "rules": dict(sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))),
        }


def _shown(c: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a clinician sees change in one conclusion."""
    return (c.get("urgency"), c.get("imaging"), c.get("category"), bool(c.get("red_flag")))


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """(transition, rules responsible) for one patient's old and new record."""
    if old.get("status") != "ok" or new.get("status") != "ok":
        if old.get("status") != new.get("status"):
            return [(f"status: {old.get('status')} → {new.get('status')}", [])]
        return []
    ca, cb = _conclusions(old), _conclusions(new)
    gone = [c for c in ca if c not in cb]
    came = [c for c in cb if c not in ca]
    moved = [c for c in ca if c in cb and _shown(ca[c]) != _shown(cb[c])]
    responsible = sorted(set(gone + came + moved))
    out: list[tuple[str, list[str]]] = []
    # By flag, not by id: a rule that stays but is no longer a red flag loses it too.
    lost_flags = [c for c in ca if ca[c].get("red_flag") and not cb.get(c, {}).get("red_flag")]
    if lost_flags and not any(c.get("red_flag") for c in cb.values()):
        out.append((RED_FLAG_LOST, lost_flags))
    elif lost_flags:
        out.append((RED_FLAG_CONCLUSION_LOST, lost_flags))
    gained_flags = [c for c in cb if cb[c].get("red_flag") and not ca.get(c, {}).get("red_flag")]
    if gained_flags and not any(c.get("red_flag") for c in ca.values()):
        out.append(("red flag gained", gained_flags))
    if old.get("urgency") != new.get("urgency"):
        out.append(
            (f"urgency: {_word(old.get('urgency'))} → {_word(new.get('urgency'))}", responsible)
        )
    if old.get("imaging") != new.get("imaging"):
        out.append((f"imaging: {old.get('imaging')} → {new.get('imaging')}", responsible))
    cats_a, cats_b = set(old.get("categories", ())), set(new.get("categories", ()))
    for cat in sorted(cats_a - cats_b):
        out.append((f"category lost: {cat}", [c for c in ca if ca[c]["category"] == cat]))
    for cat in sorted(cats_b - cats_a):
        out.append((f"category gained: {cat}", [c for c in cb if cb[c]["category"] == cat]))
    if not out and responsible:
        out.append(("conclusions changed (same urgency, imaging and categories)", responsible))
    return out


def _order(transition: str) -> tuple[int, str]:
    for rank, head in enumerate((RED_FLAG_LOST, RED_FLAG_CONCLUSION_LOST, "status", "urgency")):
        if transition.startswith(head):
            return rank, transition
    return 9, transition


def compare_records(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Transitions between two batches' records (patient -> latest record)."""
    buckets: dict[str, _Bucket] = {}
    changed: set[str] = set()
    for patient in sorted(set(old) | set(new)):
        a, b = old.get(patient), new.get(patient)
        if a is None or b is None:
            key = "patient only in the new run" if a is None else "patient only in the old run"
            buckets.setdefault(key, _Bucket()).add(patient, [])
            changed.add(patient)
            continue
        for transition, rules in _changes(a, b):
            buckets.setdefault(transition, _Bucket()).add(patient, rules)
            changed.add(patient)
    transitions = {k: buckets[k].to_json() for k in sorted(buckets, key=_order)}
    alerts = []
    for key in (RED_FLAG_LOST, RED_FLAG_CONCLUSION_LOST):
        if key in transitions:
            t = transitions[key]
            alerts.append(
                f"{t['patients']} patient(s): {key} (rules: {', '.join(t['rules'])}; "
                f"e.g. {', '.join(t['examples'])})"
            )
    return {
        "patients": len(set(old) | set(new)),
        "changed": len(changed),
        "alerts": alerts,
        "transitions": transitions,
    }


def run_impact(
    old_root: str | Path,
    new_root: str | Path,
    population: Iterable[str | Path],
    *,
    now: str | None = None,
    work: str | Path | None = None,
    workers: int | None = None,
    engine: str | None = None,
) -> dict[str, Any]:
    """Evaluate ``population`` with both knowledge bases and compare (see module docstring).

    Both runs use one instant (``now``, default: the current time, taken once). The batch
    outputs go to ``work/old`` and ``work/new`` (a temporary directory when ``work`` is None).
    """
    from ..batch.runner import run_batch
    from ..kb.loader import load_knowledge
    from ..pipeline import parse_now

    instant = parse_now(now).isoformat().replace("+00:00", "Z")
    old_kb, new_kb = load_knowledge(old_root), load_knowledge(new_root)
    inputs = [str(p) for p in population]
    with tempfile.TemporaryDirectory(prefix="cds-impact-") as tmp:
        base = Path(work) if work is not None else Path(tmp)
        records = {}
        for side, root in (("old", old_root), ("new", new_root)):
            report = run_batch(
                inputs,
                base / side,
                now=instant,
                workers=workers,
                engine=engine,
                progress=False,
                knowledge_root=str(root),
            )
            records[side] = {r["patient"]: r for r in read_records(report.out / "results.ndjson")}
    result = compare_records(records["old"], records["new"])
    diff = knowledge_diff(old_kb, new_kb)
    return {
        "now": instant,
        "old": {"version": old_kb.version, "digest": old_kb.digest},
        "new": {"version": new_kb.version, "digest": new_kb.digest},
        "knowledge_changes": {
            "rules": diff["rules"],
            "parameters": diff["parameters"]["changed"],
        },
        **result,
    }


def render_impact(report: Mapping[str, Any]) -> str:
    """The impact report as Markdown: alerts first, then one row per transition."""
    out = [
        *report_head("Knowledge change impact", report["old"], report["new"]),
        f"- evaluated at {report['now']}: {report['patients']} patients, "
        f"{report['changed']} with a changed result",
        "",
    ]
    if report["alerts"]:
        out += ["## ⚠ Red flags lost", ""]
        out += [f"- **{a}**" for a in report["alerts"]]
        out.append("")
    params = report.get("knowledge_changes", {}).get("parameters", {})
    if params:
        out += ["## Parameter changes", ""]
        out += [change_line(name, ch) for name, ch in params.items()]
        out.append("")
    out += ["## Transitions", ""]
    if not report["transitions"]:
        out += ["No patient's result changed.", ""]
        return "\n".join(out)
    out += ["| transition | patients | rules responsible | example patients |", "|---|---|---|---|"]
    for name, t in report["transitions"].items():
        rules = ", ".join(f"`{r}` ({k})" for r, k in t["rules"].items()) or "-"
        out.append(f"| {name} | {t['patients']} | {rules} | {', '.join(t['examples'])} |")
    return "\n".join(out) + "\n"
