# ruff: noqa: E501
"""Generate the bundled examples (reproducible; edit this script, never the generated JSON).

* ``fhir_examples/NN-slug.json`` + ``NN-slug.expected.json``: one clinical situation each, from
  the clinical brief's vignettes (section 3) and extra situations (50 and up).
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


def build() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for p in OUT.glob("*.json"):
        p.unlink()

    # 1 --------------------------------------------------------------------------------
    k = Case(
        1, "mechanical-runner-baseline", 34, "male", "Mechanical LBP after a long run (baseline)"
    )
    k.cond("lbp", MECH_LBP, days(5), text="Paraspinal low back pain after a long run")
    k.cond("spasm", SPASM, days(5))
    k.pain(5)
    k.obs("sciatica-absent", [SCIATICA], "absent", text="No leg pain")
    k.obs("numbness-absent", NUMBNESS, "absent", text="No neurological symptoms")
    k.temp(36.7)
    k.running(42)
    k.med_statement(
        "ibuprofen-otc",
        IBUPROFEN,
        "active",
        days(4),
        text="Ibuprofen 200 mg (OTC)",
        dosage="200-400 mg by mouth up to three times daily as needed",
    )
    k.write(
        urgency="self_care",
        imaging="none",
        categories=["muscle_strain"],
        absent=["disc_radiculopathy", "fracture", "stress_fracture", *SERIOUS],
        red_flag=False,
        self_care=True,
        basis="brief section 3 #1: MECH / SELF / NONE; NICE-1.1.3, NICE-1.1.4, ACP17-R1, ACR-V1, CW.",
    )

    # 2 --------------------------------------------------------------------------------
    k = Case(
        2,
        "mechanical-mri-order-not-indicated",
        28,
        "female",
        "Improving mechanical LBP with an MRI order (image-order alert)",
    )
    k.cond("lbp", MECH_LBP, days(21), note="Improving week on week")
    k.pain(3)
    k.obs("sciatica-absent", [SCIATICA], "absent")
    k.finding("night-pain", False)
    k.temp(36.6)
    k.running(35)
    k.mri_order()
    k.write(
        urgency="self_care",
        imaging="none",
        categories=["muscle_strain"],
        absent=["disc_radiculopathy", "fracture", "stress_fracture", *SERIOUS],
        red_flag=False,
        self_care=True,
        ratings={"ServiceRequest/mri-1": "not-appropriate"},
        basis="brief section 3 #2: MECH / SELF / NONE, flag the MRI order as not indicated; "
        "CW (NASS, AAFP), NICE QS155-2, ACR-V1. The brief says status=active; the order is "
        "recorded as a draft ServiceRequest because only draft orders are rated (order-sign).",
    )

    # 3 --------------------------------------------------------------------------------
    k = Case(3, "mechanical-41-days", 45, "male", "Mechanical LBP at 41 days (just under 6 weeks)")
    k.cond("lbp", MECH_LBP, days(41), note="Not fully resolved")
    k.pain(4)
    k.obs("sciatica-absent", [SCIATICA], "absent", text="No leg symptoms")
    k.obs("numbness-absent", NUMBNESS, "absent")
    k.temp(36.8)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["muscle_strain"],
        absent=["disc_radiculopathy", "fracture", *SERIOUS],
        red_flag=False,
        self_care=False,
        basis="brief section 3 #3: MECH / SEE if not improving (-> routine) / NONE; CW (<6 wk), "
        "ACR-V1/V2. Onset 41 days before now.",
    )

    # 5 --------------------------------------------------------------------------------
    k = Case(
        5, "radicular-no-imaging", 38, "female", "Unilateral L5 radicular pain without imaging"
    )
    k.cond("lbp", LBP, days(21))
    k.cond(
        "sciatica-left",
        [SCIATICA, SCI_ICD["left"]],
        days(21),
        note="Left L5 leg pain below the knee, worse than the back pain",
    )
    k.finding("slr-positive", True, note="Reproduces left leg pain at 40 degrees")
    k.cond(
        "paresthesia",
        PARESTHESIA,
        days(18),
        body_site=[LOWER_LIMB],
        note="L5 dermatomal paraesthesia, left",
    )
    k.obs("weakness-absent", WEAKNESS, "absent")
    k.obs("retention-absent", RETENTION, "absent")
    k.obs("fecal-incontinence-absent", FECAL_INC, "absent")
    k.pain(6)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["disc_radiculopathy"],
        absent=[
            "muscle_strain",
            "cauda_equina",
            "neuro_deficit",
            "fracture",
            "malignancy",
            "infection",
        ],
        red_flag=False,
        self_care=False,
        basis="brief section 3 #5: RAD / SEE (routine) / NONE; ACR-V1, ACP07-R4, NICE-1.1.4, KOES, "
        "SLR-MA.",
    )

    # 6 --------------------------------------------------------------------------------
    k = Case(
        6,
        "radicular-intervention-candidate-mri",
        41,
        "male",
        "Persistent sciatica at 8 weeks, intervention candidate",
    )
    k.cond("lbp", LBP, days(56))
    k.cond(
        "sciatica-right",
        [SCIATICA, SCI_ICD["right"]],
        days(56),
        note="Persistent despite physiotherapy and NSAID",
    )
    k.finding("slr-positive", True)
    k.finding("intervention-candidate", True, note="Wants epidural steroid injection or surgery")
    k.obs("progressive-deficit-absent", f("progressive-neuro-deficit"), False)
    k.med_statement(
        "diclofenac",
        DICLOFENAC,
        "completed",
        days(50),
        days(20),
        dosage="50 mg by mouth three times daily",
    )
    k.pain(6)
    k.mri_order(reason="Persistent right sciatica after 8 weeks; spine referral")
    k.write(
        urgency="routine",
        imaging="mri",
        categories=["disc_radiculopathy"],
        absent=["muscle_strain", "cauda_equina", "neuro_deficit"],
        red_flag=False,
        self_care=False,
        ratings={"ServiceRequest/mri-1": "appropriate"},
        basis="brief section 3 #6: RAD / SEE (specialist) / MRI without contrast; ACR-V3, ACP07-R4, "
        "NICE-1.1.6 (>= 42 days plus intervention candidate). Draft MRI order added to test "
        "the 'appropriate' rating.",
    )

    # 7 --------------------------------------------------------------------------------
    k = Case(
        7, "radicular-not-candidate", 41, "male", "Improving sciatica at 8 weeks, not a candidate"
    )
    k.cond("lbp", LBP, days(56))
    k.cond("sciatica-right", [SCIATICA, SCI_ICD["right"]], days(56), note="Improving")
    k.finding("intervention-candidate", False, note="Not interested in injection or surgery")
    k.pain(3)
    k.mri_order(reason="Sciatica 8 weeks")
    k.write(
        urgency="routine",
        imaging="none",
        categories=["disc_radiculopathy"],
        absent=["muscle_strain", "cauda_equina", "neuro_deficit"],
        red_flag=False,
        self_care=False,
        ratings={"ServiceRequest/mri-1": "not-appropriate"},
        basis="brief section 3 #7: RAD / SEE/SELF (safer reading: routine) / NONE; ACP07-R4 (MRI only "
        "if candidate), ACR-V3 needs candidacy. Draft MRI order added: not appropriate "
        "without candidacy.",
    )

    # 8 --------------------------------------------------------------------------------
    k = Case(
        8, "sciatica-progressive-foot-drop", 36, "male", "Sciatica with new progressive foot drop"
    )
    k.cond("lbp", LBP, days(14))
    k.cond("sciatica-left", [SCIATICA, SCI_ICD["left"]], days(14))
    k.cond("foot-drop-left", FOOT_DROP_L, days(2), text="New left foot drop")
    k.cond(
        "weakness-left-leg",
        WEAKNESS,
        days(2),
        body_site=[LOWER_LIMB],
        note="Left ankle dorsiflexion",
    )
    k.finding(
        "progressive-neuro-deficit", True, note="Left ankle dorsiflexion 4/5 -> 2/5 over 48 hours"
    )
    k.obs("retention-absent", RETENTION, "absent", text="No bladder symptoms")
    k.write(
        urgency="urgent",
        imaging="urgent_mri",
        categories=["disc_radiculopathy", "neuro_deficit"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief section 3 #8: RAD with progressive motor deficit / URGENT / URGENT MRI; ACP07-R3, "
        "ACP11-T2 (progressive motor weakness -> immediate MRI). Overrides the 6-week rule.",
    )

    # 9 --------------------------------------------------------------------------------
    k = Case(9, "cauda-equina-classic", 44, "female", "Classic cauda equina syndrome")
    k.cond("lbp", LBP, days(4))
    k.cond("sciatica-left", [SCIATICA, SCI_ICD["left"]], days(3))
    k.cond("sciatica-right", [SCIATICA, SCI_ICD["right"]], days(3))
    k.cond("urinary-retention", RETENTION, days(1), text="New urinary retention")
    k.finding("saddle-anesthesia", True, note="Saddle numbness")
    k.pain(8)
    k.write(
        urgency="emergency",
        imaging="urgent_mri",
        categories=["cauda_equina"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief section 3 #9: CES / EMERG / URGENT MRI; ACR-V4, BMJBP-CES (MRI <= 4 h), GIRFT, "
        "ACP11-T2, CKS-RF.",
    )

    # 13 -------------------------------------------------------------------------------
    k = Case(13, "stenosis-no-imaging", 68, "male", "Neurogenic claudication, no surgery wanted")
    k.cond("lbp", LBP, days(182))
    k.cond(
        "neurogenic-claudication",
        NEURO_CLAUD,
        days(182),
        note="Buttock and thigh pain on walking, no pain when seated",
    )
    k.finding("pain-relieved-sitting", True)
    k.finding("pain-relieved-flexion", True)
    k.obs("weakness-absent", WEAKNESS, "absent", text="Normal neurology")
    k.obs("numbness-absent", NUMBNESS, "absent")
    k.finding("intervention-candidate", False, note="Not considering surgery")
    k.write(
        urgency="routine",
        imaging="none",
        categories=["spinal_stenosis"],
        absent=["muscle_strain", "cauda_equina", "neuro_deficit"],
        red_flag=False,
        self_care=False,
        basis="brief section 3 #13: STEN / SEE (routine) / NONE; SURI (LR 7.4, 6.4, 6.3), ACP07-R1/R4, "
        "ACR-V2. Age 68 M may add a weak age note (ACP11-T2 >65 men), not a red flag.",
    )

    # 14 -------------------------------------------------------------------------------
    k = Case(
        14,
        "stenosis-surgical-candidate",
        72,
        "female",
        "Neurogenic claudication worsening after PT, surgical candidate",
    )
    k.cond("lbp", LBP, days(274))
    k.cond(
        "neurogenic-claudication",
        NEURO_CLAUD,
        days(274),
        note="Walking tolerance falling despite 3 months of physiotherapy",
    )
    k.finding("pain-relieved-sitting", True)
    k.finding("pain-relieved-flexion", True)
    k.finding("intervention-candidate", True, note="Surgical referral requested")
    k.mri_order(reason="Neurogenic claudication, surgical referral")
    k.write(
        urgency="routine",
        imaging="mri",
        categories=["spinal_stenosis"],
        absent=["muscle_strain", "cauda_equina"],
        red_flag=False,
        self_care=False,
        ratings={"ServiceRequest/mri-1": "appropriate"},
        basis="brief section 3 #14: STEN / SEE (specialist) / MRI without contrast; ACP07-R4, ACR-V3. "
        "Draft MRI order added to test the 'appropriate' rating.",
    )

    # 15 -------------------------------------------------------------------------------
    k = Case(
        15,
        "vascular-claudication-not-stenosis",
        58,
        "male",
        "Vascular claudication, not spinal stenosis",
    )
    k.finding(
        "claudication-relieved-standing",
        True,
        note="Calf pain on walking, relieved by standing still",
    )
    k.finding("absent-pedal-pulses", True)
    k.finding("pain-relieved-sitting", False)
    k.finding("pain-relieved-flexion", False)
    k.obs("lbp-absent", LBP, "absent", text="No back pain")
    k.obs(
        "smoking",
        None,
        "Current every day smoker",
        text="Tobacco smoking status",
        category="social-history",
    )
    k.write(
        urgency="routine",
        imaging="none",
        categories=["alternative_diagnosis"],
        absent=["spinal_stenosis", "muscle_strain", "cauda_equina"],
        red_flag=False,
        self_care=False,
        basis="brief section 3 #15: not stenosis, alternative diagnosis (vascular claudication) / SEE / "
        "NONE (spine); NICE-1.1.1, SURI, NASS DLSS differential. Smoking status is uncoded text.",
    )

    # 16 -------------------------------------------------------------------------------
    k = Case(16, "stenosis-age-59", 59, "female", "Stenosis symptoms at age 59 (age is not a gate)")
    k.cond("lbp", LBP, days(152))
    k.cond(
        "neurogenic-claudication",
        NEURO_CLAUD,
        days(152),
        body_site=[LOWER_LIMB, BILATERAL],
        note="Bilateral leg pain on walking",
    )
    k.finding("pain-relieved-sitting", True, note="No pain when seated")
    k.finding("pain-relieved-flexion", True)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["spinal_stenosis"],
        absent=["muscle_strain", "cauda_equina"],
        red_flag=False,
        self_care=False,
        basis="brief section 3 #16: STEN / SEE / NONE; SURI (age <60 LR 0.4 but symptom LRs dominate). "
        "Bilateral neurogenic claudication is positional, not bilateral radiculopathy: "
        "no CES (brief urgency SEE).",
    )

    # 17 -------------------------------------------------------------------------------
    k = Case(
        17,
        "osteoporotic-vcf-minor-trauma",
        78,
        "female",
        "Suspected osteoporotic vertebral fracture after lifting",
    )
    k.cond(
        "lbp", ACUTE_LBP, days(3), text="Sudden central low back pain after lifting a shopping bag"
    )
    k.cond("minor-trauma", f("minor-trauma"), days(3), text="Lifting a shopping bag")
    k.finding("vertebral-tenderness", True, note="Point tenderness")
    k.cond("osteoporosis", OSTEOPOROSIS, days(5 * 365), category="problem-list-item")
    k.med_statement("alendronate", None, "active", days(4 * 365), text="alendronate 70 mg weekly")
    k.obs("weakness-absent", WEAKNESS, "absent", text="No neurology")
    k.pain(7)
    k.write(
        urgency="urgent",
        imaging="xray",
        categories=["fracture"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief section 3 #17 (lead: minor trauma + osteoporosis is the ACR-V6/CKS fracture pathway, taken as urgent same-day like #20; X-ray first): FX / SEE promptly (same/next day; SEE -> routine, the URGENT column "
        "is kept for #20) / XR lumbar; ACR-V6, CKS-RF (minor trauma + osteoporosis), DOWNIE. "
        "Alendronate is uncoded text (no RxNorm code in the brief).",
    )

    # 18 -------------------------------------------------------------------------------
    k = Case(18, "long-term-prednisone", 62, "male", "New LBP on long-term prednisone")
    k.cond("lbp", LBP, days(7))
    k.med_statement(
        "prednisone",
        PREDNISONE,
        "active",
        days(243),
        text="prednisone 10 mg daily",
        dosage="10 mg by mouth once daily",
        reason="COPD",
    )
    k.finding("major-trauma", False)
    k.finding("minor-trauma", False)
    k.obs("weakness-absent", WEAKNESS, "absent")
    k.temp(36.9)
    k.write(
        urgency="routine",
        imaging="xray",
        categories=["fracture"],
        absent=["muscle_strain", "cauda_equina"],
        red_flag=True,
        self_care=False,
        basis="brief section 3 #18: FX (steroid) / SEE promptly / XR; DOWNIE (prolonged corticosteroids "
        "33%), ACR-V6, CKS-RF. Prednisone active for 8 months (243 days). Z79.52 left out on "
        "purpose: the brief also lists it under immunosuppression (ACR-V7).",
    )

    # 20 -------------------------------------------------------------------------------
    k = Case(
        20,
        "elderly-fall-standing-height",
        74,
        "male",
        "LBP after a fall from standing height at 74",
    )
    k.cond("lbp", ACUTE_LBP, days(2))
    k.cond("minor-trauma", f("minor-trauma"), days(2), text="Fall from standing height")
    k.finding("vertebral-tenderness", True, note="Spinous process tenderness")
    k.pain(7)
    k.write(
        urgency="urgent",
        imaging="xray",
        categories=["fracture"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief section 3 #20 (lead: X-ray first, the ACR-V6 first-line study; CT if X-ray is negative and suspicion remains): FX (older age + low-velocity trauma) / URGENT (same day) / XR or CT "
        "(safer reading: CT); ACR-V6, ACP11-T2 (men >65), DOWNIE.",
    )

    # 21 -------------------------------------------------------------------------------
    k = Case(
        21,
        "elderly-female-mechanical",
        70,
        "female",
        "Mechanical LBP at 70 F (sex-specific age threshold)",
    )
    k.cond("lbp", MECH_LBP, days(14))
    k.finding("major-trauma", False)
    k.finding("minor-trauma", False)
    k.obs("osteoporosis-absent", OSTEOPOROSIS, "absent")
    k.pain(4)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["muscle_strain"],
        absent=["cauda_equina", "infection", "neuro_deficit"],
        red_flag=False,
        self_care=False,
        basis="brief section 3 #21: MECH with an age-related fracture-risk note / SEE if not improving / "
        "NONE initially; ACP11-T2 (women >75 not met), ACR-V6 'elderly' undefined. The note may "
        "carry category fracture, so fracture is neither required nor excluded.",
    )

    # 23 -------------------------------------------------------------------------------
    k = Case(
        23,
        "cancer-history-remission-night-pain",
        55,
        "female",
        "New LBP with night pain, breast cancer in remission",
    )
    k.cond("lbp", LBP, days(21))
    k.finding("night-pain", True)
    k.cond(
        "breast-cancer",
        MALIGNANCY,
        days(6 * 365),
        text="Breast cancer",
        clinical="remission",
        category="problem-list-item",
        abated=days(4 * 365),
    )
    k.obs("weakness-absent", WEAKNESS, "absent", text="No neurology")
    k.write(
        urgency="urgent",
        imaging="mri",
        categories=["malignancy"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief section 3 #23: MAL / URGENT (clinician same day, imaging within days) / MRI without "
        "and with contrast (safer reading than XR + ESR first); DOWNIE (history of malignancy 33%), "
        "ACR-V7, ACP11-T2, CKS-RF. Remission still counts as history (brief 2.5).",
    )

    # 24 -------------------------------------------------------------------------------
    k = Case(
        24,
        "cancer-history-progressive-weakness",
        55,
        "female",
        "Cancer history with progressive bilateral leg weakness",
    )
    k.cond("lbp", LBP, days(21))
    k.finding("night-pain", True)
    k.cond(
        "breast-cancer",
        MALIGNANCY,
        days(6 * 365),
        text="Breast cancer",
        clinical="remission",
        category="problem-list-item",
        abated=days(4 * 365),
    )
    k.cond(
        "weakness-both-legs",
        WEAKNESS,
        days(4),
        body_site=[LOWER_LIMB, BILATERAL],
        note="Progressive bilateral leg weakness",
    )
    k.finding("progressive-neuro-deficit", True)
    k.write(
        urgency="emergency",
        imaging="urgent_mri",
        categories=["malignancy", "neuro_deficit"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief section 3 #24: MAL with neurological compromise / EMERG / URGENT MRI; ACP07-R3, "
        "ACR-V7, CKS. Bilateral leg weakness may also raise cauda_equina (allowed, not required).",
    )

    # 25 -------------------------------------------------------------------------------
    k = Case(25, "mechanical-age-over-50", 53, "male", "Mechanical LBP at 53 (weak flag only)")
    k.cond("lbp", MECH_LBP, days(14))
    k.obs("weight-loss-absent", WEIGHT_LOSS, "absent")
    k.obs("cancer-history-absent", HX_MALIGNANCY, "absent")
    k.pain(4)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["muscle_strain"],
        absent=["cauda_equina", "infection", "fracture", "neuro_deficit"],
        red_flag=False,
        self_care=False,
        basis="brief section 3 #25: MECH with a weak flag (age >50) / SEE if no improvement by ~4 wk / "
        "NONE now; ACP11-T2 (weaker risk factor -> defer), DOWNIE. NASS CW conflict noted. The "
        "weak flag is not a red flag here.",
    )

    # 27 -------------------------------------------------------------------------------
    k = Case(27, "unintentional-weight-loss", 60, "male", "LBP with unintentional weight loss")
    k.cond("lbp", LBP, days(35))
    k.cond("weight-loss", WEIGHT_LOSS, days(90), text="8 kg unintentional weight loss in 3 months")
    k.obs("weight-1", WEIGHT, (86.0, "kg", "kg"), category="vital-signs", when=days(92))
    k.obs("weight-2", WEIGHT, (82.0, "kg", "kg"), category="vital-signs", when=days(45))
    k.obs("weight-3", WEIGHT, (78.0, "kg", "kg"), category="vital-signs", when=timedelta(hours=2))
    k.obs("weakness-absent", WEAKNESS, "absent", text="No neurology")
    k.obs(
        "smoking",
        None,
        "Current every day smoker",
        text="Tobacco smoking status",
        category="social-history",
    )
    k.write(
        urgency="routine",
        imaging="mri",
        categories=["malignancy"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief section 3 #27: MAL concern / SEE soon (urgent outpatient; SEE -> routine) / MRI "
        "without and with contrast (ACR-V7; safer than XR + ESR first); ACP11-T2, CKS-RF.",
    )

    # 28 -------------------------------------------------------------------------------
    k = Case(
        28, "fever-iv-drug-use", 31, "male", "Severe LBP with fever in a person who injects drugs"
    )
    k.cond("lbp", LBP, days(5), text="Severe low back pain")
    k.temp(38.7)
    k.cond("ivdu", IVDU, days(3 * 365), category="problem-list-item")
    k.pain(9)
    k.write(
        urgency="urgent",
        imaging="urgent_mri",
        categories=["infection"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief section 3 #28 (lead: brief 1.10 and the NHS tiers say infection -> urgent same day; ED only if systemically unwell, which the data cannot show): INF / URGENT / EMERG (safer reading: emergency) / URGENT MRI; "
        "ACP11-T2 (fever + IVDU -> immediate MRI), ACR-V7, CKS-RF.",
    )

    # 32 -------------------------------------------------------------------------------
    k = Case(
        32,
        "adolescent-pars-stress-injury",
        15,
        "male",
        "Adolescent cross-country runner with extension pain",
    )
    k.cond("lbp", LBP, days(30), text="Central low back pain")
    k.finding("extension-pain", True)
    k.finding("stork-test-positive", True)
    k.running(48, 50)
    k.obs("weakness-absent", WEAKNESS, "absent", text="No neurology")
    k.finding("night-pain", False)
    k.write(
        urgency="routine",
        imaging="xray",
        categories=["stress_fracture"],
        absent=["muscle_strain", "cauda_equina"],
        red_flag=True,
        self_care=False,
        basis="brief section 3 #32: SF / SEE promptly (sports medicine), relative rest / XR lumbar "
        "(area of interest) +- MRI (XR first); ACR-PEDS-V2 (duration >4 wk is a red flag), "
        "JFP20, LOAD. Onset 30 days ago so that 'more than 4 weeks' holds.",
    )

    # 33 -------------------------------------------------------------------------------
    k = Case(
        33,
        "early-adolescent-extension-pain",
        14,
        "female",
        "Early adolescent runner/dancer, 1 week of extension pain",
    )
    k.cond("lbp", LBP, days(7))
    k.finding("extension-pain", True)
    k.finding("night-pain", False)
    k.finding("vertebral-tenderness", False)
    k.running(25)
    k.write(
        urgency="self_care",
        imaging="none",
        categories=["muscle_strain"],
        absent=["stress_fracture", "fracture", *SERIOUS],
        red_flag=False,
        self_care=True,
        basis="brief section 3 #33: MECH (watch for SF) / SELF, re-check if >2-3 wk / NONE; "
        "ACR-PEDS-V1, JFP20 (spondylolysis at >3-6 wk).",
    )

    # 34 -------------------------------------------------------------------------------
    k = Case(
        34,
        "age-17-pars-stress-injury",
        17,
        "male",
        "17-year-old runner with extension pain at 6 weeks",
    )
    k.cond("lbp", LBP, days(42))
    k.finding("extension-pain", True, note="Tight hamstrings")
    k.finding("vertebral-tenderness", True, note="Focal L5 tenderness")
    k.obs("weakness-absent", WEAKNESS, "absent", text="No neurology")
    k.running(55)
    k.write(
        urgency="routine",
        imaging="xray",
        categories=["stress_fracture"],
        absent=["muscle_strain", "cauda_equina"],
        red_flag=True,
        self_care=False,
        basis="brief section 3 #34: SF / SEE / XR +- MRI (XR first); JFP20, ACR-PEDS-V2. NG59 applies "
        "at >=16 (conflict); the brief prefers the paediatric/sports pathway at 16-17.",
    )

    # 35 -------------------------------------------------------------------------------
    k = Case(
        35, "age-19-extension-pain", 19, "male", "19-year-old college runner with extension pain"
    )
    k.cond("lbp", LBP, days(21))
    k.finding("extension-pain", True)
    k.finding("vertebral-tenderness", False, note="No bony tenderness")
    k.finding("night-pain", False)
    k.running(60)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["muscle_strain"],
        absent=["stress_fracture", "cauda_equina", "infection", "neuro_deficit"],
        red_flag=False,
        self_care=False,
        basis="brief section 3 #35: MECH (SF differential) / SEE if persists / NONE (adult ACR-V1); "
        "JFP20 (youth only). Age <20 may add a weak age note (CKS), so malignancy is not excluded.",
    )

    # 39 -------------------------------------------------------------------------------
    k = Case(
        39,
        "post-discectomy-radicular",
        40,
        "female",
        "New radicular pain two years after L4/5 discectomy",
    )
    k.cond("lbp", LBP, days(14))
    k.cond("radiculopathy", RADIC, days(14), note="New and progressing radicular pain")
    k.procedure("discectomy", DISCECTOMY, days(730))
    k.write(
        urgency="routine",
        imaging="mri",
        categories=["disc_radiculopathy"],
        absent=["muscle_strain", "cauda_equina"],
        red_flag=False,
        self_care=False,
        basis="brief section 3 #39: RAD (post-surgical) / SEE promptly (spine team) / MRI without and "
        "with contrast; ACR-V5. Prior surgery is a Procedure resource.",
    )

    # 40 -------------------------------------------------------------------------------
    k = Case(
        40, "major-trauma-fall-from-height", 27, "male", "Trail runner after a fall from height"
    )
    k.cond("lbp", ACUTE_LBP, timedelta(hours=3), text="Severe low back pain")
    k.cond(
        "major-trauma", f("major-trauma"), timedelta(hours=3), text="Fall from height on a trail"
    )
    k.finding("contusion-abrasion", True, note="Over the lumbar spine")
    k.pain(9, when=timedelta(hours=1))
    k.write(
        urgency="emergency",
        imaging="ct",
        categories=["fracture"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief section 3 #40: FX (traumatic) / EMERG (ED, trauma pathway) / CT; DOWNIE (severe "
        "trauma 11%, contusion/abrasion 62%), CKS-RF. Imaging detail [UNVERIFIED] (outside ACR LBP).",
    )

    # 41 -------------------------------------------------------------------------------
    k = Case(41, "severe-pain-score-mechanical", 63, "male", "NRS 9/10 with a mechanical pattern")
    k.cond("lbp", MECH_LBP, days(7))
    k.pain(9)
    k.obs("sciatica-absent", [SCIATICA], "absent")
    k.temp(36.8)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["muscle_strain"],
        absent=["cauda_equina", "infection", "fracture", "neuro_deficit"],
        red_flag=False,
        self_care=False,
        basis="brief section 3 #41: MECH / SEE (analgesia), not urgent / NONE; NICE-1.1.4, ACP07-R2/R3 "
        "(severity alone is not a red flag).",
    )

    # 43 -------------------------------------------------------------------------------
    k = Case(
        43, "nsaid-caution-naproxen", 57, "male", "Mechanical LBP on naproxen with reduced eGFR"
    )
    k.cond("lbp", MECH_LBP, days(9))
    k.med_request("naproxen", NAPROXEN, days(8), "500 mg by mouth twice daily with food", 500)
    k.obs(
        "egfr",
        None,
        (52, "mL/min/{1.73_m2}", "mL/min/{1.73_m2}"),
        text="eGFR (example value; uncoded)",
        category="laboratory",
        when=days(30),
    )
    k.write(
        urgency="routine",
        imaging="none",
        categories=["muscle_strain", "medication_safety"],
        absent=["fracture", *SERIOUS],
        red_flag=False,
        self_care=False,
        basis="brief section 3 #43 (lead: the brief conflicts with #25 on age > 50; #25 is the row that tests the weak flag, so 57 M is routine like 53 M): MECH / SELF with an NSAID-caution message / NONE; NICE NSAID recs, "
        "ACP17-R1. eGFR is uncoded text (no LOINC code in the brief), so the caution rests on "
        "the NSAID itself.",
    )

    # 45 -------------------------------------------------------------------------------
    k = Case(45, "chronic-axial-lbp", 49, "male", "Chronic axial LBP at 12 weeks")
    k.cond("lbp", CHRONIC_LBP, days(84))
    k.obs("sciatica-absent", [SCIATICA], "absent")
    k.pain(5)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["muscle_strain"],
        absent=["disc_radiculopathy", "fracture", *SERIOUS],
        red_flag=False,
        self_care=False,
        basis="brief section 3 #45: MECH (chronic) / SEE (exercise, multidisciplinary) / NONE; ACP17-R2, "
        "ACR-V2.",
    )

    # 50 -------------------------------------------------------------------------------
    k = Case(
        50, "negated-red-flags", 40, "female", "Mechanical LBP with documented absent CES features"
    )
    k.cond("lbp", MECH_LBP, days(10))
    k.obs("retention-absent", RETENTION, "absent")
    k.obs("saddle-anesthesia", f("saddle-anesthesia"), False)
    k.pain(4)
    k.write(
        urgency="self_care",
        imaging="none",
        categories=["muscle_strain"],
        absent=["cauda_equina", "neuro_deficit", "infection", "malignancy"],
        red_flag=False,
        self_care=True,
        basis="brief 2.5 negation: urinary retention valued Absent (2667000) and saddle anaesthesia "
        "valueBoolean false are not evidence; mechanical LBP -> NICE-1.1.3, ACR-V1.",
    )

    # 51 -------------------------------------------------------------------------------
    k = Case(51, "refuted-cauda-equina", 45, "male", "Refuted cauda equina diagnosis")
    k.cond("lbp", MECH_LBP, days(14))
    k.cond(
        "ces-refuted",
        CES,
        days(3),
        verification="refuted",
        note="CES suspected in ED; MRI normal, diagnosis refuted",
    )
    k.pain(4)
    k.write(
        urgency="self_care",
        imaging="none",
        categories=["muscle_strain"],
        absent=["cauda_equina"],
        red_flag=False,
        self_care=True,
        basis="brief 2.5: verificationStatus refuted is excluded; mechanical LBP 2 wk at 45 -> "
        "NICE-1.1.3, ACR-V1.",
    )

    # 52 -------------------------------------------------------------------------------
    k = Case(52, "entered-in-error-fever-ivdu", 31, "male", "Fever entered in error, IV drug use")
    k.cond("lbp", MECH_LBP, days(7))
    k.temp(38.9, rid="temperature-error", status="entered-in-error")
    k.temp(36.9, when=timedelta(hours=1))
    k.cond("ivdu", IVDU, days(3 * 365), category="problem-list-item")
    k.pain(4)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["infection"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief 2.5: an entered-in-error Observation is not evidence, so there is no fever and "
        "no urgent fever-with-risk card; but IV drug misuse is an infection red flag on its own "
        "(CKS list, brief 1.5; NASS; epidural abscess is often afebrile), so a routine-soon "
        "infection review with CRP/ESR and a low threshold for MRI, and never self-care beside it "
        "(issue 10; docs/clinical-decisions/red-flags.md).",
    )

    # 53 -------------------------------------------------------------------------------
    k = Case(53, "resolved-osteoporosis", 60, "female", "Resolved osteoporosis at 60 F")
    k.cond("lbp", MECH_LBP, days(14))
    k.cond(
        "osteoporosis",
        OSTEOPOROSIS,
        days(8 * 365),
        clinical="resolved",
        category="problem-list-item",
        abated=days(2 * 365),
    )
    k.pain(4)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["muscle_strain"],
        absent=["fracture"],
        red_flag=False,
        self_care=False,
        basis="brief 2.5: a resolved Condition is not a current problem, so no ACR-V6 fracture flag. "
        "Age 60 is a weak flag (>50; as #25) -> SEE if not improving, routine.",
    )

    # 54 -------------------------------------------------------------------------------
    k = Case(54, "completed-prednisone-course", 45, "male", "Completed 10-day prednisone course")
    k.cond("lbp", MECH_LBP, days(10))
    k.med_statement(
        "prednisone",
        PREDNISONE,
        "completed",
        days(100),
        days(90),
        text="prednisone 40 mg daily for 10 days",
        dosage="40 mg by mouth once daily",
    )
    k.pain(4)
    k.write(
        urgency="self_care",
        imaging="none",
        categories=["muscle_strain"],
        absent=["fracture", "infection"],
        red_flag=False,
        self_care=True,
        basis="brief 2.5 / 1.10: a completed short course is not prolonged steroid use; mechanical LBP "
        "at 45 -> NICE-1.1.3, ACR-V1.",
    )

    # 55 -------------------------------------------------------------------------------
    k = Case(
        55, "bilateral-sciatica-left-right", 39, "male", "Bilateral sciatica coded left and right"
    )
    k.cond("lbp", LBP, days(5))
    k.cond("sciatica-left", [SCIATICA, SCI_ICD["left"]], days(4))
    k.cond("sciatica-right", [SCIATICA, SCI_ICD["right"]], days(4))
    k.obs("retention-absent", RETENTION, "absent")
    k.write(
        urgency="emergency",
        imaging="urgent_mri",
        categories=["cauda_equina"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief 1.6 (GIRFT early red flag: bilateral radiculopathy; bilateral leg pain OR 5.0) and "
        "1.10 (CES: bilateral leg neurology -> emergency; do not wait for white flags); the "
        "vignette notes pick the safety-first option for bilateral radicular pain without "
        "sphincter symptoms. ACR-V4 -> urgent MRI.",
    )

    # 56 -------------------------------------------------------------------------------
    k = Case(
        56,
        "bilateral-sciatica-bodysite",
        39,
        "female",
        "Bilateral sciatica coded once with bodySite",
    )
    k.cond("lbp", LBP, days(5))
    k.cond(
        "sciatica-bilateral", [SCIATICA, SCI_ICD[None]], days(4), body_site=[LOWER_LIMB, BILATERAL]
    )
    k.obs("retention-absent", RETENTION, "absent")
    k.write(
        urgency="emergency",
        imaging="urgent_mri",
        categories=["cauda_equina"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="as #55 (brief 1.6, 1.10, ACR-V4); laterality from bodySite SNOMED 51440002 Right and left.",
    )

    # 57 -------------------------------------------------------------------------------
    k = Case(
        57,
        "sacral-stress-fracture-runner",
        24,
        "female",
        "Sacral stress fracture in a distance runner",
    )
    k.cond("lbp", LBP, days(21), text="Low back and buttock pain")
    k.finding("hop-test-positive", True)
    k.finding("sacral-tenderness", True)
    k.finding("slr-positive", False)
    k.cond("amenorrhea", AMENORRHEA, days(200), category="problem-list-item")
    k.obs("bmi", BMI, (17.8, "kg/m2", "kg/m2"), category="vital-signs")
    k.running(72, 45)
    k.write(
        urgency="routine",
        imaging="mri",
        categories=["stress_fracture"],
        absent=["muscle_strain", "cauda_equina"],
        red_flag=True,
        self_care=False,
        basis="brief 1.9 SACRAL (Fredericson 2003, Harris 2016): hop pain, sacral tenderness, negative "
        "SLR, amenorrhoea, low BMI, recent mileage change; radiographs usually negative, MRI "
        "preferred; ACR-SF. SEE (sports medicine) -> routine; no 'keep running' advice.",
    )

    # 58 -------------------------------------------------------------------------------
    k = Case(58, "mileage-jump-mechanical", 30, "male", "Mileage jump alone with mechanical LBP")
    k.cond("lbp", MECH_LBP, days(6))
    k.running(50, 40)
    k.finding("hop-test-positive", False)
    k.finding("sacral-tenderness", False)
    k.finding("vertebral-tenderness", False)
    k.pain(3)
    k.write(
        urgency="self_care",
        imaging="none",
        categories=["muscle_strain"],
        absent=["stress_fracture", "fracture", *SERIOUS],
        red_flag=False,
        self_care=True,
        basis="brief 1.9 LOAD: a load spike is a general injury-risk association (lower certainty), "
        "not a fracture sign; mechanical LBP -> NICE-1.1.3, ACR-V1; self-care with load advice.",
    )

    # 59 -------------------------------------------------------------------------------
    k = Case(
        59,
        "fever-fahrenheit-immunosuppressed",
        50,
        "female",
        "Fever in degF with immunosuppression",
    )
    k.cond("lbp", LBP, days(6))
    k.obs("temperature", TEMP, (101.8, "degF", "[degF]"), category="vital-signs")
    k.cond("immunosuppressed", IMMUNOSUPPRESSED, days(2 * 365), category="problem-list-item")
    k.pain(7)
    k.write(
        urgency="urgent",
        imaging="urgent_mri",
        categories=["infection"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="(lead: urgent as #28) brief 1.10 infection: fever (101.8 degF = 38.8 Cel, >= 38.0) plus immunosuppression -> "
        "urgent MRI; ACR-V7, CKS-RF; urgency as #28 (URGENT/EMERG, safer reading).",
    )

    # 60 -------------------------------------------------------------------------------
    k = Case(
        60, "weight-loss-serial-weights", 62, "male", "Weight loss derived from serial body weights"
    )
    k.cond("lbp", LBP, days(28))
    k.obs("weight-1", WEIGHT, (82.0, "kg", "kg"), category="vital-signs", when=days(150))
    k.obs("weight-2", WEIGHT, (78.5, "kg", "kg"), category="vital-signs", when=days(75))
    k.obs("weight-3", WEIGHT, (75.0, "kg", "kg"), category="vital-signs", when=timedelta(hours=2))
    k.write(
        urgency="routine",
        imaging="mri",
        categories=["malignancy"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="as #27: 7 kg (8.5 %) loss over 5 months derived from serial 29463-7 (brief 2.2: compare "
        "serial weights over 6-12 months; threshold is policy); ACR-V7, ACP11-T2, CKS-RF.",
    )

    # 61 -------------------------------------------------------------------------------
    k = Case(
        61,
        "mechanical-42-days-mri-order",
        40,
        "male",
        "Exactly 42 days of uncomplicated LBP with an MRI order",
    )
    k.cond("lbp", MECH_LBP, days(42))
    k.obs("sciatica-absent", [SCIATICA], "absent")
    k.pain(4)
    k.mri_order()
    k.write(
        urgency="routine",
        imaging="none",
        categories=["muscle_strain"],
        absent=["disc_radiculopathy", "fracture", *SERIOUS],
        red_flag=False,
        self_care=False,
        ratings={"ServiceRequest/mri-1": "not-appropriate"},
        basis="brief 1.10 / ACR-V2: >= 42 days only unlocks MRI with intervention candidacy (ACR-V3), "
        "none recorded, so imaging is not indicated and the MRI order is not appropriate; "
        "urgency as #3 (SEE if not improving).",
    )

    # 62 -------------------------------------------------------------------------------
    k = Case(62, "child-night-pain", 12, "female", "12-year-old with night pain")
    k.cond("lbp", LBP, days(10))
    k.finding("night-pain", True, note="Pain wakes her at night")
    k.obs("weakness-absent", WEAKNESS, "absent")
    k.write(
        urgency="routine",
        imaging="xray",
        categories=[],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief 1.3 ACR-PEDS-V2: child with >= 1 red flag (night pain) -> radiography of the area "
        "usually appropriate; NG59 does not apply under 16. No category fixed for paediatric "
        "red flags in the vocabulary.",
    )

    # 63 -------------------------------------------------------------------------------
    k = Case(
        63, "malignancy-history-z85", 58, "female", "Malignancy history coded only as ICD Z85.3"
    )
    k.cond("lbp", LBP, days(21))
    k.cond("history-breast-cancer", Z85_3, None, category="problem-list-item")
    k.write(
        urgency="urgent",
        imaging="mri",
        categories=["malignancy"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief 2.1 / 2.5: Z85.* counts as history of malignancy (DOWNIE 33%); as #23 "
        "(ACR-V7, ACP11-T2).",
    )

    # 64 -------------------------------------------------------------------------------
    k = Case(64, "immunosuppression-alone", 45, "female", "Immunosuppression alone with LBP")
    k.cond("lbp", LBP, days(14))
    k.cond("immunosuppressed", IMMUNOSUPPRESSED, days(3 * 365), category="problem-list-item")
    k.temp(36.8)
    k.write(
        urgency="urgent",
        imaging="mri",
        categories=["infection"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief 1.3 ACR-V7 (immunosuppression: MRI usually appropriate) and 1.10 (immunosuppression "
        "-> ACR-V7); immunosuppressed patients often mount no fever, so same- or next-day "
        "assessment even without fever (CKS-RF; issue 10; docs/clinical-decisions/red-flags.md).",
    )

    # 65 -------------------------------------------------------------------------------
    k = Case(65, "nsaid-caution-age-70", 70, "male", "70 M on ibuprofen with mechanical LBP")
    k.cond("lbp", MECH_LBP, days(10))
    k.med_request(
        "ibuprofen", IBUPROFEN, days(9), "400 mg by mouth three times daily with food", 400
    )
    k.finding("major-trauma", False)
    k.finding("minor-trauma", False)
    k.pain(5)
    k.write(
        urgency="routine",
        imaging="xray",
        categories=["fracture", "medication_safety"],
        absent=["cauda_equina", "infection", "neuro_deficit"],
        red_flag=True,
        self_care=False,
        basis="(lead: 70 M is over the male VCF age threshold (> 65, brief 1.10, ACP11-T2/ACR-V6), so the age-related fracture pathway applies, X-ray, as #21 implies when the threshold is met) brief 1.1 NICE NSAID recs (risk factors including age) -> NSAID caution; age 70 M is a weak "
        "flag (>50; ACP11-T2 VCF >65 men) without trauma -> SEE if not improving as #21/#25, NONE.",
    )

    # 66 -------------------------------------------------------------------------------
    k = Case(66, "unrelated-hypertension", 45, "male", "Adult with only a hypertension Condition")
    k.cond("hypertension", HYPERTENSION, days(4 * 365), category="problem-list-item")
    k.write(
        urgency=None,
        imaging="none",
        categories=[],
        absent=[
            "muscle_strain",
            "disc_radiculopathy",
            "spinal_stenosis",
            "fracture",
            "stress_fracture",
            *SERIOUS,
        ],
        red_flag=False,
        self_care=False,
        basis="nothing relevant: no back-pain data, so no conclusions (hypertension code as in the "
        "Synthea data).",
    )

    # 67 -------------------------------------------------------------------------------
    k = Case(
        67, "known-lumbar-fracture", 34, "male", "Runner with a known lumbar fracture, 3 weeks on"
    )
    k.cond("lbp", LBP, days(21), text="Low back pain since a mountain-bike fall")
    k.cond(
        "lumbar-fracture",
        LUMBAR_FRACTURE,
        days(21),
        text="Stable L3 transverse process fractures (CT), fracture clinic follow-up",
        note="Managed conservatively; asks when he can run again",
    )
    k.obs("weakness-absent", WEAKNESS, "absent", text="No neurology")
    k.pain(4)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["fracture"],
        absent=["muscle_strain", "cauda_equina", "stress_fracture"],
        red_flag=True,
        self_care=False,
        basis="brief 1.5 (CKS-RF fracture) and 2.1 (125608002 Fracture of lumbar spine, HIGH): a current "
        "lumbar fracture on record is a fracture red flag; it is already imaged and under fracture "
        "care, so routine review, no new imaging, no running until cleared; never self-care beside it. "
        "The fall three weeks ago is not recorded as a major-trauma finding (not an acute trauma "
        "presentation).",
    )

    # 68 -------------------------------------------------------------------------------
    k = Case(
        68,
        "adult-load-jump-extension-xray-order",
        26,
        "female",
        "Adult marathon runner with extension pain after a mileage jump, X-ray order",
    )
    k.cond("lbp", LBP, days(24), text="Central low back pain, worse when arching back")
    k.finding(
        "extension-pain", True, note="Pain on lumbar extension and on one-leg standing extension"
    )
    k.finding("hop-test-positive", False)
    k.finding("sacral-tenderness", False)
    k.obs("weakness-absent", WEAKNESS, "absent", text="No neurology")
    k.running(64, 45)
    k.order(
        "xray-1",
        XRAY_LUMBAR,
        "X-ray lumbar spine AP and lateral",
        "Extension back pain in a runner",
    )
    k.write(
        urgency="routine",
        imaging="xray",
        categories=["stress_fracture"],
        absent=["muscle_strain", "cauda_equina", "fracture"],
        red_flag=True,
        self_care=False,
        ratings={"ServiceRequest/xray-1": "appropriate"},
        basis="brief 1.9 (AFP 2011: suspect a stress fracture after a recent increase in activity, "
        "radiograph first; LOAD: +45 % weekly distance, above the 30 % jump) with extension-related "
        "pain for over 3 weeks (JFP20 spondylolysis window) in an adult: possible bone stress injury, "
        "stop running, see promptly, lumbar X-ray, so the draft X-ray order is appropriate; no "
        "self-care or keep-running advice beside the flag. Compare #35 (no load jump) and #58 (load "
        "jump without extension pain).",
    )

    # 69 -------------------------------------------------------------------------------
    k = Case(
        69,
        "spinal-contusion-ct-order",
        52,
        "male",
        "Trail runner with bruising over the spine after a fall, CT order",
    )
    k.cond("lbp", ACUTE_LBP, days(1), text="Low back pain after tripping on a trail")
    k.cond(
        "minor-trauma", f("minor-trauma"), days(1), text="Tripped and fell backwards onto a rock"
    )
    k.finding("contusion-abrasion", True, note="Bruise and abrasion over L2-L3")
    k.finding("vertebral-tenderness", True, note="Midline tenderness at L3")
    k.obs("weakness-absent", WEAKNESS, "absent", text="No neurology")
    k.pain(7)
    k.order(
        "ct-1",
        CT_LUMBAR,
        "CT lumbar spine without contrast",
        "Contusion over the lumbar spine after a fall",
    )
    k.write(
        urgency="urgent",
        imaging="ct",
        categories=["fracture"],
        absent=["muscle_strain", "cauda_equina", "infection"],
        red_flag=True,
        self_care=False,
        ratings={"ServiceRequest/ct-1": "appropriate"},
        basis="brief 1.5 DOWNIE: contusion/abrasion is the most informative fracture flag (post-test "
        "probability 62 %); CKS-RF fracture; ACR narrative: suspected lumbar fracture -> CT. Same-day "
        "assessment and CT, so the draft CT order is appropriate. Not major trauma (a trip), and at "
        "52 M no bone-fragility factor, so this is the contusion pathway, not ACR-V6 minor trauma.",
    )

    # 70 -------------------------------------------------------------------------------
    k = Case(
        70,
        "inflammatory-back-pain-features",
        27,
        "male",
        "Young runner with chronic back pain and morning stiffness",
    )
    k.cond("lbp", LBP, days(150), text="Low back and buttock pain for 5 months")
    k.finding(
        "morning-stiffness",
        True,
        note="Stiff for about an hour each morning; eases with running, not with rest",
    )
    k.obs("sciatica-absent", [SCIATICA], "absent")
    k.temp(36.7)
    k.pain(5)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["alternative_diagnosis"],
        absent=[
            "cauda_equina",
            "fracture",
            "stress_fracture",
            "malignancy",
            "infection",
            "neuro_deficit",
        ],
        red_flag=False,
        self_care=False,
        basis="brief 1.1 NICE-1.1.1 (exclude inflammatory disease such as spondyloarthritis) and ACP11-T2 "
        "(signs of ankylosing spondylitis: defer imaging, radiograph after a trial of therapy): "
        "consider axial spondyloarthritis, routine review, no imaging now. Chronic pain, so no "
        "self-care-only plan.",
    )

    # 71 -------------------------------------------------------------------------------
    k = Case(71, "sciatica-on-pregabalin", 46, "female", "Sciatica treated with pregabalin")
    k.cond("lbp", LBP, days(28))
    k.cond(
        "sciatica-left", [SCIATICA, SCI_ICD["left"]], days(28), note="Left leg pain below the knee"
    )
    k.finding("slr-positive", True)
    k.obs("weakness-absent", WEAKNESS, "absent")
    k.obs("retention-absent", RETENTION, "absent")
    k.med_request("pregabalin", PREGABALIN_75, days(14), "75 mg by mouth twice daily", 75)
    k.pain(6)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["disc_radiculopathy", "medication_safety"],
        absent=["muscle_strain", "cauda_equina", "neuro_deficit", "fracture"],
        red_flag=False,
        self_care=False,
        basis="brief 1.1 NICE 2020 sciatica update: do not offer gabapentinoids for sciatica -> a "
        "medication-safety message beside the radicular plan (as #5: RAD / SEE / NONE at 4 weeks, "
        "ACR-V1, ACP07-R4).",
    )

    # 72 -------------------------------------------------------------------------------
    k = Case(
        72,
        "sciatica-oral-prednisolone",
        38,
        "male",
        "Acute sciatica given a short oral prednisolone course",
    )
    k.cond("lbp", LBP, days(10))
    k.cond(
        "sciatica-right", [SCIATICA, SCI_ICD["right"]], days(10), note="Right leg pain to the foot"
    )
    k.obs("weakness-absent", WEAKNESS, "absent")
    k.obs("retention-absent", RETENTION, "absent")
    k.med_request("prednisolone", PREDNISOLONE, days(2), "40 mg by mouth once daily for 5 days", 40)
    k.pain(7)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["disc_radiculopathy", "medication_safety"],
        absent=["cauda_equina", "neuro_deficit", "fracture", "infection"],
        red_flag=False,
        self_care=False,
        basis="brief 1.1 NICE 2020 sciatica update: oral corticosteroids are not recommended for sciatica "
        "-> medication-safety message; a 2-day exposure is not prolonged steroid use (brief 1.10, "
        "2.5), so no fracture flag. Radicular plan as #5 (RAD / SEE / NONE). NRS 7 may add the "
        "severe-pain analgesia review (NICE-1.1.4), so muscle_strain is neither required nor excluded; "
        "no self-care-only plan beside radicular pain.",
    )

    # 73 -------------------------------------------------------------------------------
    k = Case(
        73,
        "known-sacral-stress-fracture",
        23,
        "female",
        "Distance runner with a sacral stress fracture on record",
    )
    k.cond("lbp", LBP, days(25), text="Low back and left buttock pain")
    k.cond(
        "stress-fracture",
        STRESS_FRACTURE,
        days(20),
        text="Stress fracture of the left sacral ala (MRI)",
        note="Walking pain-free; asks about running",
    )
    k.obs("weakness-absent", WEAKNESS, "absent")
    k.running(0)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["stress_fracture"],
        absent=["muscle_strain", "cauda_equina", "fracture"],
        red_flag=True,
        self_care=False,
        basis="brief 1.9 SACRAL (Fredericson 2003, Harris 2016: return to running at about 12-14 weeks) "
        "and AFP 2011: a diagnosed stress fracture means no running until cleared and a sports-"
        "medicine return-to-run plan; already imaged (MRI), so no new imaging. Never 'keep "
        "running' beside it.",
    )

    # 74 -------------------------------------------------------------------------------
    k = Case(
        74,
        "long-standing-stable-incontinence",
        66,
        "female",
        "Mechanical LBP in a woman with stress urinary incontinence known for 3 years",
    )
    k.cond("lbp", MECH_LBP, days(10))
    k.cond(
        "incontinence",
        [c(SCT, "165232002", "Urinary incontinence (finding)")],
        days(3 * 365),
        text="Stress urinary incontinence, stable, pelvic floor physiotherapy",
    )
    k.finding("saddle-anesthesia", False)
    k.obs("retention-absent", RETENTION, "absent")
    k.pain(4)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["muscle_strain"],
        absent=["cauda_equina", "infection", "fracture", "neuro_deficit"],
        red_flag=False,
        self_care=False,
        basis="brief 1.6 (BMJ BP: CES when bladder or bowel disturbance is of recent onset or worsening): "
        "a dated, long-standing, stable incontinence (3 years) is not a CES red flag "
        "(ces_recent_onset_days, 90 d); no saddle numbness, no retention. Routine because of the "
        "age > 50 weak flag, as #25. An undated incontinence would still raise the CES card.",
    )

    # --- issue 10: red flags in the shapes and at the times real EHR data has them ----------
    BACKACHE = [c(SCT, "161891005", "Backache (finding)")]
    DORSALGIA = [c(ICD, "M54.9", "Dorsalgia, unspecified")]
    STENOSIS = [c(SCT, "18347007", "Spinal stenosis of lumbar region (disorder)")]
    NMSC_HX = [c(ICD, "Z85.828", "Personal history of other malignant neoplasm of skin")]
    CT_CPT = [c(CPT, "72131", "Computed tomography, lumbar spine; without contrast material")]
    CONTEXT = "docs/clinical-decisions/red-flags.md"

    # 75 -------------------------------------------------------------------------------
    k = Case(
        75,
        "backache-urinary-retention",
        48,
        "female",
        "Backache (not coded as LBP) with new urinary retention",
    )
    k.cond("backache", BACKACHE, days(6), text="Backache")
    k.cond("retention", RETENTION, days(1), text="Unable to pass urine since yesterday")
    k.write(
        urgency="emergency",
        imaging="urgent_mri",
        categories=["cauda_equina"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief 1.6/1.10 (new urinary retention with back pain -> CES emergency) and 2.1 "
        "(Backache 161891005 is a back-pain code of the brief): a red flag never depends on the "
        f"back pain being coded as low back pain (issue 10 section 1; {CONTEXT}).",
    )

    # 76 -------------------------------------------------------------------------------
    k = Case(
        76,
        "fever-three-years-ago",
        34,
        "male",
        "Mechanical LBP; the only fever is a reading from 3 years ago",
    )
    k.cond("lbp", MECH_LBP, days(5))
    k.temp(38.9, rid="temperature-2023", when=days(3 * 365))
    k.temp(36.7, when=timedelta(hours=1))
    k.pain(4)
    k.write(
        urgency="self_care",
        imaging="none",
        categories=["muscle_strain"],
        absent=["infection"],
        red_flag=False,
        self_care=True,
        basis="brief 1.10 (fever with back pain -> infection pathway) applies to a current fever: a "
        "reading from three years ago is history (fever_recent_days, 14 d), and today's "
        f"temperature is normal. Baseline self-care as #1 ({CONTEXT}).",
    )

    # 77 -------------------------------------------------------------------------------
    k = Case(
        77,
        "major-trauma-five-years-ago",
        41,
        "male",
        "Mechanical LBP; major trauma (car crash) 5 years ago",
    )
    k.cond("lbp", MECH_LBP, days(8))
    k.cond("major-trauma", f("major-trauma"), days(5 * 365), text="Road traffic collision, 2021")
    k.pain(4)
    k.write(
        urgency="self_care",
        imaging="none",
        categories=["muscle_strain"],
        absent=["fracture"],
        red_flag=False,
        self_care=True,
        basis="brief 1.5 CKS-RF (sudden pain after major trauma) and 1.10 (trauma -> trauma pathway): a "
        "trauma five years before a new mechanical back pain is history, not a fracture flag "
        f"(trauma_recent_days, 28 d; {CONTEXT}).",
    )

    # 78 -------------------------------------------------------------------------------
    k = Case(
        78,
        "old-stable-foot-drop",
        58,
        "male",
        "Mechanical LBP; left foot drop known and stable for 4 years",
    )
    k.cond("lbp", MECH_LBP, days(10))
    k.cond(
        "foot-drop",
        FOOT_DROP_L,
        days(4 * 365),
        text="Left foot drop after peroneal nerve injury, stable",
    )
    k.pain(4)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["neuro_deficit"],
        absent=["cauda_equina", "muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief 1.10 ('new foot drop -> urgent same-day') and ACP07-R3 (progressive deficit -> "
        "immediate MRI): a dated, 4-year-old stable foot drop is neither new nor progressive "
        "(neuro_deficit_recent_days, 90 d), so routine neurological review, not urgent MRI; "
        f"self-care is still withheld beside the deficit ({CONTEXT}).",
    )

    # 79 -------------------------------------------------------------------------------
    k = Case(
        79,
        "long-standing-bilateral-stenosis",
        71,
        "female",
        "Known lumbar stenosis with bilateral leg symptoms for 2 years",
    )
    k.cond("lbp", CHRONIC_LBP, days(3 * 365))
    k.cond("stenosis", STENOSIS, days(2 * 365), category="problem-list-item")
    k.cond("claudication", NEURO_CLAUD, days(2 * 365), category="problem-list-item")
    k.cond("sciatica-left", [SCIATICA, SCI_ICD["left"]], days(2 * 365))
    k.cond("sciatica-right", [SCIATICA, SCI_ICD["right"]], days(2 * 365))
    k.obs("retention-absent", RETENTION, "absent")
    k.finding("saddle-anesthesia", False)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["spinal_stenosis"],
        absent=["cauda_equina"],
        red_flag=False,
        self_care=False,
        basis="brief 1.6 (BMJ BP: CES when symptoms are of recent onset or worsening) and 1.7 (stenosis "
        "-> conservative care, no imaging without surgical candidacy): both sides dated and "
        "long-standing with known stenosis is not the bilateral-radicular CES warning "
        f"(ces_recent_onset_days, 90 d; {CONTEXT}).",
    )

    # 80 -------------------------------------------------------------------------------
    k = Case(
        80,
        "foot-drop-recorded-no-onset",
        36,
        "male",
        "Sciatica and a foot drop entry with no onset date",
    )
    k.cond("sciatica", [SCIATICA, SCI_ICD["left"]], days(10))
    k.cond("foot-drop", FOOT_DROP_L, None, category="problem-list-item", text="Left foot drop")
    k.write(
        urgency="urgent",
        imaging="urgent_mri",
        categories=["neuro_deficit"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief 1.10 (new foot drop -> urgent): the entry has a recordedDate but no onset, and "
        "recordedDate says when it was recorded, not when it began, so the finding is undated; "
        "an undated foot drop is read the safe way (possibly new) and the card asks whether it "
        f"is new ({CONTEXT}).",
    )

    # 81 -------------------------------------------------------------------------------
    k = Case(
        81,
        "preschool-child-back-pain",
        4,
        "female",
        "4-year-old with back pain for 5 days, on ibuprofen",
    )
    k.cond("lbp", LBP, days(5))
    k.med_request("ibuprofen", IBUPROFEN, days(3), "100 mg by mouth three times daily", 100)
    k.write(
        urgency="routine",
        imaging="xray",
        categories=["alternative_diagnosis"],
        absent=["muscle_strain", "medication_safety"],
        red_flag=True,
        self_care=False,
        basis="brief 1.3 (ACR Back Pain-Child V2; AJNR table: prepubertal, especially under 5, is a red "
        "flag) and 1.9 JFP20 (back pain is rare under 7): back pain in a young child is itself a "
        "red flag -> see promptly, X-ray the painful area; no runner or NSAID self-care "
        f"(paediatric_young_age 10, self_care_min_age 10; {CONTEXT}).",
    )

    # 82 -------------------------------------------------------------------------------
    k = Case(82, "febrile-child-back-pain", 8, "male", "8-year-old with back pain and fever 38.6 C")
    k.cond("lbp", LBP, days(3))
    k.temp(38.6)
    k.write(
        urgency="urgent",
        imaging="xray",
        categories=["infection"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief 1.3 ACR Back Pain-Child V2 (with a red flag, radiography of the area of interest is "
        "usually appropriate; MRI may be appropriate) and 1.5 CKS-RF (fever): possible discitis "
        f"or osteomyelitis, same-day assessment ({CONTEXT}).",
    )

    # 83 -------------------------------------------------------------------------------
    k = Case(
        83,
        "excised-skin-cancer-history",
        45,
        "female",
        "Mechanical LBP; basal cell carcinoma excised 4 years ago",
    )
    k.cond("lbp", MECH_LBP, days(12))
    k.cond("bcc-history", NMSC_HX, days(4 * 365), category="problem-list-item")
    k.pain(4)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["muscle_strain"],
        absent=["malignancy"],
        red_flag=False,
        self_care=False,
        basis="brief 1.5 DOWNIE (history of malignancy is the strongest cancer flag) concerns cancers "
        "that spread to bone; an excised non-melanoma skin cancer (Z85.828) is at most a weak "
        f"flag: review if not better by about four weeks, no imaging now ({CONTEXT}).",
    )

    # 84 -------------------------------------------------------------------------------
    k = Case(
        84,
        "cancer-history-long-standing-pain",
        62,
        "female",
        "Breast cancer in remission; back pain for 2 years, unchanged",
    )
    k.cond("lbp", CHRONIC_LBP, days(2 * 365))
    k.cond("hx-cancer", HX_MALIGNANCY, days(6 * 365), category="problem-list-item")
    k.pain(3)
    k.write(
        urgency="routine",
        imaging="none",
        categories=["malignancy"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief 1.2(c) ACP11-T2 (immediate imaging for *new* back pain with a history of cancer): "
        "pain present for two years is not new (new_back_pain_days, 84 d), so a routine review "
        "that asks about a change in the pain instead of the urgent card; still a red flag, so "
        f"no self-care ({CONTEXT}).",
    )

    # 85 -------------------------------------------------------------------------------
    k = Case(85, "cauda-equina-on-nsaid", 44, "male", "Cauda equina features while taking naproxen")
    k.cond("lbp", LBP, days(4))
    k.cond("retention", RETENTION, days(1))
    k.finding("saddle-anesthesia", True)
    k.med_request("naproxen", NAPROXEN, days(4), "500 mg by mouth twice daily", 500)
    k.write(
        urgency="emergency",
        imaging="urgent_mri",
        categories=["cauda_equina"],
        absent=["muscle_strain", "medication_safety"],
        red_flag=True,
        self_care=False,
        basis="brief 1.6/1.10 (CES -> emergency); no reassuring info card ('NSAIDs are a reasonable "
        f"first drug') beside an emergency: the red-flag policy covers every info card ({CONTEXT}).",
    )

    # 86 -------------------------------------------------------------------------------
    k = Case(
        86,
        "major-trauma-ct-72131",
        29,
        "male",
        "Back pain after a fall from height; CT lumbar (CPT 72131) ordered",
    )
    k.cond("lbp", ACUTE_LBP, days(0.2), text="Low back pain after a fall from a wall")
    k.cond("major-trauma", f("major-trauma"), days(0.25), text="Fall from 3 m")
    k.order("ct-1", CT_CPT, "CT lumbar spine without contrast", "Fall from height with back pain")
    k.write(
        urgency="emergency",
        imaging="ct",
        categories=["fracture"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        ratings={"ServiceRequest/ct-1": "appropriate"},
        basis="brief 1.5 DOWNIE/CKS-RF (major trauma) and 1.3 (suspected lumbar fracture -> CT): the CT "
        "order coded with CPT 72131 (CT lumbar spine without contrast) is rated like the other "
        f"CT lumbar codes ({CONTEXT}).",
    )

    # 87 -------------------------------------------------------------------------------
    k = Case(
        87,
        "fever-ivdu-no-back-pain-coded",
        33,
        "female",
        "Fever 38.8 C in an IV drug user; no back pain coded",
    )
    k.temp(38.8)
    k.cond("ivdu", IVDU, days(2 * 365), category="problem-list-item")
    k.write(
        urgency="urgent",
        imaging="none",
        categories=["infection"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief 1.2(c) ACP11-T2 (fever with IV drug use -> spinal infection risk) and 1.5 CKS-RF: the "
        "emergencies raise their card even when no back pain is coded, worded for that case "
        f"(ask about back pain; with it, urgent MRI) ({CONTEXT}).",
    )

    # 88 -------------------------------------------------------------------------------
    k = Case(
        88,
        "dorsalgia-fever-immunosuppressed",
        57,
        "male",
        "Dorsalgia (M54.9) with fever in a transplant recipient",
    )
    k.cond("dorsalgia", DORSALGIA, days(3))
    k.cond("immunosuppressed", IMMUNOSUPPRESSED, days(5 * 365), category="problem-list-item")
    k.temp(38.4)
    k.write(
        urgency="urgent",
        imaging="urgent_mri",
        categories=["infection"],
        absent=["muscle_strain"],
        red_flag=True,
        self_care=False,
        basis="brief 1.10 (fever plus immunosuppression -> urgent MRI) and 2.1 (dorsalgia is a back-pain "
        f"code): the red flag holds whichever back-pain code the EHR sends ({CONTEXT}).",
    )


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
