"""Summarise a batch's ``results.ndjson``: patients by urgency and category, failures, and
patients whose results rest on input that could not be read whole (``incomplete``)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..kb.loader import load_knowledge

#: Failures listed in full in the summary; the rest are counted (all are in results.ndjson).
MAX_LISTED_FAILURES = 1000


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of an NDJSON results file; a torn last line (crash mid-write) is skipped."""
    if not path.exists():
        return
    with open(path, "rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and "patient" in rec and "status" in rec:
                yield rec


def latest(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Patient reference -> its last record (a retried patient's newest result wins)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        keys = ("status", "urgency", "imaging", "categories", "incomplete")
        slim = {k: rec[k] for k in keys if k in rec}
        if rec["status"] != "ok":
            slim["outcome"] = rec.get("outcome")
        out[rec["patient"]] = slim
    return out


def summarize(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts of patients by status, urgency (``none``: nothing concluded), imaging, category."""
    by_patient = latest(records)
    status: Counter[str] = Counter()
    policy = load_knowledge().policy  # buckets in the order of knowledge/policy.yaml
    urgency: Counter[str] = Counter({u: 0 for u in (*policy.urgency_order, "none")})
    imaging: Counter[str] = Counter({i: 0 for i in policy.imaging_order})
    category: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    incomplete: list[str] = []
    for patient in sorted(by_patient):
        rec = by_patient[patient]
        status[rec["status"]] += 1
        if rec.get("incomplete"):
            incomplete.append(patient)
        if rec["status"] != "ok":
            if len(failures) < MAX_LISTED_FAILURES:
                failures.append(
                    {"patient": patient, "status": rec["status"], "outcome": rec.get("outcome")}
                )
            continue
        urgency[rec.get("urgency") or "none"] += 1
        imaging[rec.get("imaging") or "none"] += 1
        category.update(rec.get("categories") or ())
    failed = sum(n for s, n in status.items() if s != "ok")
    return {
        "patients": len(by_patient),
        "ok": status["ok"],
        "failed": failed,
        "by_status": dict(sorted(status.items())),
        "by_urgency": {
            u: urgency[u] for u in ("emergency", "urgent", "routine", "self_care", "none")
        },
        "by_imaging": dict(imaging),
        "by_category": dict(sorted(category.items(), key=lambda kv: (-kv[1], kv[0]))),
        "failures": failures,
        "failures_listed": len(failures),
        "incomplete": len(incomplete),
        "incomplete_listed": incomplete[:MAX_LISTED_FAILURES],
    }


def summarize_file(path: Path) -> dict[str, Any]:
    """:func:`summarize` over a results file."""
    return summarize(read_records(path))


def format_summary(summary: dict[str, Any]) -> str:
    """A short human-readable table of a summary."""
    lines = [
        f"patients {summary['patients']}: {summary['ok']} evaluated, {summary['failed']} failed",
        "by urgency:  " + ", ".join(f"{k} {v}" for k, v in summary["by_urgency"].items()),
        "by imaging:  " + ", ".join(f"{k} {v}" for k, v in summary["by_imaging"].items() if v),
        "by category: " + (", ".join(f"{k} {v}" for k, v in summary["by_category"].items()) or "-"),
    ]
    for f in summary["failures"][:10]:
        issues = (f.get("outcome") or {}).get("issue") or [{}]
        lines.append(f"  failed {f['patient']} ({f['status']}): {issues[0].get('diagnostics', '')}")
    if summary["failed"] > 10:
        lines.append(f"  ... {summary['failed'] - 10} more failures in summary.json")
    if summary.get("incomplete"):
        lines.append(
            f"INCOMPLETE: {summary['incomplete']} patients' results rest on input that could "
            'not be read whole ("incomplete" in their records)'
        )
    return "\n".join(lines)


def format_incomplete(read: dict[str, Any], listed: int = 20) -> str:
    """What of the input could not be read, by file and line ("" when all of it was)."""
    lines = []
    for name, why in (read.get("truncated_files") or {}).items():
        lines.append(f"WARNING: {name} is truncated: {why}; lines after the cut are lost")
    broken = read.get("broken") or []
    for b in broken[:listed]:
        who = f" (Patient/{b['patient']})" if b.get("patient") else " (patient unknown)"
        lines.append(f"WARNING: {b['file']} line {b['line']} is not JSON{who}")
    more = (read.get("broken_lines") or 0) - min(len(broken), listed)
    if more > 0:
        lines.append(f"WARNING: ... {more} more unreadable lines (summary.json lists the first)")
    return "\n".join(lines)
