"""One-off generator for knowledge/valuesets/*.json and knowledge/codesystems/findings.json.

The JSON files are the source of truth once written; this script only spares typing.
Grades: the brief's HIGH -> HIGH; MEDIUM-HIGH and MEDIUM -> MEDIUM (conservative).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, "/tmp/terms")
from meds import GABA, GASTRO, NSAID, pick  # noqa: E402

ROOT = Path("/work/main/knowledge")
BASE = "https://cds-backpain.example.org/fhir"
SD = BASE + "/StructureDefinition/"
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LNC = "http://loinc.org"
RXN = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"
OWN = BASE + "/CodeSystem/findings"
H, M = "HIGH", "MEDIUM"

# ---------------------------------------------------------------- our CodeSystem
OWN_CODES: dict[str, tuple[str, str]] = {
    "saddle-anesthesia": (
        "Saddle anaesthesia",
        "Reduced or absent sensation (numbness, tingling or altered feeling) in the perineum, "
        "perianal region, genitals, buttocks or inner upper thighs (S3-S5 'saddle' area), reported "
        "by the patient or found on examination, in the current episode of back or leg pain. "
        "Not a skin anaesthesia elsewhere. No verified SNOMED CT code exists (SNOMED 271594007, "
        "seen mislabelled as saddle anaesthesia, is Syncope).",
    ),
    "sexual-dysfunction": (
        "New sexual dysfunction",
        "New or worsening sexual dysfunction (erectile or ejaculatory dysfunction, or loss of "
        "genital sensation) that began or worsened during the current episode of back or leg "
        "pain. Long-standing dysfunction that predates the episode is not this finding.",
    ),
    "slr-positive": (
        "Straight-leg-raise test positive",
        "Passive straight-leg raise of the supine patient reproduces the patient's radiating leg "
        "pain (below the knee) in the raised leg, typically between about 30 and 70 degrees of "
        "hip flexion. Back pain or hamstring tightness alone is a negative test. Give the tested "
        "side in Observation.bodySite when known.",
    ),
    "crossed-slr-positive": (
        "Crossed straight-leg-raise test positive",
        "Raising the straight, unaffected (contralateral) leg of the supine patient reproduces "
        "radiating pain in the symptomatic leg.",
    ),
    "extension-pain": (
        "Back pain on lumbar extension",
        "Low back pain, usually midline or on one side of the lower lumbar spine, that is "
        "provoked or clearly worsened by lumbar extension (arching or bending backwards), on "
        "history or examination. Pain on flexion only is not this finding.",
    ),
    "stork-test-positive": (
        "Single-leg hyperextension (stork) test positive",
        "Standing on one leg while extending (arching) the lumbar spine reproduces the patient's "
        "low back pain, usually on the stance-leg side. Record the side in bodySite if known.",
    ),
    "hop-test-positive": (
        "Single-leg hop test positive",
        "Hopping on one leg reproduces the patient's low back, sacral, buttock or groin pain "
        "(an examination sign of bone stress injury such as a sacral stress fracture).",
    ),
    "sacral-tenderness": (
        "Sacral tenderness",
        "Localised tenderness on palpation or compression of the sacrum or sacral ala found on "
        "examination (including a positive sacral squeeze/compression test).",
    ),
    "vertebral-tenderness": (
        "Midline vertebral tenderness",
        "Point tenderness on palpation or percussion over one or more lumbar spinous processes "
        "(midline bony tenderness) found on examination. Diffuse paraspinal muscle tenderness is "
        "not this finding.",
    ),
    "night-pain": (
        "Night pain",
        "Back pain at night that is not relieved by lying down or rest, or that wakes the "
        "patient from sleep. Discomfort only when turning over in bed is not this finding.",
    ),
    "morning-stiffness": (
        "Prolonged morning stiffness",
        "Stiffness of the back on waking that lasts a prolonged time and eases with movement or "
        "exercise rather than rest (inflammatory pattern). The duration threshold is a local "
        "clinical decision (30 minutes is a common convention); put the duration in a component "
        "or note when known.",
    ),
    "major-trauma": (
        "Major (high-energy) trauma",
        "Injury to the back or spine in the current episode from a high-energy mechanism: fall "
        "from a height greater than standing height (ladder, stairs, roof, horse), road traffic "
        "collision as driver, passenger, cyclist or pedestrian, crush injury, or high-speed "
        "sporting impact or collision.",
    ),
    "minor-trauma": (
        "Minor (low-velocity) trauma",
        "Injury to the back or spine in the current episode from a low-energy mechanism: fall "
        "from standing height or less, lifting, twisting, coughing or sneezing, a stumble or a "
        "minor knock.",
    ),
    "contusion-abrasion": (
        "Contusion or abrasion over the spine",
        "Bruising (contusion) or abrasion over the spine or back found on examination, taken as "
        "a marker of significant local trauma.",
    ),
    "intervention-candidate": (
        "Candidate for surgery or intervention",
        "The treating clinician judges the patient to be a potential candidate for spinal "
        "surgery or an interventional procedure (for example epidural steroid injection) for "
        "the back or radicular pain, and the patient is willing to consider it; that is, "
        "imaging results would change management.",
    ),
    "progressive-neuro-deficit": (
        "Progressive neurological deficit",
        "A neurological deficit of the legs that is worsening over serial assessments: falling "
        "motor power grade, spreading sensory loss, a deficit appearing at an additional root "
        "level, or new foot drop.",
    ),
    "recent-infection": (
        "Recent bacterial infection",
        "A documented bacterial infection outside the spine (for example urinary tract, skin or "
        "soft tissue infection, bacteraemia or endocarditis) during the current episode of back "
        "pain or shortly before it. Give the date in effective[x] or onset[x]; the rules judge "
        "how recent it is.",
    ),
    "pain-relieved-sitting": (
        "Leg or back pain relieved by sitting",
        "Leg or buttock pain (with or without back pain) that is absent or clearly relieved when "
        "the patient is seated.",
    ),
    "pain-relieved-flexion": (
        "Leg or back pain relieved by bending forward",
        "Leg or buttock pain (with or without back pain) that improves on bending forward "
        "(lumbar flexion), for example leaning on a shopping trolley or walking uphill.",
    ),
    "claudication-relieved-standing": (
        "Claudication relieved by standing still",
        "Exertional leg pain (claudication) that is relieved promptly by standing still, without "
        "the patient needing to sit or bend forward; a feature of vascular rather than "
        "neurogenic claudication.",
    ),
    "absent-pedal-pulses": (
        "Absent pedal pulses",
        "Dorsalis pedis and/or posterior tibial pulse not palpable on examination of either "
        "foot. Give the side in bodySite when known.",
    ),
    "weekly-running-distance": (
        "Weekly running distance",
        "Total distance run in the 7 days ending at the Observation's effective[x] "
        "(effectiveDateTime, or the end of effectivePeriod), as valueQuantity in kilometres "
        "(UCUM 'km').",
    ),
    "running-load-change": (
        "Change in weekly running distance",
        "Percent change of the weekly running distance: (distance in the 7 days ending at "
        "effective[x] minus the mean weekly distance of the preceding weeks) divided by that "
        "mean, times 100; positive means an increase. valueQuantity in UCUM '%'. Use the "
        "preceding 4 weeks as the baseline unless a note says otherwise.",
    ),
    "weight-loss-pct": (
        "Body weight loss (percent)",
        "Percent loss of body weight over an interval: (earlier weight minus later weight) "
        "divided by the earlier weight, times 100; positive means weight lost. valueQuantity in "
        "UCUM '%', effectivePeriod spanning the two weighings. Normally derived by the package "
        "from serial body-weight Observations (LOINC 29463-7); may also be sent directly.",
    ),
}


def own(code: str) -> tuple:
    return (OWN, code, OWN_CODES[code][0], H, None)


# ---------------------------------------------------------------- concepts
# (system, code, display, confidence, laterality)
def c(system, code, display, conf, lat=None):
    return (system, code, display, conf, lat)


CANCER_RE = r"^C([0-8][0-9]|9[0-6]|4A|7A|7B)(\.[0-9A-Z]{1,4})?$"

CONCEPTS: list[dict] = []


def add(key, kind, title, what, src, codes, filters=(), unit=None, modality=None, note=""):
    CONCEPTS.append(
        dict(key=key, kind=kind, title=title, what=what, src=src, codes=codes,
             filters=list(filters), unit=unit, modality=modality, note=note)
    )


F = "finding"
S21 = "clinical brief section 2.1"

add("low_back_pain", F, "Low back pain",
    "Low back pain, including its acute, chronic and mechanical subtypes and lumbago with sciatica",
    f"{S21}; SNOMED CT from GMSDE back-pain/back-problems and KEELE, ICD-10-CM from ICDpages and CDS4CPM-95",
    [c(SCT, "279039007", "Low back pain (finding)", H),
     c(SCT, "278862001", "Acute low back pain", M),
     c(SCT, "278860009", "Chronic low back pain", M),
     c(SCT, "279040009", "Mechanical low back pain (finding)", M),
     c(SCT, "161894002", "Complaining of low back pain", M),
     c(SCT, "202794004", "Lumbago with sciatica (finding)", M),
     c(ICD, "M54.50", "Low back pain, unspecified", H),
     c(ICD, "M54.51", "Vertebrogenic low back pain", H),
     c(ICD, "M54.59", "Other low back pain", H),
     c(ICD, "M54.5", "Low back pain", H),
     c(ICD, "M54.40", "Lumbago with sciatica, unspecified side", H),
     c(ICD, "M54.41", "Lumbago with sciatica, right side", H),
     c(ICD, "M54.42", "Lumbago with sciatica, left side", H)],
    note="M54.41/M54.42 carry no laterality here: the side is that of the sciatica (see the sciatica value set). "
         "M54.5 is no longer billable since FY2022 and is accepted for legacy data only. "
         "Backache 161891005 is not included (not specific to the low back).")

add("muscle_spasm", F, "Back muscle spasm", "Spasm of the back muscles",
    f"{S21}; SNOMED CT from GMSDE back-pain/back-problems, ICD-10-CM from ICDpages",
    [c(SCT, "203095000", "Spasm of back muscles (finding)", H),
     c(ICD, "M62.830", "Muscle spasm of back", H)])

add("back_strain", F, "Low back strain", "Strain of the muscles, fascia or tendons of the lower back",
    f"{S21}; SNOMED CT from GMSDE, ICD-10-CM from ICDpages",
    [c(SCT, "300956001", "Low back strain", M),
     c(SCT, "309710005", "Lumbosacral strain (disorder)", M),
     c(ICD, "S39.012A", "Strain of muscle, fascia and tendon of lower back, initial encounter", H),
     c(ICD, "S39.012D", "Strain of muscle, fascia and tendon of lower back, subsequent encounter", H),
     c(ICD, "S39.012S", "Strain of muscle, fascia and tendon of lower back, sequela", H)],
    note="S39.012 without a 7th character is not a valid code and is not included.")

add("sciatica", F, "Sciatica", "Sciatica, including lumbago with sciatica and prolapsed lumbar disc with sciatica",
    f"{S21}; CDS4CPM-95, GMSDE back-pain, ICDpages",
    [c(SCT, "23056005", "Sciatica (disorder)", H),
     c(SCT, "202794004", "Lumbago with sciatica (finding)", M),
     c(SCT, "247366003", "Acute back pain with sciatica", M),
     c(SCT, "311804006", "Prolapsed lumbar intervertebral disc with sciatica", M),
     c(ICD, "M54.30", "Sciatica, unspecified side", H),
     c(ICD, "M54.31", "Sciatica, right side", H, "right"),
     c(ICD, "M54.32", "Sciatica, left side", H, "left"),
     c(ICD, "M54.40", "Lumbago with sciatica, unspecified side", H),
     c(ICD, "M54.41", "Lumbago with sciatica, right side", H, "right"),
     c(ICD, "M54.42", "Lumbago with sciatica, left side", H, "left")],
    note="Not 279040009, which is Mechanical low back pain although some repositories label it "
         "lumbago with sciatica (brief 2.7).")

add("lumbar_radiculopathy", F, "Lumbar radiculopathy",
    "Lumbar or lumbosacral radiculopathy, including radiculopathy due to a lumbar disc disorder",
    f"{S21}; CDS4CPM-95, GMSDE, ICDpages",
    [c(SCT, "128196005", "Lumbar radiculopathy (disorder)", H),
     c(SCT, "2415007", "Lumbosacral radiculopathy (disorder)", H),
     c(SCT, "299966003", "Compression of lumbar nerve root (disorder)", M),
     c(SCT, "311211000119105", "Radiculopathy due to lumbar intervertebral disc disorder (disorder)", H),
     c(ICD, "M54.16", "Radiculopathy, lumbar region", H),
     c(ICD, "M54.17", "Radiculopathy, lumbosacral region", H),
     c(ICD, "M51.16", "Intervertebral disc disorders with radiculopathy, lumbar region", H),
     c(ICD, "M51.17", "Intervertebral disc disorders with radiculopathy, lumbosacral region", H)])

add("disc_herniation", F, "Lumbar disc herniation",
    "Prolapse, herniation or displacement of a lumbar or lumbosacral intervertebral disc",
    f"{S21}; CDS4CPM-95, GMSDE, ICDpages",
    [c(SCT, "202708005", "Prolapsed lumbar intervertebral disc", M),
     c(SCT, "20021007", "Displacement of lumbar intervertebral disc without myelopathy (disorder)", H),
     c(SCT, "311804006", "Prolapsed lumbar intervertebral disc with sciatica", M),
     c(SCT, "311211000119105", "Radiculopathy due to lumbar intervertebral disc disorder (disorder)", H),
     c(ICD, "M51.26", "Other intervertebral disc displacement, lumbar region", H),
     c(ICD, "M51.27", "Other intervertebral disc displacement, lumbosacral region", H),
     c(ICD, "M51.16", "Intervertebral disc disorders with radiculopathy, lumbar region", H),
     c(ICD, "M51.17", "Intervertebral disc disorders with radiculopathy, lumbosacral region", H)],
    note="Disc degeneration codes (M51.36-/M51.37-) are not included (FY2025 expansion not verified).")

add("lumbar_stenosis", F, "Lumbar spinal stenosis", "Spinal stenosis of the lumbar region",
    f"{S21}; CDS4CPM-95, GMSDE",
    [c(SCT, "18347007", "Spinal stenosis of lumbar region (disorder)", H),
     c(SCT, "202788007", "Degenerative lumbar spinal stenosis", M),
     c(ICD, "M48.061", "Spinal stenosis, lumbar region without neurogenic claudication", H),
     c(ICD, "M48.062", "Spinal stenosis, lumbar region with neurogenic claudication", H)],
    note="M48.06 is a category header, not a billable code, and is not included.")

add("neurogenic_claudication", F, "Neurogenic claudication", "Neurogenic (spinal) claudication",
    f"{S21}; CDS4CPM-95, GMSDE",
    [c(SCT, "303081002", "Neurogenic claudication (finding)", H),
     c(SCT, "240219003", "Spinal claudication", M),
     c(ICD, "M48.062", "Spinal stenosis, lumbar region with neurogenic claudication", H)],
    note="No stand-alone ICD-10-CM code exists; M48.062 also maps to lumbar_stenosis.")

add("pain_relieved_sitting", F, "Pain relieved by sitting", "Leg or back pain relieved by sitting",
    "clinical brief sections 1.7 (Suri 2010) and 2.1 (gap: no verified code)",
    [own("pain-relieved-sitting")])
add("pain_relieved_flexion", F, "Pain relieved by bending forward",
    "Leg or back pain relieved by lumbar flexion",
    "clinical brief sections 1.7 (Suri 2010, NASS DLSS) and 2.1 (gap: no verified code)",
    [own("pain-relieved-flexion")])
add("claudication_relieved_standing", F, "Claudication relieved by standing still",
    "Exertional leg pain relieved by standing still (vascular pattern)",
    "clinical brief section 1.7 (differentials) and 2.1 (gap: no verified code)",
    [own("claudication-relieved-standing")])
add("absent_pedal_pulses", F, "Absent pedal pulses", "Foot pulses not palpable",
    "clinical brief section 1.7 (differentials) and 2.1 (gap: no verified code)",
    [own("absent-pedal-pulses")])

add("spondylolysis", F, "Spondylolysis", "Spondylolysis (pars interarticularis defect) of the lumbar or lumbosacral spine",
    f"{S21}; GMSDE back-problems, HPO cross-reference via RGD, ICDpages",
    [c(SCT, "240221008", "Spondylolysis", H),
     c(SCT, "207960001", "Closed fracture lumbar vertebra, spondylolysis", M),
     c(ICD, "M43.06", "Spondylolysis, lumbar region", H),
     c(ICD, "M43.07", "Spondylolysis, lumbosacral region", H),
     c(ICD, "Q76.2", "Congenital spondylolisthesis (includes congenital spondylolysis)", H)])

add("spondylolisthesis", F, "Spondylolisthesis", "Spondylolisthesis of the lumbar or lumbosacral spine",
    f"{S21}; GMSDE, ICDpages",
    [c(SCT, "274152003", "Spondylolisthesis", M),
     c(SCT, "307138004", "Spondylolisthesis L5/S1 level", M),
     c(ICD, "M43.16", "Spondylolisthesis, lumbar region", H),
     c(ICD, "M43.17", "Spondylolisthesis, lumbosacral region", H),
     c(ICD, "Q76.2", "Congenital spondylolisthesis (includes congenital spondylolysis)", H)])

add("vertebral_compression_fracture", F, "Vertebral compression fracture",
    "Compression, wedge, crush or osteoporotic collapse fracture of a vertebra, including pathological fracture",
    f"{S21}; GMSDE back-problems and efi-fragility-fracture, a FHIR FSH value set, the open imaging finding model, ICDpages",
    [c(SCT, "42942008", "Compression fracture of vertebral column", H),
     c(SCT, "203450003", "Osteoporotic fracture of lumbar vertebra", M),
     c(SCT, "240198002", "Osteoporotic vertebral collapse", M),
     c(SCT, "281933002", "Crush fracture of lumbar vertebra", M),
     c(SCT, "314668006", "Wedge fracture of vertebra", M),
     c(SCT, "84138006", "Collapse of vertebra", M),
     c(ICD, "M80.08XA", "Age-related osteoporosis with current pathological fracture, vertebra(e), initial encounter for fracture", H),
     c(ICD, "M48.56XA", "Collapsed vertebra, not elsewhere classified, lumbar region, initial encounter for fracture", H),
     c(ICD, "M48.57XA", "Collapsed vertebra, not elsewhere classified, lumbosacral region, initial encounter for fracture", H),
     c(ICD, "M84.58XA", "Pathological fracture in neoplastic disease, vertebrae, initial encounter for fracture", H)],
    note="Never 207938004 (Closed fracture thoracic vertebra) or 207957008 (Closed fracture lumbar "
         "vertebra), which circulate mislabelled as compression fracture (brief 2.7).")

add("osteoporosis", F, "Osteoporosis", "Osteoporosis, with or without a current pathological fracture",
    f"{S21}; GMSDE efi-osteoporosis, several mappings, ICDpages",
    [c(SCT, "64859006", "Osteoporosis (disorder)", H),
     c(SCT, "203438009", "Vertebral osteoporosis", M),
     c(SCT, "14651005", "Drug-induced osteoporosis", M),
     c(ICD, "M81.0", "Age-related osteoporosis without current pathological fracture", H)],
    filters=[(ICD, r"^M80\.0[0-9A-Z]{0,4}$", H,
              "M80.0- Age-related osteoporosis with current pathological fracture (all sites)")])

add("lumbar_fracture", F, "Fracture of lumbar spine", "Traumatic fracture of a lumbar vertebra or of the vertebral column",
    f"{S21}; GMSDE back-problems, fracture and efi-fragility-fracture; ICD-10-CM category S32.0- from the M48.4/M48.5 Excludes notes",
    [c(SCT, "125608002", "Fracture of lumbar spine", H),
     c(SCT, "207957008", "Closed fracture lumbar vertebra", M),
     c(SCT, "50448004", "Fracture of vertebral column", M)],
    filters=[(ICD, r"^S32\.0[0-9A-Z]{0,4}$", M,
              "S32.0- Fracture of lumbar vertebra (any 7th character); leaf codes not verified, category seen in the M48.4/M48.5 Excludes notes")],
    note="50448004 is not lumbar-specific; it is included so a vertebral fracture is never missed.")

add("stress_fracture", F, "Stress fracture", "Stress (fatigue) fracture, including fatigue fracture of a vertebra",
    f"{S21}; GMSDE efi-fragility-fracture, BE-IMG, ICDpages",
    [c(SCT, "202831001", "Fatigue fracture of vertebra", M),
     c(SCT, "240197007", "Stress fracture (disorder)", H),
     c(ICD, "M48.46XA", "Fatigue fracture of vertebra, lumbar region, initial encounter for fracture", H),
     c(ICD, "M48.47XA", "Fatigue fracture of vertebra, lumbosacral region, initial encounter for fracture", H),
     c(ICD, "M48.40XA", "Fatigue fracture of vertebra, site unspecified, initial encounter for fracture", H)],
    note="240197007 is not site-specific (it also covers e.g. tibial stress fractures). Sacral stress "
         "fracture ICD-10-CM code not verified; 702561005 Insufficiency fracture is ungraded and left out.")

add("cauda_equina_syndrome", F, "Cauda equina syndrome", "Cauda equina syndrome",
    f"{S21}; several independent repositories incl. a SNOMED-graph query file; ICDpages",
    [c(SCT, "192970008", "Cauda equina syndrome", M),
     c(ICD, "G83.4", "Cauda equina syndrome", H)])

add("saddle_anesthesia", F, "Saddle anesthesia", "Saddle (perineal) anaesthesia or altered perineal sensation",
    f"{S21} (gap: no trustworthy SNOMED CT code; 271594007 is Syncope, brief 2.7; R20.0 unverified)",
    [own("saddle-anesthesia")])

add("urinary_retention", F, "Urinary retention", "Retention of urine",
    f"{S21}; BE-IMG plus several FHIR value sets, ICDpages",
    [c(SCT, "267064002", "Retention of urine (disorder)", H),
     c(SCT, "236648008", "Acute retention of urine", M),
     c(ICD, "R33.9", "Retention of urine, unspecified", H),
     c(ICD, "R33.8", "Other retention of urine", H),
     c(ICD, "R33.0", "Drug induced retention of urine", H)])

add("urinary_incontinence", F, "Urinary incontinence", "Urinary incontinence",
    f"{S21}; BE-IMG, GMSDE incontinence",
    [c(SCT, "165232002", "Urinary incontinence", M)],
    note="No ICD-10-CM code is graded in the brief; code urinary incontinence with SNOMED CT.")

add("fecal_incontinence", F, "Fecal incontinence", "Incontinence of feces",
    f"{S21}; BE-IMG, GMSDE incontinence, icd10data",
    [c(SCT, "72042002", "Incontinence of feces (finding)", H),
     c(ICD, "R15.9", "Full incontinence of feces", H)])

add("sexual_dysfunction", F, "New sexual dysfunction", "New or worsening sexual dysfunction during the back pain episode",
    "clinical brief sections 1.6 and 1.10 (CES features; gap: no code in section 2)",
    [own("sexual-dysfunction")])

add("fever", F, "Fever", "Fever recorded as a finding or diagnosis (a measured temperature is the body_temperature measure)",
    f"{S21}; BE-IMG plus many mappings",
    [c(SCT, "386661006", "Fever (finding)", H),
     c(ICD, "R50.9", "Fever, unspecified", H)])

add("weight_loss", F, "Unexplained weight loss", "Unintentional, unexplained or abnormal weight loss",
    f"{S21}; GMSDE efi-weight-loss, FHIR IG examples, ICDpages",
    [c(SCT, "448765001", "Unintentional weight loss (finding)", H),
     c(SCT, "422868009", "Unexplained weight loss", M),
     c(SCT, "267024001", "Abnormal weight loss", M),
     c(SCT, "89362005", "Weight loss", M),
     c(ICD, "R63.4", "Abnormal weight loss", H)],
    note="89362005 Weight loss does not say the loss was unintended; it is kept (red-flag safety) "
         "at MEDIUM. A measured loss is the weight_loss_pct measure.")

add("malignancy", F, "Malignancy", "Active malignant neoplastic disease, including metastatic disease",
    f"{S21}; BE-IMG; ICD-10-CM chapter C00-C96 (malignant neoplasms, incl. C4A, C7A, C7B)",
    [c(SCT, "363346000", "Malignant neoplastic disease (disorder)", M),
     c(SCT, "128462008", "Metastatic malignant neoplasm", M)],
    filters=[(ICD, CANCER_RE, H, "C00-C96 Malignant neoplasms (incl. C4A, C7A, C7B)")],
    note="A cancer Condition that is inactive, in remission or resolved is history of malignancy; "
         "that status logic belongs to ingest and the rules (brief 2.5).")

add("malignancy_history", F, "History of malignancy", "Personal history of malignant neoplasm",
    f"{S21}; BE-IMG, ICDpages",
    [c(SCT, "266987004", "History of malignant neoplasm (situation)", M),
     c(ICD, "Z85.9", "Personal history of malignant neoplasm, unspecified", H)],
    filters=[(ICD, r"^Z85(\.[0-9A-Z]{1,4})?$", H, "Z85.- Personal history of malignant neoplasm (all sites)")])

add("iv_drug_use", F, "Intravenous drug use", "Intravenous drug use",
    f"{S21}; RKI HIV-PrEP IG (FHIRex), CDC HIV PrEP CDS mapping, UMLS table",
    [c(SCT, "228388006", "Intravenous drug user (finding)", H)],
    note="No ICD-10-CM code: F11-F19 proxies are unverified and not included.")

add("immunosuppression", F, "Immunosuppression", "Immunosuppressed or immunocompromised state or therapy",
    f"{S21}; GMSDE immunosuppression, ICDpages (icdlist, hccbuddy, diseasedb)",
    [c(SCT, "370391006", "Patient immunosuppressed (finding)", M),
     c(SCT, "370388006", "Patient immunocompromised (finding)", M),
     c(SCT, "86553008", "Immunosuppressive therapy", M),
     c(SCT, "33286000", "Secondary immune deficiency disorder", M),
     c(ICD, "D84.821", "Immunodeficiency due to drugs", H)],
    note="Long-term systemic steroid use (Z79.52) is the separate concept long_term_steroid_use.")

add("long_term_steroid_use", F, "Long-term systemic steroid use", "Long-term (current) use of systemic steroids, as a diagnosis code",
    f"clinical brief sections 2.1 and 2.3; ICDpages",
    [c(ICD, "Z79.52", "Long term (current) use of systemic steroids", H)],
    note="Medication records are the systemic_corticosteroid med concept.")

add("recent_infection", F, "Recent bacterial infection", "Recent bacterial infection outside the spine",
    "clinical brief section 1.10 (infection row; gap: no code in section 2)",
    [own("recent-infection")])

add("spinal_infection", F, "Spinal infection", "Infection of a vertebra or intervertebral disc (osteomyelitis, discitis)",
    f"{S21}; GMSDE bone-infection, CDS4CPM-95",
    [c(SCT, "721273004", "Infection of vertebra", M),
     c(SCT, "203241002", "Osteomyelitis of vertebra", M),
     c(SCT, "202752002", "Lumbar discitis (disorder)", M),
     c(SCT, "302935008", "Infective discitis (disorder)", M),
     c(ICD, "M46.46", "Discitis, unspecified, lumbar region", M)])

add("leg_weakness", F, "Leg weakness", "Muscle weakness of the lower limb",
    f"{S21}; terminology-server test fixtures",
    [c(SCT, "26544005", "Muscle weakness (finding)", M)],
    note="26544005 is not limb-specific; send bodySite 61685007 Lower limb structure. "
         "M62.81 is unverified and not included.")

add("foot_drop", F, "Foot drop", "Foot drop",
    f"{S21}; several value sets, ICDpages",
    [c(ICD, "M21.371", "Foot drop, right foot", H, "right"),
     c(ICD, "M21.372", "Foot drop, left foot", H, "left"),
     c(ICD, "M21.379", "Foot drop, unspecified foot", H)],
    note="SNOMED 6077001 is graded LOW-MEDIUM (single source) and is not included.")

add("neuro_deficit", F, "Neurological deficit", "Neurological deficit (generic)",
    f"{S21}; BE-IMG", [c(SCT, "264552009", "Neurological deficit (finding)", M)])

add("progressive_neuro_deficit", F, "Progressive neurological deficit", "Worsening neurological deficit of the legs",
    "clinical brief sections 1.8 and 1.10 (progressive deficit row; gap: no code in section 2)",
    [own("progressive-neuro-deficit")])

add("leg_numbness", F, "Leg numbness or paresthesia", "Numbness or paraesthesia of the lower limb",
    f"{S21}; terminology-server test fixtures, BE-IMG (body site), ICDpages",
    [c(SCT, "44077006", "Numbness (finding)", M),
     c(SCT, "91019004", "Paresthesia (finding)", M),
     c(ICD, "R20.2", "Paresthesia of skin", M)],
    note="Codes are not limb-specific; send bodySite 61685007 Lower limb structure. R20.0 is unverified.")

add("slr_positive", F, "Straight-leg raise positive", "Positive straight-leg-raise test",
    f"clinical brief sections 1.8 and 2.1 (gap: no SNOMED CT code found)", [own("slr-positive")])
add("crossed_slr_positive", F, "Crossed straight-leg raise positive", "Positive crossed straight-leg-raise test",
    "clinical brief sections 1.8 and 2.1 (gap: no code found)", [own("crossed-slr-positive")])

add("ankylosing_spondylitis", F, "Ankylosing spondylitis", "Ankylosing spondylitis or axial spondyloarthritis",
    f"{S21}; CDS4CPM-95, BE-IMG",
    [c(SCT, "9631008", "Ankylosing spondylitis (disorder)", H),
     c(SCT, "784332006", "Spondyloarthritis", M),
     c(ICD, "M45.6", "Ankylosing spondylitis lumbar region", H)])

add("prior_lumbar_surgery", F, "Prior lumbar surgery", "Previous lumbar spine surgery or its sequelae",
    f"{S21}; CDS4CPM-95, GMSDE",
    [c(SCT, "202725007", "Lumbar post-laminectomy syndrome (disorder)", M),
     c(SCT, "239542002", "Lumbar discectomy", M),
     c(SCT, "429377005", "Lumbar laminectomy", M)],
    note="239542002 and 429377005 are procedures. M96.1 is unverified in the brief and not included.")

add("amenorrhea", F, "Amenorrhea", "Secondary amenorrhoea (runner risk factor for bone stress injury)",
    f"{S21}; BE-IMG", [c(SCT, "156036003", "Secondary amenorrhea (finding)", M)],
    note="N91.1 is unverified; RED-S / female athlete triad codes were not found.")

add("major_trauma", F, "Major trauma", "Back injury from a high-energy mechanism",
    "clinical brief sections 1.5 and 1.10 (trauma row; gap: no code in section 2)", [own("major-trauma")])
add("minor_trauma", F, "Minor trauma", "Back injury from a low-energy (low-velocity) mechanism",
    "clinical brief section 1.10 (trauma row, ACR variant 6; gap: no code in section 2)", [own("minor-trauma")])
add("contusion_abrasion", F, "Contusion or abrasion over the spine", "Bruising or abrasion over the spine",
    "clinical brief sections 1.5 and 1.10 (Downie; gap: no code in section 2)", [own("contusion-abrasion")])
add("vertebral_tenderness", F, "Vertebral tenderness", "Midline bony tenderness over the lumbar spine",
    "clinical brief section 1.9 (bony tenderness; gap: no code in section 2)", [own("vertebral-tenderness")])
add("sacral_tenderness", F, "Sacral tenderness", "Tenderness of the sacrum",
    "clinical brief section 1.9 (sacral stress fractures; gap: no code in section 2)", [own("sacral-tenderness")])
add("hop_test_positive", F, "Single-leg hop test positive", "Pain on single-leg hop",
    "clinical brief section 1.9 (sacral stress fractures; gap: no code in section 2)", [own("hop-test-positive")])
add("extension_pain", F, "Pain on lumbar extension", "Low back pain worse with lumbar extension",
    "clinical brief section 1.9 (AccessPediatrics; gap: no code in section 2)", [own("extension-pain")])
add("stork_test_positive", F, "Stork test positive", "Positive single-leg hyperextension (stork) test",
    "clinical brief section 1.9 (AccessPediatrics; gap: no code in section 2)", [own("stork-test-positive")])
add("night_pain", F, "Night pain", "Back pain at night or waking the patient",
    "clinical brief section 1.9 (pain that wakes the patient; gap: no code in section 2)", [own("night-pain")])
add("intervention_candidate", F, "Candidate for surgery or intervention",
    "Patient is a candidate for spinal surgery or intervention",
    "clinical brief sections 1.7, 1.8 and 1.10 (ACP 2007 Rec 4, ACR variant 3; gap: no code)", [own("intervention-candidate")])
add("morning_stiffness", F, "Prolonged morning stiffness", "Inflammatory-pattern morning stiffness of the back",
    "clinical brief section 2.1 (axial spondyloarthritis differential; gap: no code in section 2)", [own("morning-stiffness")])

# ---------------------------------------------------------------- measures
S22 = "clinical brief section 2.2"
add("pain_score", "measure", "Pain score (0-10)", "Pain severity on the 0-10 verbal numeric rating scale",
    f"{S22}; FHIR IG profiles, EMS IG example, test fixtures",
    [c(LNC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported", H)], unit="{score}")
add("body_temperature", "measure", "Body temperature", "Measured body temperature",
    f"{S22}", [c(LNC, "8310-5", "Body temperature", H)], unit="Cel")
add("body_weight", "measure", "Body weight", "Measured body weight",
    f"{S22}; fixtures, US Core vital signs", [c(LNC, "29463-7", "Body weight", H)], unit="kg")
add("bmi", "measure", "Body mass index", "Body mass index",
    f"{S22}; several FHIR codebases", [c(LNC, "39156-5", "Body mass index (BMI) [Ratio]", H)], unit="kg/m2")
add("weekly_running_distance", "measure", "Weekly running distance", "Distance run in the 7 days ending at effective[x]",
    "clinical brief section 1.9 (training load; gap: no standard code)", [own("weekly-running-distance")], unit="km")
add("running_load_change", "measure", "Change in weekly running distance",
    "Percent change of weekly running distance against the preceding weeks",
    "clinical brief section 1.9 (Nielsen, Garmin-RUNSAFE; gap: no standard code)", [own("running-load-change")], unit="%")
add("weight_loss_pct", "measure", "Weight loss (percent)", "Percent body weight lost over an interval (usually derived from serial weights)",
    f"{S22} (serial weights; gap: no standard code)", [own("weight-loss-pct")], unit="%")

# ---------------------------------------------------------------- meds
S23 = "clinical brief section 2.3"
nsaid_scd, _ = pick(NSAID, GASTRO)
nsaid_scd = [x for x in nsaid_scd if "carprofen" not in x[1]]  # veterinary-only product
gaba_scd, _ = pick(GABA)


def rx_sorted(rows):
    return [c(RXN, code, disp, M) for code, disp, _ in sorted(rows, key=lambda r: (r[1].lower(), r[0]))]


add("systemic_corticosteroid", "med", "Systemic corticosteroid", "Systemic glucocorticoids (RxNorm ingredients)",
    f"{S23}; RXCLASS-doc (RxClass ATC H02AB members, TTY=IN)",
    [c(RXN, "8640", "prednisone", M), c(RXN, "8638", "prednisolone", M),
     c(RXN, "6902", "methylprednisolone", M), c(RXN, "3264", "dexamethasone", M),
     c(RXN, "5492", "hydrocortisone", M), c(RXN, "1514", "betamethasone", M),
     c(RXN, "10759", "triamcinolone", M), c(RXN, "2878", "cortisone", M),
     c(RXN, "22396", "deflazacort", M)],
    note="Ingredient codes only: CDS4CPM-73 contains no oral corticosteroid clinical drugs (only "
         "topical, rectal and injectable combinations). Medications coded at clinical-drug (SCD) level "
         "need the build-time RxClass H02AB expansion recommended in the brief. Condition-based "
         "proxy: long_term_steroid_use (Z79.52).")

add("nsaid", "med", "NSAID", "Systemic (oral) non-steroidal anti-inflammatory drugs",
    f"{S23}; ingredients from OHDSI concept sets and Capr README; oral clinical drugs from CDS4CPM-73 "
    "(VSAC 2.16.840.1.113762.1.4.1021.73, Non opioid pain medications) filtered to single-ingredient "
    "oral products and NSAID + gastroprotectant combinations",
    [c(RXN, "5640", "ibuprofen", H), c(RXN, "3355", "diclofenac", H), c(RXN, "140587", "celecoxib", H),
     c(RXN, "1191", "aspirin", H), c(RXN, "7258", "naproxen", M)] + rx_sorted(nsaid_scd),
    note="Excluded from CDS4CPM-73: topical, ophthalmic, nasal, rectal and injectable forms, lozenges, "
         "combinations with acetaminophen, opioids, caffeine, antihistamines, decongestants, muscle "
         "relaxants, sumatriptan or amlodipine, low-dose (<300 mg) antiplatelet aspirin and aspirin "
         "combinations, and veterinary carprofen. Never 202472, 6835, 6130 or 5775 (brief 2.7).")

add("gabapentinoid", "med", "Gabapentinoid", "Gabapentin, gabapentin enacarbil and pregabalin (oral clinical drugs)",
    f"{S23}; CDS4CPM-73 (VSAC 2.16.840.1.113762.1.4.1021.73, Non opioid pain medications)",
    rx_sorted(gaba_scd),
    note="No gabapentinoid ingredient codes are graded in the brief, so only clinical drugs (SCD) are listed.")

# ---------------------------------------------------------------- orders
S24 = "clinical brief section 2.4"
add("imaging_xray_lumbar", "order", "Lumbar spine X-ray", "Radiographs of the lumbar / lumbosacral spine",
    f"{S24}; CPT pairing page, GMSDE",
    [c(CPT, "72100", "X-ray of lumbosacral spine, 2 or 3 views", M),
     c(CPT, "72110", "X-ray of lumbosacral spine, 4 or more views", M),
     c(SCT, "22791004", "X-ray of lumbosacral spine", M)], modality="xray")
add("imaging_mri_lumbar", "order", "Lumbar spine MRI", "Magnetic resonance imaging of the lumbar spine, with or without contrast",
    f"{S24}; LCD L34220 policy seed, RIS protocol table, GMSDE",
    [c(CPT, "72148", "MRI lumbar spine without contrast", H),
     c(CPT, "72149", "MRI lumbar spine with contrast", M),
     c(CPT, "72158", "MRI lumbar spine without contrast, followed by contrast", M),
     c(SCT, "241648005", "MRI of lumbar spine", M)], modality="mri",
    note="LOINC codes for lumbar MRI conflict (24531-6 vs 30679-5, brief 2.7) and are not used.")
add("imaging_ct_lumbar", "order", "Lumbar spine CT", "Computed tomography of the lumbar spine",
    f"{S24}; CPT 72133 from the Argonaut PAMA connectathon order table (cds-hooks requirements section 3.2)",
    [c(SCT, "241580002", "CT of lumbar spine", M),
     c(CPT, "72133", "CT lumbar spine without contrast, followed by contrast", M)], modality="ct",
    note="CPT 72133 is graded MEDIUM: one informal but purpose-built source (the PAMA connectathon). "
         "CPT 72131 is unverified in the brief and not included.")


# ---------------------------------------------------------------- emit
def ext(name: str, **value) -> dict:
    return {"url": SD + name, **value}


def pascal(key: str) -> str:
    return "".join(p.capitalize() for p in key.split("_"))


def build(spec: dict) -> dict:
    vid = spec["key"].replace("_", "-")
    exts = [ext("fact-kind", valueCode=spec["kind"])]
    if spec["unit"]:
        exts.append(ext("canonical-unit", valueString=spec["unit"]))
    if spec["modality"]:
        exts.append(ext("imaging-modality", valueCode=spec["modality"]))
    by_system: dict[str, list] = {}
    for system, code, display, conf, lat in spec["codes"]:
        concept = {"code": code, "display": display}
        cext = []
        if lat:
            cext.append(ext("laterality", valueCode=lat))
        cext.append(ext("code-confidence", valueCode=conf))
        concept["extension"] = cext
        by_system.setdefault(system, []).append(concept)
    include = [{"system": s, "concept": cs} for s, cs in by_system.items()]
    for system, regex, conf, label in spec["filters"]:
        include.append({
            "extension": [ext("code-confidence", valueCode=conf)],
            "system": system,
            "filter": [{"property": "code", "op": "regex", "value": regex}],
        })
    desc = f"{spec['what']}. Sources: {spec['src']}."
    if spec["filters"]:
        desc += " Code families by regular expression on the dotted ICD-10-CM code: " + "; ".join(
            f[3] for f in spec["filters"]) + "."
    if spec["note"]:
        desc += " " + spec["note"]
    return {
        "resourceType": "ValueSet",
        "id": vid,
        "extension": exts,
        "url": f"{BASE}/ValueSet/{vid}",
        "version": "0.1.0",
        "name": pascal(spec["key"]),
        "title": spec["title"],
        "status": "active",
        "experimental": False,
        "publisher": "cds-backpain",
        "description": desc,
        "compose": {"include": include},
    }


def codesystem() -> dict:
    return {
        "resourceType": "CodeSystem",
        "id": "findings",
        "url": OWN,
        "version": "0.1.0",
        "name": "CdsBackpainFindings",
        "title": "cds-backpain local findings and measures",
        "status": "active",
        "experimental": False,
        "publisher": "cds-backpain",
        "description": (
            "Findings and measures needed by the cds-backpain rules for which no verified SNOMED CT, "
            "ICD-10-CM or LOINC code was found (clinical brief section 2). Record a finding as an "
            "Observation with this code and valueBoolean true (present) or false (absent); record a "
            "measure as an Observation with valueQuantity in the unit stated in the definition."
        ),
        "caseSensitive": True,
        "content": "complete",
        "count": len(OWN_CODES),
        "concept": [
            {"code": k, "display": d, "definition": defn} for k, (d, defn) in OWN_CODES.items()
        ],
    }


def main() -> None:
    vs_dir = ROOT / "valuesets"
    cs_dir = ROOT / "codesystems"
    vs_dir.mkdir(parents=True, exist_ok=True)
    cs_dir.mkdir(parents=True, exist_ok=True)
    keys = [s["key"] for s in CONCEPTS]
    assert len(keys) == len(set(keys)), "duplicate key"
    used = {code for s in CONCEPTS for (sy, code, *_r) in s["codes"] if sy == OWN}
    assert used == set(OWN_CODES), (used ^ set(OWN_CODES))
    for spec in CONCEPTS:
        vs = build(spec)
        (vs_dir / f"{vs['id']}.json").write_text(json.dumps(vs, indent=2, ensure_ascii=False) + "\n")
    (cs_dir / "findings.json").write_text(
        json.dumps(codesystem(), indent=2, ensure_ascii=False) + "\n")
    json.dump(CONCEPTS, open("/tmp/terms/concepts.json", "w"), indent=1)
    print(len(CONCEPTS), "value sets;", len(OWN_CODES), "own codes")


if __name__ == "__main__":
    main()
