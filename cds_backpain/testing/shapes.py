"""Metamorphic shape rewrites: the same clinical facts in another valid FHIR R4 shape.

Real EHRs send one finding in many shapes. Each rewrite here turns one resource of a
bundle into an equivalent one (or several) that a correct ingest must read as the same
facts, so the triage must not change (:func:`cds_backpain.testing.invariants.check_same_triage`):

=========================  ===============================================================
``component``              a top-level Observation value moves into a component of a panel
                           (triage / vital-signs panel) whose own code no value set knows
``condition_to_observation``  a current Condition becomes an Observation valued Present
``observation_to_condition``  a positive finding Observation becomes an active Condition
``recode``                 a coding is replaced by another code of exactly the same concepts
                           (ICD-10-CM for SNOMED CT and back, clinical drug for ingredient)
``extra_codings``          unknown local / SNOMED codings and a text join the CodeableConcept
``repeat_prescriptions``   one MedicationStatement becomes monthly MedicationRequests
                           (authoredOn + expectedSupplyDuration) or pharmacy fills
                           (MedicationDispense whenHandedOver + daysSupply), same days
``unit_variant``           a quantity in the canonical unit is sent in another UCUM unit
                           (Cel -> [degF], kg -> [lb_av] / g, km -> [mi_i] / m)
``noise``                  unrelated resources (codes no value set knows) are added
=========================  ===============================================================

:func:`reshaped` composes them: up to ``max_steps`` rewrites, each on a resource drawn
among those it applies to. Rewrites never invent clinical content: codes come from the
value sets (``recode``) or are checked to be in none (``extra_codings``, ``noise``).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from . import builders as _fhir
from .builders import PRESENT
from .strategies import (
    ALT_UNITS,
    CURRENT_CLINICAL,
    EVIDENCE_VERIFICATION,
    CodeBook,
    Json,
    Knowledgeish,
    code_book,
    evaluation_instant,
    unrelated_resources,
)

__all__ = ["REWRITES", "Reshaped", "reshaped"]

UCUM = "http://unitsofmeasure.org"
LOCAL = "http://example.org/fhir/CodeSystem/local-codes"
#: Panel codes for ``component``: a local ED triage panel and the LOINC vital-signs panel.
_PANELS = (
    {"system": LOCAL, "code": "ED-TRIAGE", "display": "Emergency department triage panel"},
    {"system": "http://loinc.org", "code": "85353-1", "display": "Vital signs panel"},
)
_OBS_USED = ("final", "amended", "corrected", "preliminary")
_VALUE_KEYS = (
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "valueRange",
    "valueRatio",
    "valueSampledData",
    "valueTime",
    "valueDateTime",
    "valuePeriod",
)
_ABATEMENT = ("abatementDateTime", "abatementAge", "abatementPeriod", "abatementRange")
_OTHER_ONSET = ("onsetAge", "onsetPeriod", "onsetRange", "onsetString")
_SUPPLY_DAYS = 30


@dataclass(frozen=True)
class Reshaped:
    """A bundle after shape rewrites; ``steps`` are ``rewrite:Type/id`` in order."""

    bundle: Json
    steps: tuple[str, ...]


@dataclass(frozen=True)
class _Ctx:
    book: CodeBook
    now: dt.datetime
    subject: str

    def known(self, coding: Any) -> bool:
        if not isinstance(coding, dict):
            return False
        system, code = coding.get("system"), coding.get("code")
        return (
            isinstance(system, str)
            and isinstance(code, str)
            and bool(self.book.knowledge.valuesets.lookup(system, code))
        )

    def signature(self, coding: Json) -> frozenset[tuple[str, str, str | None]]:
        return frozenset(
            (m.concept, m.kind, m.laterality)
            for m in self.book.knowledge.valuesets.lookup(coding["system"], coding["code"])
        )

    def kinds(self, cc: Any) -> set[str]:
        out: set[str] = set()
        for c in _codings(cc):
            out |= {k for _, k, _ in self.signature(c)}
        return out


def _codings(cc: Any) -> list[Json]:
    if not isinstance(cc, dict) or not isinstance(cc.get("coding"), list):
        return []
    return [
        c
        for c in cc["coding"]
        if isinstance(c, dict)
        and isinstance(c.get("system"), str)
        and isinstance(c.get("code"), str)
    ]


def _code_of(code: Any) -> str | None:
    codings = _codings(code)
    return codings[0]["code"] if codings else None


def _status(cc: Any) -> str | None:
    return _code_of(cc)


def _new_id(base: str, n: int) -> str:
    return f"{base[:56]}-s{n}"


# --------------------------------------------------------------------------- rewrites


def _component_applies(r: Json, ctx: _Ctx) -> bool:
    return (
        r.get("resourceType") == "Observation"
        and "component" not in r
        and bool(ctx.kinds(r.get("code")) & {"finding", "measure"})
    )


def _component(r: Json, draw: st.DrawFn, ctx: _Ctx) -> list[Json]:
    out = {k: v for k, v in r.items() if k not in (*_VALUE_KEYS, "interpretation")}
    out.pop("dataAbsentReason", None)
    comp: Json = {"code": r["code"]}
    for key in (*_VALUE_KEYS, "interpretation", "dataAbsentReason"):
        if key in r:
            comp[key] = r[key]
    panel = draw(st.sampled_from([p for p in _PANELS if not ctx.known(p)]))
    out["code"] = {"coding": [dict(panel)], "text": panel["display"]}
    others: list[Json] = []
    if draw(st.booleans()):
        # a sibling component no value set knows (a blood pressure-like reading)
        others.append(
            {
                "code": {"coding": [{"system": LOCAL, "code": "BP-SYS", "display": "Systolic"}]},
                "valueQuantity": {"value": 120, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"},
            }
        )
    out["component"] = draw(st.permutations([comp, *others]))
    return [out]


def _condition_applies(r: Json, ctx: _Ctx) -> bool:
    if r.get("resourceType") != "Condition" or ctx.kinds(r.get("code")) != {"finding"}:
        return False
    clinical = _status(r.get("clinicalStatus"))
    verification = _status(r.get("verificationStatus"))
    return (
        clinical in CURRENT_CLINICAL
        and verification in (*EVIDENCE_VERIFICATION, None)
        and not any(k in r for k in (*_ABATEMENT, *_OTHER_ONSET, "recordedDate"))
    )


def _condition_to_observation(r: Json, draw: st.DrawFn, ctx: _Ctx) -> list[Json]:
    present: list[bool | Json] = [True, PRESENT]
    value = draw(st.sampled_from(present))
    out = _fhir.observation(
        r["id"],
        _codings(r["code"]),
        subject=r["subject"]["reference"],
        effective=r.get("onsetDateTime"),
        value=value,
    )
    sites = [c for cc in r.get("bodySite") or [] for c in _codings(cc)]
    if sites:
        out["bodySite"] = {"coding": sites}
    out["status"] = draw(st.sampled_from(["final", "amended", "corrected"]))
    return [out]


def _observation_applies(r: Json, ctx: _Ctx) -> bool:
    if r.get("resourceType") != "Observation" or "component" in r:
        return False
    if ctx.kinds(r.get("code")) != {"finding"} or r.get("status") not in _OBS_USED:
        return False
    if "dataAbsentReason" in r or any(
        k in r for k in ("effectivePeriod", "effectiveInstant", "effectiveTiming", "issued")
    ):
        return False
    present = r.get("valueBoolean") is True or any(
        c.get("code") == PRESENT["code"] and c.get("system") == PRESENT["system"]
        for c in _codings(r.get("valueCodeableConcept"))
    )
    return present and sum(k in r for k in _VALUE_KEYS) == 1


def _observation_to_condition(r: Json, draw: st.DrawFn, ctx: _Ctx) -> list[Json]:
    out = _fhir.condition(
        r["id"],
        _codings(r["code"]),
        subject=r["subject"]["reference"],
        clinical=draw(st.sampled_from(CURRENT_CLINICAL)),
        verification=draw(st.sampled_from(EVIDENCE_VERIFICATION)),
        onset=r.get("effectiveDateTime"),
    )
    if isinstance(r.get("bodySite"), dict):
        out["bodySite"] = [r["bodySite"]]
    return [out]


def _main_concept_key(r: Json) -> str | None:
    if r.get("resourceType") in ("MedicationStatement", "MedicationRequest"):
        return "medicationCodeableConcept"
    if r.get("resourceType") in ("Condition", "Observation", "ServiceRequest", "Procedure"):
        return "code"
    return None


def _alternatives(ctx: _Ctx, coding: Json) -> list[Json]:
    sig = ctx.signature(coding)
    if not sig:
        return []
    alts = []
    concepts = {c for c, _, _ in sig}
    for concept in sorted(concepts):
        for _system, codes in sorted(ctx.book.codes.get(concept, {}).items()):
            for c in codes:
                if (c.system, c.code) == (coding["system"], coding["code"]):
                    continue
                other = {"system": c.system, "code": c.code}
                if ctx.signature(other) == sig and other not in alts:
                    alts.append(other)
    return alts


def _recode_targets(r: Json, ctx: _Ctx) -> list[int]:
    key = _main_concept_key(r)
    if key is None:
        return []
    codings = r.get(key, {}).get("coding") if isinstance(r.get(key), dict) else None
    if not isinstance(codings, list):
        return []
    return [
        i
        for i, c in enumerate(codings)
        if isinstance(c, dict) and ctx.known(c) and _alternatives(ctx, c)
    ]


def _recode(r: Json, draw: st.DrawFn, ctx: _Ctx) -> list[Json]:
    key = _main_concept_key(r)
    assert key is not None
    out = copy.deepcopy(r)
    codings = out[key]["coding"]
    i = draw(st.sampled_from(_recode_targets(r, ctx)))
    new = dict(draw(st.sampled_from(_alternatives(ctx, codings[i]))))
    codings[i] = new
    return [out]


def _extra_applies(r: Json, ctx: _Ctx) -> bool:
    key = _main_concept_key(r)
    return key is not None and any(ctx.known(c) for c in _codings(r.get(key)))


_UNKNOWN_SNOMED = st.from_regex(r"[1-9][0-9]{6,9}", fullmatch=True)


def _extra_codings(r: Json, draw: st.DrawFn, ctx: _Ctx) -> list[Json]:
    key = _main_concept_key(r)
    assert key is not None
    out = copy.deepcopy(r)
    cc = out[key]
    extra: list[Json] = [{"system": LOCAL, "code": draw(st.sampled_from(["L-17", "X9", "LBP-A"]))}]
    if draw(st.booleans()):
        code = draw(
            _UNKNOWN_SNOMED.filter(lambda c: not ctx.known({"system": _fhir.SNOMED, "code": c}))
        )
        extra.append({"system": _fhir.SNOMED, "code": code})
    cc["coding"] = draw(st.permutations([*cc["coding"], *extra]))
    if draw(st.booleans()):
        cc["text"] = "as recorded by the clinician"
    return [out]


def _course_applies(r: Json, ctx: _Ctx) -> bool:
    if r.get("resourceType") != "MedicationStatement" or "medicationCodeableConcept" not in r:
        return False
    if any(k in r for k in ("dosage", "effectiveDateTime", "contained")):
        return False
    period = r.get("effectivePeriod")
    if not isinstance(period, dict) or not isinstance(period.get("start"), str):
        return False
    status = r.get("status")
    if status == "active":
        return "end" not in period and _instant(period["start"]) is not None
    return (
        status in ("completed", "stopped")
        and _instant(period["start"]) is not None
        and _instant(period.get("end")) is not None
    )


def _instant(value: Any) -> dt.datetime | None:
    """A full date-time (with zone) as an instant; None for dates and partial dates."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def _repeat_prescriptions(r: Json, draw: st.DrawFn, ctx: _Ctx) -> list[Json]:
    """Monthly MedicationRequests (authoredOn + supply) or pharmacy fills (MedicationDispense
    whenHandedOver + daysSupply) covering the statement's days."""
    period = r["effectivePeriod"]
    start = _instant(period["start"])
    assert start is not None
    end = _instant(period.get("end"))
    active = r["status"] == "active"
    fills = draw(st.booleans())
    total = (ctx.now if active else end) - start  # type: ignore[operator]
    chunk = dt.timedelta(days=_SUPPLY_DAYS)
    # an active course's last supply runs past now (a fill is current while it lasts)
    n = total // chunk + 1 if active else max(1, math.ceil(total / chunk))
    out = []
    codings = _codings(r["medicationCodeableConcept"])
    subject = r["subject"]["reference"]
    for i in range(n):
        issued = start + i * chunk
        supply = chunk if active or i < n - 1 else total - i * chunk
        if supply <= dt.timedelta(0):
            break
        days = supply / dt.timedelta(days=1)
        quantity = {
            "value": int(days) if days == int(days) else round(days, 6),
            "unit": "days",
            "system": UCUM,
            "code": "d",
        }
        if fills:
            out.append(
                {
                    "resourceType": "MedicationDispense",
                    "id": _new_id(r["id"], i),
                    "status": "completed",
                    "medicationCodeableConcept": {"coding": codings},
                    "subject": {"reference": subject},
                    "whenHandedOver": _fhir.fhir_datetime(issued),
                    "daysSupply": quantity,
                }
            )
            continue
        status = "completed" if active else r["status"]
        req = _fhir.medication_request(
            _new_id(r["id"], i),
            codings,
            subject=subject,
            status="active" if active and i == n - 1 else status,
            authored=issued,
        )
        req["dispenseRequest"] = {"expectedSupplyDuration": quantity}
        out.append(req)
    return out


