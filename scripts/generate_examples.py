# ruff: noqa: E501
"""Generate the bundled examples (reproducible; edit the scenarios or this script, never the
generated JSON).

* ``fhir_examples/NN-slug.json`` + ``NN-slug.expected.json``: one clinical situation each, from
  the scenario file ``fhir_examples/scenarios/NN-slug.yaml`` (the patient, what is on record and
  the expected outcome with its basis; the clinical brief's vignettes and extra situations, 50
  and up).
* ``fhir_examples/coding/<concept>--<system>.json`` + ``.expected.json``: one small bundle per
  (concept, code system) pair of the value sets, so that every concept is exercised in every code
  system it is coded in (``tests/test_code_coverage.py`` checks every single code).
* the examples table of ``fhir_examples/README.md``.

Run ``.venv/bin/python scripts/generate_examples.py [OUT_DIR]``.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cds_backpain.kb.loader import knowledge_root

OUT = (
    Path(sys.argv[1])
    if len(sys.argv) > 1
    else Path(__file__).resolve().parents[1] / "fhir_examples"
)
NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
NOW_S = "2026-06-01T12:00:00Z"

SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"
UCUM = "http://unitsofmeasure.org"
FIND = "https://cds-backpain.example.org/fhir/CodeSystem/findings"
CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CCAT = "http://terminology.hl7.org/CodeSystem/condition-category"
OCAT = "http://terminology.hl7.org/CodeSystem/observation-category"
NS = uuid.UUID("5b0c7a52-3f1e-4d7e-9a51-2f6c1b9d8e01")


def c(system: str, code: str, display: str) -> dict:
    return {"system": system, "code": code, "display": display}


# --- codes (brief section 2; HIGH/MEDIUM only) -----------------------------------
LBP = [
    c(SCT, "279039007", "Low back pain (finding)"),
    c(ICD, "M54.50", "Low back pain, unspecified"),
]
MECH_LBP = [
    c(SCT, "279040009", "Mechanical low back pain (finding)"),
    c(ICD, "M54.50", "Low back pain, unspecified"),
]
ACUTE_LBP = [
    c(SCT, "278862001", "Acute low back pain (finding)"),
    c(ICD, "M54.50", "Low back pain, unspecified"),
]
CHRONIC_LBP = [
    c(SCT, "278860009", "Chronic low back pain (finding)"),
    c(ICD, "M54.50", "Low back pain, unspecified"),
]
SPASM = [
    c(SCT, "203095000", "Spasm of back muscles (finding)"),
    c(ICD, "M62.830", "Muscle spasm of back"),
]
SCIATICA = c(SCT, "23056005", "Sciatica (disorder)")
SCI_ICD = {
    None: c(ICD, "M54.30", "Sciatica, unspecified side"),
    "right": c(ICD, "M54.31", "Sciatica, right side"),
    "left": c(ICD, "M54.32", "Sciatica, left side"),
}
RADIC = [
    c(SCT, "128196005", "Lumbar radiculopathy (disorder)"),
    c(ICD, "M54.16", "Radiculopathy, lumbar region"),
]
NEURO_CLAUD = [c(SCT, "303081002", "Neurogenic claudication (finding)")]
OSTEOPOROSIS = [
    c(SCT, "64859006", "Osteoporosis (disorder)"),
    c(ICD, "M81.0", "Age-related osteoporosis without current pathological fracture"),
]
CES = [
    c(SCT, "192970008", "Cauda equina syndrome (disorder)"),
    c(ICD, "G83.4", "Cauda equina syndrome"),
]
RETENTION = [
    c(SCT, "267064002", "Retention of urine (disorder)"),
    c(ICD, "R33.9", "Retention of urine, unspecified"),
]
FECAL_INC = [c(SCT, "72042002", "Incontinence of feces (finding)")]
WEIGHT_LOSS = [
    c(SCT, "448765001", "Unintentional weight loss (finding)"),
    c(ICD, "R63.4", "Abnormal weight loss"),
]
MALIGNANCY = [c(SCT, "363346000", "Malignant neoplastic disease (disorder)")]
HX_MALIGNANCY = [c(SCT, "266987004", "History of malignant neoplasm (situation)")]
Z85_3 = [c(ICD, "Z85.3", "Personal history of malignant neoplasm of breast")]
IVDU = [c(SCT, "228388006", "Intravenous drug user (finding)")]
IMMUNOSUPPRESSED = [c(SCT, "370391006", "Patient immunosuppressed (finding)")]
NUMBNESS = [c(SCT, "44077006", "Numbness (finding)")]
PARESTHESIA = [c(SCT, "91019004", "Paresthesia (finding)"), c(ICD, "R20.2", "Paresthesia of skin")]
WEAKNESS = [c(SCT, "26544005", "Muscle weakness (finding)")]
FOOT_DROP_L = [c(ICD, "M21.372", "Foot drop, left foot")]
AMENORRHEA = [c(SCT, "156036003", "Secondary amenorrhea (finding)")]
DISCECTOMY = [c(SCT, "239542002", "Lumbar discectomy")]
HYPERTENSION = [c(SCT, "59621000", "Essential hypertension (disorder)")]  # as in the Synthea data
LOWER_LIMB = [c(SCT, "61685007", "Lower limb structure (body structure)")]
BILATERAL = [c(SCT, "51440002", "Right and left (qualifier value)")]
PRESENT = c(SCT, "52101004", "Present (qualifier value)")
ABSENT = c(SCT, "2667000", "Absent (qualifier value)")

PAIN = [c(LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")]
TEMP = [c(LOINC, "8310-5", "Body temperature")]
WEIGHT = [c(LOINC, "29463-7", "Body weight")]
BMI = [c(LOINC, "39156-5", "Body mass index (BMI) [Ratio]")]

IBUPROFEN = c(RX, "5640", "ibuprofen")
NAPROXEN = c(RX, "7258", "naproxen")
DICLOFENAC = c(RX, "3355", "diclofenac")
PREDNISONE = c(RX, "8640", "prednisone")

MRI_WO = [
    c(CPT, "72148", "MRI lumbar spine without contrast"),
    c(SCT, "241648005", "MRI of lumbar spine"),
]
XRAY_LUMBAR = [
    c(CPT, "72100", "X-ray of lumbosacral spine, 2 or 3 views"),
    c(SCT, "22791004", "X-ray of lumbosacral spine"),
]
CT_LUMBAR = [c(SCT, "241580002", "CT of lumbar spine")]  # CPT 72131 is [UNVERIFIED] in the brief
LUMBAR_FRACTURE = [c(SCT, "125608002", "Fracture of lumbar spine")]
STRESS_FRACTURE = [c(SCT, "240197007", "Stress fracture (disorder)")]
PREGABALIN_75 = c(RX, "483450", "pregabalin 75 MG Oral Capsule")
PREDNISOLONE = c(RX, "8638", "prednisolone")

FINDINGS = {
    "saddle-anesthesia": "Saddle anesthesia",
    "slr-positive": "Straight leg raise test positive",
    "crossed-slr-positive": "Crossed straight leg raise test positive",
    "extension-pain": "Low back pain worse on lumbar extension",
    "stork-test-positive": "Single-leg hyperextension (stork) test painful",
    "hop-test-positive": "Single-leg hop test painful",
    "sacral-tenderness": "Sacral tenderness",
    "vertebral-tenderness": "Focal vertebral (spinous process) tenderness",
    "night-pain": "Night pain",
    "morning-stiffness": "Early-morning stiffness",
    "major-trauma": "Major trauma",
    "minor-trauma": "Minor (low-velocity) trauma",
    "contusion-abrasion": "Contusion or abrasion over the spine",
    "intervention-candidate": "Candidate for spinal surgery or epidural steroid injection",
    "progressive-neuro-deficit": "Progressive neurological deficit",
    "recent-infection": "Recent bacterial infection",
    "sexual-dysfunction": "New sexual dysfunction",
    "pain-relieved-sitting": "Leg pain relieved by sitting (no pain when seated)",
    "pain-relieved-flexion": "Leg pain relieved by bending forward",
    "claudication-relieved-standing": "Leg pain on walking relieved by standing still",
    "absent-pedal-pulses": "Absent pedal pulses",
    "weekly-running-distance": "Weekly running distance",
    "running-load-change": "Change in weekly running load",
}


def f(code: str) -> list[dict]:
    return [c(FIND, code, FINDINGS[code])]


def ts(delta: timedelta) -> str:
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def days(n: float) -> timedelta:
    return timedelta(days=n)


def cc(codings: list[dict], text: str | None = None) -> dict:
    out: dict = {"coding": codings}
    if text:
        out["text"] = text
    return out


NAMES = [
    ("Ashworth", "Daniel"),
    ("Okafor", "Grace"),
    ("Lindqvist", "Marcus"),
    ("Moreau", "Claire"),
    ("Tanaka", "Kenji"),
    ("Ferreira", "Ana"),
    ("Novak", "Tomas"),
    ("Byrne", "Siobhan"),
    ("Haddad", "Omar"),
    ("Kowalski", "Irena"),
    ("Mensah", "Kwame"),
    ("Rossi", "Giulia"),
]


class Case:
    def __init__(
        self, nn: int, slug: str, age: int, sex: str, title: str, *, tag: str | None = None
    ) -> None:
        self.nn, self.slug, self.title = nn, slug, title
        #: Seeds the entries' urn:uuid fullUrls (unique across all generated bundles).
        self.tag = tag or f"{nn:02d}"
        self.pid = f"pat-{nn:02d}" if tag is None else "patient"
        self.entries: list[dict] = []
        self.ids: set[str] = set()
        fam, giv = NAMES[nn % len(NAMES)]
        birth = f"{2026 - age}-{1 + nn % 5:02d}-{10 + nn % 15:02d}"  # birthday before 1 June
        self.add(
            {
                "resourceType": "Patient",
                "id": self.pid,
                "active": True,
                "name": [{"use": "official", "family": fam, "given": [giv]}],
                "gender": sex,
                "birthDate": birth,
            }
        )
        if sex is None:  # Patient.gender not recorded
            del self.entries[0]["resource"]["gender"]

    @property
    def subject(self) -> dict:
        return {"reference": f"Patient/{self.pid}"}

    def add(self, res: dict) -> None:
        key = f"{res['resourceType']}/{res['id']}"
        assert res["id"] not in self.ids, key
        self.ids.add(res["id"])
        u = uuid.uuid5(NS, f"{self.tag}/{key}")
        self.entries.append({"fullUrl": f"urn:uuid:{u}", "resource": res})

    def cond(
        self,
        rid: str,
        codings: list[dict],
        onset: timedelta | None,
        *,
        text: str | None = None,
        clinical: str = "active",
        verification: str = "confirmed",
        category: str = "encounter-diagnosis",
        body_site: list[list[dict]] | None = None,
        note: str | None = None,
        abated: timedelta | None = None,
    ) -> None:
        res: dict = {
            "resourceType": "Condition",
            "id": rid,
            "clinicalStatus": cc([c(CLIN, clinical, clinical.capitalize())]),
            "verificationStatus": cc(
                [
                    c(
                        VER,
                        verification,
                        {
                            "confirmed": "Confirmed",
                            "refuted": "Refuted",
                            "entered-in-error": "Entered in Error",
                            "provisional": "Provisional",
                            "unconfirmed": "Unconfirmed",
                        }[verification],
                    )
                ]
            ),
            "category": [
                cc(
                    [
                        c(
                            CCAT,
                            category,
                            {
                                "encounter-diagnosis": "Encounter Diagnosis",
                                "problem-list-item": "Problem List Item",
                            }[category],
                        )
                    ]
                )
            ],
            "code": cc(codings, text),
            "subject": self.subject,
        }
        if body_site:
            res["bodySite"] = [cc(b) for b in body_site]
        if onset is not None:
            res["onsetDateTime"] = ts(onset)
        res["recordedDate"] = ts(timedelta(hours=1))
        if abated is not None:
            res["abatementDateTime"] = ts(abated)
        if note:
            res["note"] = [{"text": note}]
        self.add(res)

    def obs(
        self,
        rid: str,
        codings: list[dict] | None,
        value,
        *,
        text: str | None = None,
        status: str = "final",
        when: timedelta = timedelta(hours=2),
        category: str = "exam",
        note: str | None = None,
    ) -> None:
        res: dict = {
            "resourceType": "Observation",
            "id": rid,
            "status": status,
            "category": [
                cc(
                    [
                        c(
                            OCAT,
                            category,
                            {
                                "exam": "Exam",
                                "vital-signs": "Vital Signs",
                                "survey": "Survey",
                                "social-history": "Social History",
                                "laboratory": "Laboratory",
                            }[category],
                        )
                    ]
                )
            ],
            "code": cc(codings, text) if codings else {"text": text},
            "subject": self.subject,
            "effectiveDateTime": ts(when),
        }
        if isinstance(value, bool):
            res["valueBoolean"] = value
        elif value == "present":
            res["valueCodeableConcept"] = cc([PRESENT])
        elif value == "absent":
            res["valueCodeableConcept"] = cc([ABSENT])
        elif isinstance(value, tuple):
            v, unit, code = value
            res["valueQuantity"] = {"value": v, "unit": unit, "system": UCUM, "code": code}
        elif isinstance(value, str):
            res["valueString"] = value
        if note:
            res["note"] = [{"text": note}]
        self.add(res)

    def finding(self, code: str, value=True, **kw) -> None:
        self.obs(code, f(code), value, **kw)

    def pain(self, score: int, when: timedelta = timedelta(hours=2)) -> None:
        self.obs("pain-score", PAIN, (score, "score", "{score}"), category="survey", when=when)

    def temp(self, celsius: float, rid: str = "temperature", **kw) -> None:
        self.obs(rid, TEMP, (celsius, "Cel", "Cel"), category="vital-signs", **kw)

    def running(self, km: float, change_pct: float | None = None) -> None:
        self.obs(
            "weekly-running-distance",
            f("weekly-running-distance"),
            (km, "km", "km"),
            category="social-history",
        )
        if change_pct is not None:
            self.obs(
                "running-load-change",
                f("running-load-change"),
                (change_pct, "%", "%"),
                category="social-history",
            )

    def med_statement(
        self,
        rid: str,
        med: dict | None,
        status: str,
        start: timedelta,
        end: timedelta | None = None,
        *,
        text: str | None = None,
        dosage: str | None = None,
        reason: str | None = None,
    ) -> None:
        period = {"start": ts(start)}
        if end is not None:
            period["end"] = ts(end)
        res: dict = {
            "resourceType": "MedicationStatement",
            "id": rid,
            "status": status,
            "medicationCodeableConcept": cc([med], text) if med else {"text": text},
            "subject": self.subject,
            "effectivePeriod": period,
            "dateAsserted": ts(timedelta(hours=1)),
        }
        if dosage:
            res["dosage"] = [{"text": dosage}]
        if reason:
            res["reasonCode"] = [{"text": reason}]
        self.add(res)

    def med_request(
        self, rid: str, med: dict, authored: timedelta, dosage: str, dose_mg: float
    ) -> None:
        self.add(
            {
                "resourceType": "MedicationRequest",
                "id": rid,
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": cc([med]),
                "subject": self.subject,
                "authoredOn": ts(authored),
                "dosageInstruction": [
                    {
                        "text": dosage,
                        "doseAndRate": [
                            {
                                "doseQuantity": {
                                    "value": dose_mg,
                                    "unit": "mg",
                                    "system": UCUM,
                                    "code": "mg",
                                }
                            }
                        ],
                    }
                ],
            }
        )

    def mri_order(self, rid: str = "mri-1", reason: str = "Low back pain") -> None:
        self.order(rid, MRI_WO, "MRI lumbar spine without contrast", reason)

    def order(self, rid: str, codings: list[dict], text: str | None, reason: str) -> None:
        """A draft imaging order (ServiceRequest), as placed on order-sign."""
        self.add(
            {
                "resourceType": "ServiceRequest",
                "id": rid,
                "status": "draft",
                "intent": "order",
                "code": cc(codings, text),
                "subject": self.subject,
                "authoredOn": ts(timedelta(minutes=10)),
                "reasonCode": [{"text": reason}],
            }
        )

    def resource(self, resource: dict) -> None:
        """Any other FHIR resource, written out in full (e.g. a panel with components or a
        repeat prescription); its subject is set to this patient."""
        self.add({**resource, "subject": self.subject})

    def procedure(self, rid: str, codings: list[dict], performed: timedelta) -> None:
        self.add(
            {
                "resourceType": "Procedure",
                "id": rid,
                "status": "completed",
                "code": cc(codings),
                "subject": self.subject,
                "performedDateTime": ts(performed),
            }
        )

    def write(
        self,
        *,
        urgency,
        imaging,
        categories,
        absent=(),
        red_flag,
        self_care,
        ratings=None,
        basis: str,
    ) -> None:
        bundle = {
            "resourceType": "Bundle",
            "id": f"example-{self.nn:02d}",
            "type": "collection",
            "timestamp": NOW_S,
            "entry": self.entries,
        }
        exp = {
            "vignette": self.nn,
            "title": self.title,
            "now": NOW_S,
            "urgency": urgency,
            "imaging": imaging,
            "categories": list(categories),
            "absent_categories": list(absent),
            "red_flag": red_flag,
            "self_care": self_care,
        }
        if ratings:
            exp["ratings"] = ratings
        exp["basis"] = basis
        stem = f"{self.nn:02d}-{self.slug}"
        (OUT / f"{stem}.json").write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n")
        (OUT / f"{stem}.expected.json").write_text(
            json.dumps(exp, indent=2, ensure_ascii=False) + "\n"
        )
        CASES.append((stem, exp))


CASES: list[tuple[str, dict]] = []
SERIOUS = ["cauda_equina", "malignancy", "infection", "neuro_deficit"]


# --- clinical scenarios: fhir_examples/scenarios/NN-slug.yaml ---------------------------------
#
# Each scenario is a short file a clinician can review: the patient, what is on record (as steps
# of the Case builder above: conditions, observations, medications, orders, procedures, with
# onsets as durations before the evaluation instant such as "4d" or "2h"), and the expected
# outcome with its basis. Codings are written inline or named (@NAME) from scenarios/codes.yaml.

SCENARIOS = Path(__file__).resolve().parents[1] / "fhir_examples" / "scenarios"
#: Step arguments that are durations before the evaluation instant.
DURATIONS = {"onset", "when", "abated", "start", "end", "authored", "performed"}
_UNITS = {"d": 86400, "h": 3600, "min": 60}


def _duration(text: str) -> timedelta:
    for suffix in ("min", "d", "h"):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return timedelta(seconds=float(text[: -len(suffix)]) * _UNITS[suffix])
    raise ValueError(f"not a duration: {text!r} (write e.g. 4d, 2h, 30min)")


def _decode(value, codes: dict, key: str = "", durations: bool = True):
    """Scenario values to builder arguments: @NAME codings, durations (builder steps only;
    a resource written in full keeps its FHIR dates), {quantity: [...]} tuples."""
    if isinstance(value, str) and value.startswith("@"):
        name = value[1:]
        if name not in codes:
            raise KeyError(f"unknown coding name {value!r} (define it in scenarios/codes.yaml)")
        return codes[name]
    if durations and key in DURATIONS and isinstance(value, str):
        return _duration(value)
    if durations and isinstance(value, dict) and set(value) == {"quantity"}:
        return tuple(value["quantity"])
    if isinstance(value, list):
        return [_decode(v, codes, durations=durations) for v in value]
    if isinstance(value, dict):
        return {k: _decode(v, codes, k, durations) for k, v in value.items()}
    return value


def _codes() -> dict:
    import yaml

    raw = yaml.safe_load((SCENARIOS / "codes.yaml").read_text(encoding="utf-8")) or {}
    codes: dict = {}
    for name, value in raw.items():
        codes[name] = value
    # a name that is also a constant of this script must mean the same codings (no drift
    # between the scenarios and the coding examples below)
    for name, value in codes.items():
        base, _, side = name.partition(".")
        const = globals().get(base)
        if const is not None:
            expected = const[None if side == "unspecified" else side] if side else const
            assert expected == value, (
                f"scenarios/codes.yaml {name} differs from {base} in this script"
            )
    return codes


STEPS = {
    "cond",
    "obs",
    "finding",
    "pain",
    "temp",
    "running",
    "med_statement",
    "med_request",
    "mri_order",
    "order",
    "procedure",
    "resource",
}


def build() -> None:
    import yaml

    OUT.mkdir(parents=True, exist_ok=True)
    for p in OUT.glob("*.json"):
        p.unlink()
    codes = _codes()
    for path in sorted(SCENARIOS.glob("[0-9]*.yaml")):
        sc = yaml.safe_load(path.read_text(encoding="utf-8"))
        expected_name = f"{sc['vignette']:02d}-{sc['slug']}.yaml"
        assert path.name == expected_name, f"{path.name}: file name must be {expected_name}"
        k = Case(
            sc["vignette"], sc["slug"], sc["patient"]["age"], sc["patient"]["sex"], sc["title"]
        )
        for step in sc["steps"]:
            ((method, args),) = step.items()
            if method not in STEPS:
                raise ValueError(f"{path.name}: unknown step {method!r} (one of {sorted(STEPS)})")
            if method == "resource":  # the step is the resource itself
                k.resource(_decode(args, codes, durations=False))
            else:
                getattr(k, method)(**_decode(args or {}, codes))
        k.write(**_decode(sc["expected"], codes))


# --- coding examples: one bundle per (concept, code system) of the value sets -----------------

SHORT = {SCT: "sct", ICD: "icd10cm", LOINC: "loinc", RX: "rxnorm", CPT: "cpt", FIND: "findings"}
SYSTEM_NAMES = {
    SCT: "SNOMED CT",
    ICD: "ICD-10-CM",
    LOINC: "LOINC",
    RX: "RxNorm",
    CPT: "CPT",
    FIND: "the project findings CodeSystem",
}
#: Code families (regex filters) list no code; a real member of the family stands in for them.
FAMILY_SAMPLES = {
    ("malignancy", ICD): (
        "C50.911",
        "Malignant neoplasm of unspecified site of right female breast",
    ),
    ("lumbar_fracture", ICD): (
        "S32.009A",
        "Unspecified fracture of unspecified lumbar vertebra, initial encounter for closed fracture",
    ),
}
#: Procedure codes: carried as a completed Procedure, not a Condition.
PROCEDURES = {(SCT, "239542002"), (SCT, "429377005")}
#: The listed code shown for a pair when the first one is not the best showcase.
REPRESENTATIVE = {("prior_lumbar_surgery", SCT): "429377005"}  # laminectomy, as a Procedure
MEASURE_CATEGORY = {
    "pain_score": "survey",
    "weekly_running_distance": "social-history",
    "running_load_change": "social-history",
}
CODING_CASES: list[tuple[str, dict, str, str, str]] = []


@dataclass
class Spec:
    """How one concept is shown: the patient, what else is on record, and what must follow."""

    age: int
    sex: str
    why: str
    expect: dict
    context: Callable[[Case], None] | None = None
    #: Days since onset (Condition), since start (medication) or since it was done (Procedure).
    onset: float | None = 10
    #: The measured value, in the concept's canonical unit (measures only).
    value: float | None = None
    cond: dict = field(default_factory=dict)


def out(
    *, urgency=None, imaging=None, categories=(), red_flag=None, absent=(), rating=None
) -> dict:
    exp: dict = {}
    if urgency is not None:
        exp["urgency"] = urgency
        exp["self_care"] = urgency == "self_care"
    if imaging is not None:
        exp["imaging"] = imaging
    if categories:
        exp["categories"] = list(categories)
    if absent:
        exp["absent_categories"] = list(absent)
    if red_flag is not None:
        exp["red_flag"] = red_flag
        if red_flag:
            exp["self_care"] = False
    if rating:
        exp["rating"] = rating
    return exp


def ctx(*steps: Callable[[Case], None]) -> Callable[[Case], None]:
    def run(k: Case) -> None:
        for step in steps:
            step(k)

    return run


def lbp(n: float) -> Callable[[Case], None]:
    return lambda k: k.cond("lbp", LBP, days(n))


def sciatica(n: float) -> Callable[[Case], None]:
    return lambda k: k.cond("sciatica", [SCIATICA, SCI_ICD["left"]], days(n))


def yes(code: str) -> Callable[[Case], None]:
    return lambda k: k.finding(code, True)


def fever_c(v: float) -> Callable[[Case], None]:
    return lambda k: k.temp(v)


def load(pct: float) -> Callable[[Case], None]:
    return lambda k: k.obs(
        "running-load-change", f("running-load-change"), (pct, "%", "%"), category="social-history"
    )


EXP_CES = out(urgency="emergency", imaging="urgent_mri", categories=["cauda_equina"], red_flag=True)
EXP_RADICULAR = out(categories=["disc_radiculopathy"], red_flag=False, absent=["cauda_equina"])
EXP_SELF_CARE = out(
    urgency="self_care", imaging="none", categories=["muscle_strain"], red_flag=False
)
EXP_SACRAL_SF = out(urgency="routine", imaging="mri", categories=["stress_fracture"], red_flag=True)
EXP_PARS = out(urgency="routine", imaging="xray", categories=["stress_fracture"], red_flag=True)
EXP_STENOSIS = out(categories=["spinal_stenosis"], red_flag=False, absent=["cauda_equina"])
EXP_HISTORY_CANCER = out(urgency="urgent", imaging="mri", categories=["malignancy"], red_flag=True)
EXP_WEIGHT_LOSS_MRI = out(
    urgency="routine", imaging="mri", categories=["malignancy"], red_flag=True
)
EXP_FRAGILITY = out(urgency="routine", imaging="xray", categories=["fracture"], red_flag=True)
EXP_KNOWN_FRACTURE = out(urgency="routine", imaging="none", categories=["fracture"], red_flag=True)
EXP_ORDER = out(rating="not-appropriate", red_flag=False)

SPECS: dict[str, Spec] = {
    "absent_pedal_pulses": Spec(
        58,
        "male",
        "absent pulses with a positional (sitting and flexion) pattern: consider vascular claudication (NASS DLSS differential, brief 1.7)",
        out(categories=["alternative_diagnosis"], red_flag=False),
        ctx(yes("pain-relieved-sitting"), yes("pain-relieved-flexion")),
    ),
    "amenorrhea": Spec(
        22,
        "female",
        "sacral tenderness with amenorrhoea in a runner: possible sacral stress fracture, MRI (brief 1.9 SACRAL)",
        EXP_SACRAL_SF,
        ctx(lbp(14), yes("sacral-tenderness")),
        onset=180,
        cond={"category": "problem-list-item"},
    ),
    "ankylosing_spondylitis": Spec(
        31,
        "male",
        "spondyloarthritis on record: an inflammatory alternative diagnosis (NICE-1.1.1, ACP11-T2)",
        out(categories=["alternative_diagnosis"], red_flag=False),
        lbp(20),
        onset=3 * 365,
        cond={"category": "problem-list-item"},
    ),
    "back_strain": Spec(
        35,
        "male",
        "acute back strain without red flags: self-care (NICE-1.1.3, ACR-V1)",
        EXP_SELF_CARE,
        onset=5,
    ),
    "bmi": Spec(
        20,
        "female",
        "sacral tenderness with BMI 17.6 (< 18.5) in a runner: possible sacral stress fracture (brief 1.9 SACRAL)",
        EXP_SACRAL_SF,
        ctx(lbp(21), yes("sacral-tenderness")),
        value=17.6,
    ),
    "body_temperature": Spec(
        45,
        "male",
        "38.6 Cel (>= 38.0) with back pain: same-day assessment for infection (brief 1.10, CKS-RF)",
        out(urgency="urgent", categories=["infection"], red_flag=True),
        lbp(4),
        value=38.6,
    ),
    "body_weight": Spec(
        64,
        "male",
        "80 -> 74 kg (7.5 %) over 4 months with back pain: unexplained weight loss, MRI (ACR-V7, brief 2.2)",
        EXP_WEIGHT_LOSS_MRI,
        ctx(
            lbp(30),
            lambda k: k.obs(
                "body-weight-earlier",
                WEIGHT,
                (80.0, "kg", "kg"),
                category="vital-signs",
                when=days(120),
            ),
        ),
        value=74.0,
    ),
    "cauda_equina_syndrome": Spec(
        48,
        "female",
        "cauda equina syndrome on record: emergency MRI (ACR-V4, brief 1.6)",
        EXP_CES,
        onset=1,
    ),
    "claudication_relieved_standing": Spec(
        66,
        "male",
        "leg pain on walking eased by standing still: vascular claudication (brief 1.7, #15)",
        out(categories=["alternative_diagnosis"], red_flag=False, absent=["spinal_stenosis"]),
    ),
    "contusion_abrasion": Spec(
        35,
        "male",
        "bruising over the spine with back pain: fracture flag, same-day CT (DOWNIE 62 %, CKS-RF)",
        out(urgency="urgent", imaging="ct", categories=["fracture"], red_flag=True),
        lbp(1),
    ),
    "crossed_slr_positive": Spec(
        38,
        "male",
        "crossed SLR positive: radicular pain, conservative care (brief 1.8)",
        EXP_RADICULAR,
        lbp(10),
    ),
    "disc_herniation": Spec(
        42,
        "male",
        "lumbar disc herniation: radicular pain, conservative care (ACR-V1, ACP07-R4)",
        EXP_RADICULAR,
        onset=14,
    ),
    "extension_pain": Spec(
        14,
        "female",
        "one week of extension pain at 14: watch for spondylolysis, no imaging yet (#33, ACR-PEDS-V1)",
        out(
            urgency="self_care",
            imaging="none",
            categories=["muscle_strain"],
            red_flag=False,
            absent=["stress_fracture"],
        ),
        lbp(7),
    ),
    "fecal_incontinence": Spec(
        50,
        "female",
        "new faecal incontinence with back pain: cauda equina red flag (brief 1.6, ACP11-T2)",
        EXP_CES,
        lbp(5),
        onset=1,
    ),
    "fever": Spec(
        40,
        "male",
        "fever with back pain: same-day assessment for infection (brief 1.10, CKS-RF)",
        out(urgency="urgent", categories=["infection"], red_flag=True),
        lbp(4),
        onset=2,
    ),
    "foot_drop": Spec(
        38,
        "male",
        "new foot drop: urgent MRI, same-day assessment (ACP07-R3, brief 1.10)",
        out(urgency="urgent", imaging="urgent_mri", categories=["neuro_deficit"], red_flag=True),
        lbp(10),
        onset=2,
    ),
    "gabapentinoid": Spec(
        46,
        "female",
        "gabapentinoid with sciatica: not recommended (NICE 2020 sciatica update)",
        out(categories=["disc_radiculopathy", "medication_safety"], red_flag=False),
        sciatica(30),
        onset=20,
    ),
    "hop_test_positive": Spec(
        24,
        "female",
        "painful single-leg hop after a 40 % mileage jump: possible sacral stress fracture (brief 1.9)",
        EXP_SACRAL_SF,
        ctx(lbp(14), load(40)),
    ),
    "imaging_ct_lumbar": Spec(
        35,
        "male",
        "draft lumbar CT for 5 days of uncomplicated back pain: not appropriate (ACR-V1, CW, QS155)",
        EXP_ORDER,
        lbp(5),
    ),
    "imaging_mri_lumbar": Spec(
        35,
        "male",
        "draft lumbar MRI for 5 days of uncomplicated back pain: not appropriate (ACR-V1, CW, QS155)",
        EXP_ORDER,
        lbp(5),
    ),
    "imaging_xray_lumbar": Spec(
        35,
        "male",
        "draft lumbar X-ray for 5 days of uncomplicated back pain: not appropriate (ACR-V1, CW, QS155)",
        EXP_ORDER,
        lbp(5),
    ),
    "immunosuppression": Spec(
        52,
        "female",
        "back pain in an immunosuppressed patient, no fever: same/next-day assessment, MRI usually "
        "appropriate (ACR-V7; often afebrile)",
        out(urgency="urgent", imaging="mri", categories=["infection"], red_flag=True),
        lbp(14),
        onset=2 * 365,
        cond={"category": "problem-list-item"},
    ),
    "intervention_candidate": Spec(
        44,
        "male",
        "sciatica for 8 weeks in an intervention candidate: MRI (ACR-V3, ACP07-R4)",
        out(urgency="routine", imaging="mri", categories=["disc_radiculopathy"], red_flag=False),
        sciatica(56),
    ),
    "back_pain_other": Spec(
        47,
        "female",
        "backache or dorsalgia with new urinary retention: cauda equina emergency (brief 1.6; a red flag "
        "never depends on the back pain being coded as low back pain)",
        EXP_CES,
        lambda k: k.cond("retention", RETENTION, days(1)),
        onset=6,
    ),
    "skin_cancer_nonmelanoma": Spec(
        45,
        "female",
        "mechanical back pain with an excised non-melanoma skin cancer: a weak flag only, routine "
        "review, not the cancer-history red flag (DOWNIE)",
        out(
            urgency="routine",
            imaging="none",
            categories=["muscle_strain"],
            red_flag=False,
            absent=["malignancy"],
        ),
        lbp(12),
        onset=4 * 365,
        cond={"category": "problem-list-item"},
    ),
    "iv_drug_use": Spec(
        30,
        "male",
        "fever 38.4 Cel with IV drug use and back pain: possible spinal infection, urgent MRI (ACP11-T2, #28)",
        out(urgency="urgent", imaging="urgent_mri", categories=["infection"], red_flag=True),
        ctx(lbp(5), fever_c(38.4)),
        onset=2 * 365,
        cond={"category": "problem-list-item"},
    ),
    "leg_numbness": Spec(
        39,
        "female",
        "leg numbness with back pain: radicular pattern (brief 1.8)",
        EXP_RADICULAR,
        lbp(12),
        onset=8,
    ),
    "leg_weakness": Spec(
        43,
        "male",
        "leg weakness, not recorded as progressive: examine and review, red flag (ACP07-R3)",
        out(urgency="routine", categories=["neuro_deficit"], red_flag=True),
        lbp(12),
        onset=3,
    ),
    "long_term_steroid_use": Spec(
        58,
        "female",
        "long-term systemic steroids with back pain: possible vertebral fracture, X-ray (DOWNIE, ACR-V6, #18)",
        EXP_FRAGILITY,
        lbp(7),
        onset=365,
        cond={"category": "problem-list-item"},
    ),
    "low_back_pain": Spec(
        35,
        "male",
        "acute low back pain without red flags: self-care (NICE-1.1.3, ACR-V1)",
        EXP_SELF_CARE,
        onset=5,
    ),
    "lumbar_fracture": Spec(
        33,
        "male",
        "a current lumbar fracture on record: fracture red flag, no running until cleared (CKS-RF)",
        EXP_KNOWN_FRACTURE,
        onset=20,
    ),
    "lumbar_radiculopathy": Spec(
        41,
        "female",
        "lumbar radiculopathy: conservative care (ACR-V1, ACP07-R4)",
        EXP_RADICULAR,
        onset=14,
    ),
    "lumbar_stenosis": Spec(
        62,
        "female",
        "lumbar spinal stenosis on record: conservative care, no imaging (ACP07-R4, ACR-V2)",
        EXP_STENOSIS,
        onset=200,
    ),
    "major_trauma": Spec(
        29,
        "male",
        "back pain after major trauma: emergency trauma pathway and CT (DOWNIE, CKS-RF, #40)",
        out(urgency="emergency", imaging="ct", categories=["fracture"], red_flag=True),
        lbp(0.1),
    ),
    "malignancy": Spec(
        57,
        "female",
        "back pain with a cancer diagnosis: urgent review, MRI (DOWNIE 33 %, ACR-V7, #23)",
        EXP_HISTORY_CANCER,
        lbp(21),
        onset=2 * 365,
        cond={"category": "problem-list-item"},
    ),
    "malignancy_history": Spec(
        61,
        "male",
        "back pain with a history of cancer: urgent review, MRI (DOWNIE 33 %, ACR-V7, brief 2.5)",
        EXP_HISTORY_CANCER,
        lbp(21),
        onset=None,
        cond={"category": "problem-list-item"},
    ),
    "minor_trauma": Spec(
        81,
        "female",
        "back pain after minor trauma at 81 F (> 75): same-day review and X-ray (ACR-V6, ACP11-T2, #20)",
        out(urgency="urgent", imaging="xray", categories=["fracture"], red_flag=True),
        lbp(2),
    ),
    "morning_stiffness": Spec(
        29,
        "male",
        "morning stiffness with chronic back pain: consider axial spondyloarthritis (NICE-1.1.1, ACP11-T2)",
        out(categories=["alternative_diagnosis"], red_flag=False),
        lbp(100),
    ),
    "muscle_spasm": Spec(
        35,
        "male",
        "back muscle spasm without red flags: self-care (NICE-1.1.3, #1)",
        EXP_SELF_CARE,
        onset=5,
    ),
    "neuro_deficit": Spec(
        47,
        "male",
        "a neurological deficit on record: examine and review, red flag (ACP07-R3)",
        out(urgency="routine", categories=["neuro_deficit"], red_flag=True),
        onset=3,
    ),
    "neurogenic_claudication": Spec(
        64,
        "female",
        "neurogenic claudication: stenosis pattern, conservative care (SURI, ACP07-R4)",
        EXP_STENOSIS,
        onset=150,
    ),
    "night_pain": Spec(
        58,
        "male",
        "night pain at 58 (> 50): two weak cancer flags together, X-ray with ESR (ACP11-T2, CKS-RF)",
        out(urgency="routine", imaging="xray", categories=["malignancy"], red_flag=True),
        lbp(14),
    ),
    "nsaid": Spec(
        35,
        "male",
        "an NSAID with back pain: safe-use message beside self-care (NICE NSAID recs, #1, #43)",
        out(
            urgency="self_care",
            imaging="none",
            categories=["muscle_strain", "medication_safety"],
            red_flag=False,
        ),
        lbp(5),
        onset=4,
    ),
    "osteoporosis": Spec(
        62,
        "female",
        "back pain with osteoporosis: possible vertebral fracture, X-ray (ACR-V6, CKS-RF)",
        EXP_FRAGILITY,
        lbp(10),
        onset=5 * 365,
        cond={"category": "problem-list-item"},
    ),
    "pain_relieved_flexion": Spec(
        63,
        "female",
        "leg pain eased by bending forward at 63 (>= 60): stenosis pattern (SURI LR 6.4)",
        EXP_STENOSIS,
        sciatica(90),
    ),
    "pain_relieved_sitting": Spec(
        57,
        "male",
        "leg pain eased by sitting and by bending forward: stenosis pattern (SURI LR 7.4, 6.4)",
        EXP_STENOSIS,
        yes("pain-relieved-flexion"),
    ),
    "pain_score": Spec(
        37,
        "male",
        "NRS 8 with a mechanical pattern: analgesia review, not a red flag (#41, NICE-1.1.4)",
        out(urgency="routine", imaging="none", categories=["muscle_strain"], red_flag=False),
        lbp(6),
        value=8,
    ),
    "prior_lumbar_surgery": Spec(
        50,
        "female",
        "new back pain after lumbar surgery: spine team review, MRI (ACR-V5, #39)",
        out(urgency="routine", imaging="mri", categories=["disc_radiculopathy"], red_flag=False),
        lbp(10),
        onset=3 * 365,
        cond={"category": "problem-list-item"},
    ),
    "progressive_neuro_deficit": Spec(
        40,
        "male",
        "a progressive neurological deficit: urgent MRI (ACP07-R3, ACP11-T2)",
        out(urgency="urgent", imaging="urgent_mri", categories=["neuro_deficit"], red_flag=True),
        lbp(10),
    ),
    "recent_infection": Spec(
        55,
        "female",
        "fever 38.3 Cel with a recent bacterial infection and back pain: urgent MRI (ACP11-T2, brief 1.10)",
        out(urgency="urgent", imaging="urgent_mri", categories=["infection"], red_flag=True),
        ctx(lbp(6), fever_c(38.3)),
    ),
    "running_load_change": Spec(
        27,
        "female",
        "sacral tenderness after a 40 % mileage jump: possible sacral stress fracture (brief 1.9)",
        EXP_SACRAL_SF,
        ctx(lbp(18), yes("sacral-tenderness")),
        value=40,
    ),
    "sacral_tenderness": Spec(
        25,
        "female",
        "sacral tenderness with a painful single-leg hop: possible sacral stress fracture (brief 1.9)",
        EXP_SACRAL_SF,
        ctx(lbp(18), yes("hop-test-positive")),
    ),
    "saddle_anesthesia": Spec(
        45,
        "male",
        "saddle anaesthesia with back pain: cauda equina red flag (brief 1.6)",
        EXP_CES,
        lbp(3),
    ),
    "sciatica": Spec(
        36,
        "male",
        "sciatica: radicular pain, conservative care (ACR-V1, ACP07-R4, #5)",
        EXP_RADICULAR,
        onset=14,
    ),
    "sexual_dysfunction": Spec(
        42,
        "male",
        "new sexual dysfunction with sciatica: cauda equina red flag (brief 1.6)",
        EXP_CES,
        sciatica(10),
    ),
    "slr_positive": Spec(
        34,
        "female",
        "positive straight-leg raise with back pain: radicular pattern (brief 1.8)",
        EXP_RADICULAR,
        lbp(10),
    ),
    "spinal_infection": Spec(
        60,
        "male",
        "spinal infection on record: same-day assessment, urgent MRI (ACR-V7)",
        out(urgency="urgent", imaging="urgent_mri", categories=["infection"], red_flag=True),
        onset=5,
    ),
    "spondylolisthesis": Spec(
        15,
        "male",
        "spondylolisthesis in an adolescent athlete: pars pathway, X-ray (JFP20, AccessPeds)",
        EXP_PARS,
        lbp(20),
        onset=20,
    ),
    "spondylolysis": Spec(
        16,
        "female",
        "spondylolysis at 16: pars pathway, X-ray (JFP20, AccessPeds; 16-17 overlap, #34)",
        EXP_PARS,
        lbp(20),
        onset=20,
    ),
    "stork_test_positive": Spec(
        15,
        "female",
        "painful stork test with 25 days of back pain at 15: possible pars stress injury (JFP20, #32)",
        EXP_PARS,
        lbp(25),
    ),
    "stress_fracture": Spec(
        22,
        "female",
        "a current stress fracture on record with back pain: no running until cleared (AFP 2011, brief 1.9)",
        out(urgency="routine", imaging="none", categories=["stress_fracture"], red_flag=True),
        ctx(lbp(14)),
        onset=21,
    ),
    "systemic_corticosteroid": Spec(
        61,
        "male",
        "a systemic corticosteroid for 150 days (>= 90) with back pain: possible vertebral fracture, X-ray (DOWNIE, ACR-V6, #18)",
        EXP_FRAGILITY,
        lbp(7),
        onset=150,
    ),
    "urinary_incontinence": Spec(
        52,
        "female",
        "new urinary incontinence with back pain: cauda equina red flag (brief 1.6)",
        EXP_CES,
        lbp(4),
        onset=1,
    ),
    "urinary_retention": Spec(
        44,
        "male",
        "new urinary retention with back pain: cauda equina red flag (brief 1.6, #9)",
        EXP_CES,
        lbp(4),
        onset=1,
    ),
    "vertebral_compression_fracture": Spec(
        72,
        "female",
        "a current vertebral compression fracture on record: fracture red flag (CKS-RF, ACR-V6)",
        EXP_KNOWN_FRACTURE,
        onset=30,
    ),
    "vertebral_tenderness": Spec(
        13,
        "male",
        "vertebral tenderness in a child: paediatric red flag, X-ray (ACR-PEDS-V2)",
        out(urgency="routine", imaging="xray", red_flag=True),
        lbp(10),
    ),
    "weekly_running_distance": Spec(
        32,
        "male",
        "weekly distance 32 -> 48 km (+50 %) with mechanical back pain: load advice, self-care (brief 1.9 LOAD, #58)",
        EXP_SELF_CARE,
        ctx(
            lbp(6),
            lambda k: k.obs(
                "weekly-distance-earlier",
                f("weekly-running-distance"),
                (32, "km", "km"),
                category="social-history",
                when=days(14),
            ),
        ),
        value=48,
    ),
    "weight_loss": Spec(
        59,
        "male",
        "unintentional weight loss with back pain: see soon, MRI (ACR-V7, #27)",
        EXP_WEIGHT_LOSS_MRI,
        lbp(25),
        onset=90,
    ),
    "weight_loss_pct": Spec(
        63,
        "female",
        "a recorded 7.5 % weight loss with back pain: see soon, MRI (ACR-V7, brief 2.2)",
        EXP_WEIGHT_LOSS_MRI,
        lbp(20),
        value=7.5,
    ),
}


def coding_pairs(knowledge) -> dict[tuple[str, str], tuple[str, str]]:
    """(concept, system) -> (code, display) of the code shown for it, from the value sets."""
    root = knowledge_root() / "valuesets"
    displays: dict[tuple[str, str], str] = {}
    families: set[tuple[str, str]] = set()
    for path in sorted(root.glob("*.json")):
        vs = json.loads(path.read_text(encoding="utf-8"))
        concept = vs["id"].replace("-", "_")
        for inc in vs["compose"]["include"]:
            for item in inc.get("concept", []):
                displays[(inc["system"], item["code"])] = item.get("display", item["code"])
            if inc.get("filter"):
                families.add((concept, inc["system"]))
    own = json.loads(
        (knowledge_root() / "codesystems" / "findings.json").read_text(encoding="utf-8")
    )
    for item in own["concept"]:
        displays[(FIND, item["code"])] = item["display"]
    pairs: dict[tuple[str, str], tuple[str, str]] = {}
    for concept, system, code in knowledge.valuesets.codes():
        key = (concept, system)
        if key not in pairs or REPRESENTATIVE.get(key) == code:
            pairs[key] = (code, displays[(system, code)])
    for key in sorted(families - set(pairs)):
        assert key in FAMILY_SAMPLES, f"code family {key} needs a sample code in FAMILY_SAMPLES"
        pairs[key] = FAMILY_SAMPLES[key]
    for key, (code, _) in FAMILY_SAMPLES.items():
        assert any(m.concept == key[0] for m in knowledge.valuesets.lookup(key[1], code)), key
    return pairs


def add_coded(k: Case, concept: str, info, system: str, code: str, display: str, spec: Spec) -> str:
    """The resource carrying the code, as real data would; returns its reference."""
    rid = concept.replace("_", "-")
    coding = [c(system, code, display)]
    if info.kind == "finding" and (system, code) in PROCEDURES:
        k.procedure(rid, coding, days(spec.onset or 365))
        return f"Procedure/{rid}"
    if info.kind == "finding" and system == FIND:
        k.obs(rid, coding, True)
        return f"Observation/{rid}"
    if info.kind == "finding":
        k.cond(rid, coding, None if spec.onset is None else days(spec.onset), **spec.cond)
        return f"Condition/{rid}"
    if info.kind == "measure":
        assert spec.value is not None, concept
        k.obs(
            rid,
            coding,
            (spec.value, info.unit, info.unit),
            category=MEASURE_CATEGORY.get(concept, "vital-signs"),
        )
        return f"Observation/{rid}"
    if info.kind == "med":
        k.med_statement(rid, coding[0], "active", days(spec.onset or 14), dosage="As prescribed")
        return f"MedicationStatement/{rid}"
    assert info.kind == "order", info.kind
    k.order(rid, coding, None, "Low back pain")
    return f"ServiceRequest/{rid}"


def build_coding() -> None:
    from cds_backpain import load_knowledge

    knowledge = load_knowledge()
    concepts = knowledge.valuesets.concepts
    missing = sorted(set(concepts) - set(SPECS))
    assert not missing, f"no coding spec for {missing}"
    assert not set(SPECS) - set(concepts), sorted(set(SPECS) - set(concepts))
    out_dir = OUT / "coding"
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in out_dir.glob("*.json"):
        path.unlink()
    for n, ((concept, system), (code, display)) in enumerate(
        sorted(coding_pairs(knowledge).items())
    ):
        info, spec = concepts[concept], SPECS[concept]
        stem = f"{concept.replace('_', '-')}--{SHORT[system]}"
        label = info.label
        k = Case(
            n,
            stem,
            spec.age,
            spec.sex,
            f"{label} coded in {SYSTEM_NAMES[system]} ({code})",
            tag=f"coding/{stem}",
        )
        if spec.context:
            spec.context(k)
        ref = add_coded(k, concept, info, system, code, display, spec)
        exp: dict = {"title": k.title, "now": NOW_S, "recognised": [concept]}
        exp.update({key: v for key, v in spec.expect.items() if key != "rating"})
        if "rating" in spec.expect:
            exp["ratings"] = {ref: spec.expect["rating"]}
        exp["basis"] = f"{spec.age} {spec.sex[0].upper()}: {spec.why}."
        bundle = {
            "resourceType": "Bundle",
            "id": f"coding-{stem}",
            "type": "collection",
            "timestamp": NOW_S,
            "entry": k.entries,
        }
        (out_dir / f"{stem}.json").write_text(
            json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
        )
        (out_dir / f"{stem}.expected.json").write_text(
            json.dumps(exp, indent=2, ensure_ascii=False) + "\n"
        )
        CODING_CASES.append((stem, exp, ref.split("/")[0], code, display))


# --- README tables --------------------------------------------------------------------------

TABLE_HEAD = "## Examples\n"


def _cell(values) -> str:
    return ", ".join(values) if values else "—"


def write_readme() -> None:
    """Regenerate the examples table of fhir_examples/README.md and the coding README."""
    readme = OUT / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else "# Bundled FHIR examples\n\n"
    head = text.split(TABLE_HEAD, 1)[0]
    rows = [
        "| file | source | situation | urgency | imaging | categories | absent categories | red flag | ratings |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for stem, exp in CASES:
        nn = exp["vignette"]
        source = "extra" if nn >= 50 else f"brief #{nn}"
        ratings = "; ".join(f"{r.split('/')[-1]}: {v}" for r, v in exp.get("ratings", {}).items())
        rows.append(
            f"| `{stem}.json` | {source} | {exp['title']} | {exp['urgency'] or 'null'} | {exp['imaging']} | "
            f"{_cell(exp['categories'])} | {_cell(exp['absent_categories'])} | "
            f"{'yes' if exp['red_flag'] else 'no'} | {ratings} |"
        )
    body = (
        TABLE_HEAD
        + "\n"
        + "(Generated by `scripts/generate_examples.py`; edit the script, not this table.)\n\n"
        + "\n".join(rows)
        + "\n\n"
        + "## Coding examples\n\n"
        + f"`coding/` holds {len(CODING_CASES)} small bundles, one per concept and code system of the value "
        "sets (`<concept>--<system>.json`: `sct`, `icd10cm`, `loinc`, `rxnorm`, `cpt`, `findings` for the "
        "project CodeSystem), each with the concept it must be recognised as and the outcome that follows "
        "(see `coding/README.md`). Run them with `cds-backpain examples --dir fhir_examples/coding`; "
        "`tests/test_code_coverage.py` also checks every single code of every value set.\n"
    )
    readme.write_text(head + body, encoding="utf-8")

    lines = [
        "# Coding examples",
        "",
        "One bundle per (concept, code system) pair of `knowledge/valuesets/` (generated by",
        "`scripts/generate_examples.py`). Each carries the code the way real data would: findings and",
        "disorders as an active, confirmed Condition; findings of the project CodeSystem as an",
        "Observation with `valueBoolean: true`; measures as an Observation in the concept's canonical",
        "unit; medications as an active MedicationStatement; imaging orders as a draft ServiceRequest;",
        "surgical procedures as a completed Procedure. ICD-10-CM code families (regex filters) are shown",
        "with one real member. `expected.json` names the concept in `recognised` and the outcome that",
        "follows for that patient (urgency only where it is the point).",
        "",
        "| file | resource | code | display | expected |",
        "|---|---|---|---|---|",
    ]
    for stem, exp, rt, code, display in CODING_CASES:
        parts = [
            exp.get("urgency") or "",
            exp.get("imaging", "") if exp.get("urgency") else "",
            _cell(exp.get("categories", [])) if exp.get("categories") else "",
            "red flag" if exp.get("red_flag") else "",
        ]
        if exp.get("ratings"):
            parts.append("order " + next(iter(exp["ratings"].values())))
        lines.append(
            f"| `{stem}.json` | {rt} | `{code}` | {display} | {', '.join(p for p in parts if p)} |"
        )
    (OUT / "coding" / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    build()
    build_coding()
    write_readme()
    print(len(CASES), "cases,", len(CODING_CASES), "coding examples")
