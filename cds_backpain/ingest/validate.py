"""Validate resources with their fhir.resources R4B models and reject other FHIR versions.

Each resource is validated on its own, so a defect is reported at its exact place
(``Bundle.entry[3].resource.onsetDateTime``) and every defect of every resource is
collected. Before validation, shapes that belong to another FHIR version (STU3,
DSTU2, R5) are recognised and reported as such, because the model errors they would
cause ("extra inputs are not permitted") do not tell the sender what is wrong.
"""

from __future__ import annotations

import re
import time
from functools import cache
from typing import TYPE_CHECKING, Any

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import ValidationError

from .jsontypes import check_json_types
from .outcome import Problems, clip
from .r4 import (
    OTHER_VERSION_TYPES,
    R4_RESOURCE_TYPES,
    REQUIRED_CODES,
    REQUIRED_CONCEPTS,
)

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails  # pydantic's own error record (a TypedDict)

_PROFILE_VERSION = re.compile(
    r"^https?://hl7\.org/fhir/(DSTU2|STU3|R4B|R5|R6|1\.0|3\.0|4\.3|4\.[4-9]|5\.\d|6\.\d)/",
    re.IGNORECASE,
)
#: Resource types fhir.resources R4B can validate (R4 types that R4B dropped are not here).
_R4B_TYPES = (
    R4_RESOURCE_TYPES
    - {
        "EffectEvidenceSynthesis",
        "RiskEvidenceSynthesis",
        "SubstanceNucleicAcid",
        "SubstancePolymer",
        "SubstanceProtein",
        "SubstanceReferenceInformation",
        "SubstanceSourceMaterial",
        "SubstanceSpecification",
    }
    - {t for t in R4_RESOURCE_TYPES if t.startswith("MedicinalProduct")}
)
_VERSION_NAMES = {"1.0": "DSTU2", "3.0": "STU3", "4.3": "R4B"}

#: (resource type, element, test) -> (FHIR version, what it is in that version).
#: ``test`` is "present" (the element exists) or "string" (the element is a JSON string)
#: or "object" (the element is a JSON object).
_VERSION_SHAPES: tuple[tuple[str, str, str, str, str], ...] = (
    ("Condition", "clinicalStatus", "string", "STU3", "Condition.clinicalStatus is a code"),
    ("Condition", "verificationStatus", "string", "STU3", "Condition.verificationStatus is a code"),
    ("Condition", "assertedDate", "present", "STU3", "Condition.assertedDate"),
    ("Condition", "context", "present", "STU3", "Condition.context"),
    ("Condition", "patient", "present", "DSTU2", "Condition.patient"),
    ("Condition", "dateRecorded", "present", "DSTU2", "Condition.dateRecorded"),
    ("Condition", "participant", "present", "R5", "Condition.participant"),
    ("MedicationStatement", "taken", "present", "STU3", "MedicationStatement.taken"),
    ("MedicationStatement", "notTaken", "present", "STU3", "MedicationStatement.notTaken"),
    ("MedicationStatement", "wasNotTaken", "present", "DSTU2", "MedicationStatement.wasNotTaken"),
    ("MedicationStatement", "medication", "object", "R5", "MedicationStatement.medication"),
    ("MedicationStatement", "adherence", "present", "R5", "MedicationStatement.adherence"),
    ("MedicationRequest", "context", "present", "STU3", "MedicationRequest.context"),
    ("MedicationRequest", "medication", "object", "R5", "MedicationRequest.medication"),
    (
        "MedicationRequest",
        "informationSource",
        "present",
        "R5",
        "MedicationRequest.informationSource",
    ),
    (
        "MedicationRequest",
        "renderedDosageInstruction",
        "present",
        "R5",
        "MedicationRequest.renderedDosageInstruction",
    ),
    ("Observation", "triggeredBy", "present", "R5", "Observation.triggeredBy"),
    ("Observation", "bodyStructure", "present", "R5", "Observation.bodyStructure"),
    ("Observation", "instantiatesCanonical", "present", "R5", "Observation.instantiatesCanonical"),
    ("Observation", "context", "present", "STU3", "Observation.context"),
    ("Observation", "comment", "present", "STU3", "Observation.comment"),
    ("Observation", "comments", "present", "DSTU2", "Observation.comments"),
    ("ServiceRequest", "bodyStructure", "present", "R5", "ServiceRequest.bodyStructure"),
    ("Patient", "animal", "present", "STU3", "Patient.animal"),
    ("Patient", "careProvider", "present", "DSTU2", "Patient.careProvider"),
    ("Bundle", "issues", "present", "R5", "Bundle.issues"),
)