def _quantities(r: Json) -> list[Json]:
    found = [r] if isinstance(r.get("valueQuantity"), dict) else []
    found += [c for c in r.get("component") or [] if isinstance(c.get("valueQuantity"), dict)]
    return found


def _unit_targets(r: Json, ctx: _Ctx) -> list[int]:
    if r.get("resourceType") != "Observation":
        return []
    out = []
    for i, part in enumerate(_quantities(r)):
        q = part["valueQuantity"]
        units = {
            ctx.book.units.get(c) for c, k, _ in _sig_of(ctx, part.get("code")) if k == "measure"
        }
        convertible = len(units) == 1 and q.get("code") in units and q.get("code") in ALT_UNITS
        if convertible and isinstance(q.get("value"), int | float) and "comparator" not in q:
            out.append(i)
    return out


def _sig_of(ctx: _Ctx, cc: Any) -> set[tuple[str, str, str | None]]:
    out: set[tuple[str, str, str | None]] = set()
    for c in _codings(cc):
        out |= ctx.signature(c)
    return out


def _unit_variant(r: Json, draw: st.DrawFn, ctx: _Ctx) -> list[Json]:
    out = copy.deepcopy(r)
    i = draw(st.sampled_from(_unit_targets(r, ctx)))
    q = _quantities(out)[i]["valueQuantity"]
    unit, convert = draw(st.sampled_from(ALT_UNITS[q["code"]]))
    q.update({"value": convert(float(q["value"])), "unit": unit, "system": UCUM, "code": unit})
    return [out]


