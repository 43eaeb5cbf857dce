"""One patient's batch result as a JSON record: the same for the local batch and Spark.

A record is one line of ``results.ndjson``::

    {"patient": "Patient/1", "status": "ok", "resources": 12,
     "urgency": "urgent", "imaging": "xray", "categories": ["fracture"],
     "conclusions": [{"id", "category", "urgency", "imaging", "red_flag", "evidence"}],
     "knowledge": {"version": "2026.11.0", "digest": "<sha256 hex>"}}

``status`` is ``ok``, ``invalid`` (the input is not acceptable FHIR: ``outcome`` holds the
OperationOutcome) or ``error`` (the evaluation failed: ``outcome`` says how). With
``full=True`` an ``ok`` record also carries the whole ``evaluation`` (``Evaluation.to_json()``).
``knowledge`` names the knowledge version and digest the record came from (every record
``evaluate_group`` makes; a worker that died mid-patient leaves a record without it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .ndjson import PatientGroup, is_patient_line

if TYPE_CHECKING:
    from ..evaluation import Evaluation
    from ..kb.knowledge import Knowledge

STATUSES = ("ok", "invalid", "error")


def outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    """A one-issue FHIR OperationOutcome."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def ok_record(
    patient: str, ev: Evaluation, resources: int, *, full: bool = False
) -> dict[str, Any]:
    """The record of a successful evaluation."""
    rec: dict[str, Any] = {
        "patient": f"Patient/{patient}",
        "status": "ok",
        "resources": resources,
        "urgency": ev.urgency,
        "imaging": ev.imaging,
        "categories": sorted(ev.categories),
        "conclusions": [
            {
                "id": c.id,
                "category": c.category,
                "urgency": c.urgency,
                "imaging": c.imaging,
                "red_flag": c.red_flag,
                "evidence": list(c.evidence),
            }
            for c in ev.conclusions
        ],
        "knowledge": ev.knowledge.model_dump(),
    }
    if full:
        rec["evaluation"] = ev.to_json()
    return rec


def failed_record(
    patient: str,
    status: str,
    oo: dict[str, Any],
    resources: int | None = None,
    knowledge: Knowledge | None = None,
) -> dict[str, Any]:
    """The record of a patient whose evaluation failed (``status`` invalid or error)."""
    rec: dict[str, Any] = {"patient": f"Patient/{patient}", "status": status}
    if resources is not None:
        rec["resources"] = resources
    rec["outcome"] = oo
    if knowledge is not None:
        rec["knowledge"] = {"version": knowledge.version, "digest": knowledge.digest}
    return rec


#: Bounds on one patient's data in a batch: a bulk export is not an untrusted HTTP body,
#: and a long record (years of observations) must not fail on the service's limits.
BATCH_LIMITS = {"max_bytes": 256 * 1024 * 1024, "max_entries": 200_000}


def patient_body(lines: Sequence[bytes]) -> bytes:
    """One patient's NDJSON lines as a JSON array, in a canonical order (the Patient first,
    then bytewise), so the local and the Spark batch hand ``evaluate()`` the same input."""
    ordered = sorted(lines, key=lambda ln: (not is_patient_line(ln), ln))
    return b"[" + b",".join(ordered) + b"]"


def evaluate_group(
    group: PatientGroup | tuple[str, Sequence[bytes | str]],
    *,
    now: str,
    knowledge: Knowledge,
    engine: str | None = None,
    full: bool = False,
    limits: Any = None,
) -> dict[str, Any]:
    """Evaluate one patient's group of NDJSON lines; never raises for a bad patient.

    The lines go to ``evaluate()`` as one JSON array, unparsed: ingest parses them once,
    with its checks (duplicate keys, nesting, one patient only), so a line grouped with
    the wrong patient makes that patient ``invalid`` rather than mixing two patients.
    """
    from .._errors import InvalidInputError
    from ..ingest import Limits
    from ..pipeline import evaluate

    if isinstance(group, PatientGroup):
        pid, lines = group.patient, group.lines
    else:
        pid, raw = group
        lines = tuple(ln.encode() if isinstance(ln, str) else ln for ln in raw)
    n = len(lines)
    try:
        ev = evaluate(
            patient_body(lines),
            now=now,
            knowledge=knowledge,
            engine=engine,
            limits=limits or Limits(**BATCH_LIMITS),
        )
    except InvalidInputError as exc:
        return failed_record(pid, "invalid", exc.outcome, n, knowledge)
    except Exception as exc:  # a failing patient never stops the run
        oo = outcome("exception", f"{type(exc).__name__}: {exc}")
        return failed_record(pid, "error", oo, n, knowledge)
    return ok_record(pid, ev, n, full=full)


def dumps(record: dict[str, Any]) -> str:
    """The record as one NDJSON line (no trailing newline)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def patient_id(record: dict[str, Any]) -> str:
    """The bare patient id of a record (``Patient/x`` -> ``x``)."""
    return str(record["patient"]).removeprefix("Patient/")