def version_message(version: str, what: str) -> str:
    return f"This looks like FHIR {version} ({what}); cds-backpain accepts FHIR R4 only."


@cache
def model_class(resource_type: str) -> type[FHIRAbstractModel]:
    """The fhir.resources R4B model of a resource type."""
    return get_fhir_model_class(resource_type)


def check_type(raw: Any, where: str, problems: Problems) -> str | None:
    """The resourceType of ``raw`` if it is a JSON object naming a FHIR R4 type, else None."""
    if not isinstance(raw, dict):
        problems.error("structure", "a resource must be a JSON object", where)
        return None
    rt = raw.get("resourceType")
    if not isinstance(rt, str) or not rt:
        problems.error("structure", "resource has no resourceType", where)
        return None
    if rt in OTHER_VERSION_TYPES:
        problems.error(
            "not-supported",
            version_message(OTHER_VERSION_TYPES[rt], f"resourceType {rt}"),
            f"{where}.resourceType",
        )
        return None
    if rt not in R4_RESOURCE_TYPES:
        problems.error("invalid", f"unknown resourceType {clip(rt, 40)!r}", f"{where}.resourceType")
        return None
    return rt


def version_problems(raw: dict[str, Any], rt: str, where: str, problems: Problems) -> bool:
    found = False
    meta = raw.get("meta")
    if isinstance(meta, dict):
        profiles = meta.get("profile")
        for i, p in enumerate(profiles if isinstance(profiles, list) else []):
            m = _PROFILE_VERSION.match(p) if isinstance(p, str) else None
            if m:
                v = _VERSION_NAMES.get(m.group(1), m.group(1).upper())
                problems.error(
                    "not-supported",
                    version_message(v, "meta.profile names a FHIR " + v + " profile"),
                    f"{where}.meta.profile[{i}]",
                )
                found = True
    for holder, path in ((raw, ""), (meta if isinstance(meta, dict) else {}, "meta.")):
        fv = holder.get("fhirVersion")
        if fv is not None and not str(fv).startswith("4.0"):
            problems.error(
                "not-supported",
                version_message(clip(fv, 12), f"{path}fhirVersion is {clip(fv, 12)}"),
                f"{where}.{path}fhirVersion",
            )
            found = True
    for shape_rt, element, test, version, what in _VERSION_SHAPES:
        if shape_rt != rt or element not in raw:
            continue
        value = raw[element]
        if (
            test == "present"
            or (test == "string" and isinstance(value, str))
            or (test == "object" and isinstance(value, dict))
        ):
            problems.error("not-supported", version_message(version, what), f"{where}.{element}")
            found = True
    if (
        rt == "ServiceRequest"
        and isinstance(raw.get("code"), dict)
        and ("concept" in raw["code"] or "reference" in raw["code"])
    ):
        problems.error(
            "not-supported",
            version_message("R5", "ServiceRequest.code is a CodeableReference"),
            f"{where}.code",
        )
        found = True
    return found