@dataclass(frozen=True)
class _Rewrite:
    applies: Callable[[Json, _Ctx], bool]
    apply: Callable[[Json, st.DrawFn, _Ctx], list[Json]]


_REWRITES: dict[str, _Rewrite] = {
    "component": _Rewrite(_component_applies, _component),
    "condition_to_observation": _Rewrite(_condition_applies, _condition_to_observation),
    "observation_to_condition": _Rewrite(_observation_applies, _observation_to_condition),
    "recode": _Rewrite(lambda r, ctx: bool(_recode_targets(r, ctx)), _recode),
    "extra_codings": _Rewrite(_extra_applies, _extra_codings),
    "repeat_prescriptions": _Rewrite(_course_applies, _repeat_prescriptions),
    "unit_variant": _Rewrite(lambda r, ctx: bool(_unit_targets(r, ctx)), _unit_variant),
}
#: Every rewrite :func:`reshaped` knows, in documentation order.
REWRITES: tuple[str, ...] = (*_REWRITES, "noise")


def _unrelated_medication(ctx: _Ctx) -> st.SearchStrategy[Json]:
    rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
    codes = st.from_regex(r"[1-9][0-9]{4,6}", fullmatch=True).filter(
        lambda c: not ctx.known({"system": rxnorm, "code": c})
    )
    return codes.map(
        lambda c: _fhir.medication_statement(
            "noise",
            [{"system": rxnorm, "code": c}],
            subject=ctx.subject,
            start=ctx.now - dt.timedelta(days=200),
        )
    )


def reshaped(
    data: Json,
    *,
    rewrites: Sequence[str] = REWRITES,
    max_steps: int = 3,
    now: dt.datetime | str | None = None,
    knowledge: Knowledgeish | None = None,
) -> st.SearchStrategy[Reshaped]:
    """``data`` (a Bundle) after 1..``max_steps`` shape rewrites drawn from ``rewrites``.

    Each step draws a rewrite and a resource it applies to; a step with nothing to rewrite
    is skipped. The result reads as the same facts, so its triage must be the same.
    """
    unknown = set(rewrites) - set(REWRITES)
    if unknown:
        raise ValueError(f"unknown rewrites {sorted(unknown)}; known: {list(REWRITES)}")
    instant = evaluation_instant(now)

    @st.composite
    def gen(draw: st.DrawFn) -> Reshaped:
        book = code_book(knowledge)
        resources = [copy.deepcopy(e["resource"]) for e in data.get("entry", [])]
        pid = next((r["id"] for r in resources if r.get("resourceType") == "Patient"), "pat")
        ctx = _Ctx(book, instant, f"Patient/{pid}")
        steps: list[str] = []
        added = 0
        for _ in range(draw(st.integers(1, max(1, max_steps)))):
            options = [
                (name, i)
                for name in rewrites
                if name in _REWRITES
                for i, r in enumerate(resources)
                if _REWRITES[name].applies(r, ctx)
            ]
            if "noise" in rewrites:
                options.append(("noise", -1))
            if not options:
                break
            name, i = draw(st.sampled_from(options))
            if name == "noise":
                added += 1
                res = draw(
                    st.one_of(
                        unrelated_resources(
                            now=instant, knowledge=book.knowledge, subject=ctx.subject
                        ),
                        _unrelated_medication(ctx),
                    )
                )
                res["id"] = f"noise-{added}"
                resources.append(res)
                steps.append(f"noise:{_fhir.reference(res)}")
                continue
            target = resources[i]
            steps.append(f"{name}:{_fhir.reference(target)}")
            resources[i : i + 1] = _REWRITES[name].apply(target, draw, ctx)
        out = _fhir.bundle(resources, id=data.get("id"))
        if "timestamp" in data:
            out["timestamp"] = data["timestamp"]
        return Reshaped(out, tuple(steps))

    return gen()