def _binding_problems(raw: dict[str, Any], rt: str, where: str, problems: Problems) -> bool:
    found = False
    for (brt, element), codes in REQUIRED_CODES.items():
        if brt == rt and isinstance(raw.get(element), str) and raw[element] not in codes:
            problems.error(
                "value",
                f"{rt}.{element} {clip(raw[element], 30)!r} is not a FHIR R4 code "
                f"(expected one of {', '.join(sorted(codes))})",
                f"{where}.{element}",
            )
            found = True
    for (brt, element), (system, codes) in REQUIRED_CONCEPTS.items():
        cc = raw.get(element)
        if brt != rt or not isinstance(cc, dict):
            continue
        raw_codings = cc.get("coding")
        codings = (
            [c for c in raw_codings if isinstance(c, dict)] if isinstance(raw_codings, list) else []
        )
        ours = [c for c in codings if c.get("system") in (system, None)]
        if not any(isinstance(c.get("code"), str) and c["code"] in codes for c in ours):
            problems.error(
                "value",
                f"{rt}.{element} has no code from {system} "
                f"(expected one of {', '.join(sorted(codes))})",
                f"{where}.{element}",
            )
            found = True
    return found


def _contained_problems(raw: dict[str, Any], where: str, problems: Problems) -> bool:
    contained = raw.get("contained")
    if not isinstance(contained, list):
        return False
    before = len(problems.defects)
    for i, item in enumerate(contained):
        at = f"{where}.contained[{i}]"
        crt = check_type(item, at, problems)
        if crt is None:
            continue
        if crt == "Bundle":
            problems.error("not-supported", "a contained Bundle is not supported", at)
            continue
        if crt not in _R4B_TYPES:
            problems.error("not-supported", f"contained {crt} is not supported", at)
            continue
        version_problems(item, crt, at, problems)
        _binding_problems(item, crt, at, problems)
    return len(problems.defects) > before


def _resolve(resource_type: Any) -> type[FHIRAbstractModel] | None:
    return model_class(resource_type) if resource_type in _R4B_TYPES else None


def _expression(where: str, loc: tuple[Any, ...]) -> str:
    out = where
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "root":
            continue
        elif part == "resource_type":
            out += ".resourceType"
        else:
            out += f".{part}"
    return out


def _issue_code(kind: str) -> str:
    if kind.endswith("missing"):
        return "required"
    if kind in ("extra_forbidden", "json_invalid", "model_type", "list_type", "dict_type") or (
        kind.startswith("model_validation")
    ):
        return "structure"
    return "value"


def _diagnostic(err: ErrorDetails, rt: str) -> str:
    kind = err["type"]
    loc = err["loc"]
    name = str(loc[-1]) if loc else rt
    if kind == "extra_forbidden":
        return f"unknown element {clip(name, 40)!r} (not part of FHIR R4 {rt})"
    if kind.endswith("missing"):
        return f"{clip(name, 40)} is required but missing"
    if kind == "json_invalid":
        return f"{clip(name, 40)} has the wrong JSON type for FHIR R4 {rt}"
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return clip(f"{name}: {msg}", 160)


def validate_model(
    raw: dict[str, Any], rt: str, where: str, problems: Problems
) -> FHIRAbstractModel | None:
    """Validate one resource with its R4B model, after version and binding checks.

    Returns the model, or None after recording every defect found under ``where``.
    """
    bad = version_problems(raw, rt, where, problems)
    if bad:
        return None  # model errors would only repeat the version problem less clearly
    if _contained_problems(raw, where, problems):
        return None  # fhir.resources cannot validate around a broken contained resource
    bad = _binding_problems(raw, rt, where, problems)
    reported = check_json_types(raw, model_class(rt), where, problems, _resolve)
    try:
        model = model_class(rt).model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            expression = _expression(where, err["loc"])
            if expression not in reported:
                problems.error(_issue_code(err["type"]), _diagnostic(err, rt), expression)
        return None
    except Exception as exc:  # fhir.resources can fail outside pydantic on odd input
        problems.error("invalid", f"{rt} could not be validated ({type(exc).__name__})", where)
        return None
    return None if bad or reported else model


class Timer:
    """Accumulates time spent in model validation."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.count = 0

    def validate(
        self, raw: dict[str, Any], rt: str, where: str, problems: Problems
    ) -> FHIRAbstractModel | None:
        t0 = time.perf_counter()
        try:
            return validate_model(raw, rt, where, problems)
        finally:
            self.seconds += time.perf_counter() - t0
            self.count += 1
