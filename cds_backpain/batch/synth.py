"""Synthetic populations in FHIR Bulk Data format, for measuring and testing batches.

``write_population(out, patients=100_000, seed=1)`` writes ``Patient``, ``Condition``,
``Observation``, ``MedicationStatement`` and ``ServiceRequest`` NDJSON files of a
seeded, reproducible population with a realistic mix of profiles (:data:`PROFILES`):
mechanical and radicular low back pain, red flags (cauda equina, malignancy,
infection, fracture risk, long steroid courses), documented negations and
refuted/entered-in-error data, and patients with nothing relevant at all.

Codes come from the knowledge base's value sets (the first listed code of a concept
in a system), so the population exercises the codes the rules actually read. This is
test data: the profiles say what a patient's record holds, never what it means.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from ..ingest.qualifiers import ANSWER_ABSENT, ANSWER_PRESENT, qualifier_codings

SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

DEFAULT_NOW = "2026-06-01T12:00:00Z"
TYPES = ("Patient", "Condition", "Observation", "MedicationStatement", "ServiceRequest")


@dataclass(frozen=True)
class Item:
    """One thing a profile's record holds: a concept, as which resource, with what values.

    ``as_`` is ``condition``, ``finding`` (an Observation valued Present), ``negated``
    (valued Absent), ``measure`` (a numeric Observation in ``value``), ``med`` (a
    MedicationStatement over ``days``) or ``order`` (a draft ServiceRequest).
    ``status`` is the Condition's clinical status or ``refuted``/``entered-in-error``.
    """

    concept: str
    as_: str = "condition"
    p: float = 1.0
    days: tuple[int, int] = (3, 30)
    value: tuple[float, float] = (0.0, 0.0)
    status: str = "active"


@dataclass(frozen=True)
class Profile:
    name: str
    weight: float
    ages: tuple[int, int]
    items: tuple[Item, ...]
    sex: str | None = None


LBP = Item("low_back_pain", days=(2, 35))

#: The population mix. Weights are relative; ages in years at the evaluation instant.
PROFILES: tuple[Profile, ...] = (
    Profile(
        "mechanical",
        30,
        (20, 60),
        (
            LBP,
            Item("muscle_spasm", p=0.5, days=(2, 20)),
            Item("pain_score", "measure", days=(0, 3), value=(2, 7)),
            Item("nsaid", "med", p=0.4, days=(2, 14)),
            Item("imaging_mri_lumbar", "order", p=0.08),
        ),
    ),
    Profile("chronic", 5, (30, 65), (Item("low_back_pain", days=(100, 500)),)),
    Profile(
        "radicular",
        12,
        (25, 60),
        (
            LBP,
            Item("sciatica", days=(5, 60)),
            Item("leg_numbness", "finding", p=0.5, days=(1, 20)),
            Item("slr_positive", "finding", p=0.5, days=(0, 10)),
            Item("pain_score", "measure", days=(0, 3), value=(4, 9)),
        ),
    ),
    Profile(
        "cauda_equina",
        1.5,
        (30, 60),
        (
            Item("low_back_pain", days=(1, 10)),
            Item("sciatica", days=(1, 10)),
            Item("urinary_retention", days=(0, 3)),
            Item("saddle_anesthesia", "finding", p=0.7, days=(0, 3)),
        ),
    ),
    Profile(
        "malignancy",
        1.5,
        (50, 85),
        (
            LBP,
            Item("malignancy_history", days=(400, 3000), status="remission"),
            Item("night_pain", "finding", p=0.5, days=(1, 20)),
        ),
    ),
    Profile(
        "infection",
        1,
        (20, 45),
        (
            Item("low_back_pain", days=(1, 10)),
            Item("iv_drug_use", days=(100, 2000)),
            Item("body_temperature", "measure", days=(0, 2), value=(38.2, 39.8)),
        ),
    ),
    Profile(
        "fracture_risk",
        2,
        (70, 92),
        (Item("low_back_pain", days=(1, 14)), Item("osteoporosis", days=(300, 4000))),
        sex="female",
    ),
    Profile(
        "steroids",
        1,
        (45, 80),
        (
            Item("low_back_pain", days=(3, 14)),
            Item("systemic_corticosteroid", "med", days=(120, 500)),
        ),
    ),
    Profile(
        "young_runner",
        1,
        (14, 19),
        (
            Item("low_back_pain", days=(20, 60)),
            Item("extension_pain", "finding", days=(1, 20)),
            Item("weekly_running_distance", "measure", p=0.6, days=(0, 7), value=(20, 70)),
        ),
    ),
    Profile(
        "negated_red_flags",
        3,
        (25, 60),
        (
            LBP,
            Item("urinary_retention", "negated", days=(0, 3)),
            Item("fever", "negated", p=0.5, days=(0, 3)),
            Item("cauda_equina_syndrome", days=(0, 10), status="refuted"),
            Item("vertebral_compression_fracture", p=0.5, days=(0, 10), status="entered-in-error"),
            Item("fever", p=0.5, days=(30, 300), status="resolved"),
        ),
    ),
    Profile("irrelevant", 42, (1, 95), ()),
)

#: Background data that matches no value set (checked at load): problems and drugs.
BACKGROUND_CONDITIONS: tuple[tuple[str, str, str], ...] = (
    (SNOMED, "59621000", "Essential hypertension (disorder)"),
    (SNOMED, "714628002", "Prediabetes (finding)"),
    (SNOMED, "444814009", "Viral sinusitis (disorder)"),
    (SNOMED, "10509002", "Acute bronchitis (disorder)"),
    (SNOMED, "55822004", "Hyperlipidemia (disorder)"),
    (SNOMED, "195662009", "Acute viral pharyngitis (disorder)"),
    (SNOMED, "162864005", "Body mass index 30+ - obesity (finding)"),
    (SNOMED, "44054006", "Diabetes mellitus type 2 (disorder)"),
)
BACKGROUND_MEDS: tuple[tuple[str, str, str], ...] = (
    (RXNORM, "314076", "lisinopril 10 MG Oral Tablet"),
    (RXNORM, "860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet"),
    (RXNORM, "197361", "amlodipine 5 MG Oral Tablet"),
    (RXNORM, "310798", "Hydrochlorothiazide 25 MG Oral Tablet"),
)


def _answer(key: str) -> dict[str, Any]:
    """The first code of a knowledge answer value set (answer-present / answer-absent)."""
    from ..kb.loader import knowledge_root

    return {"coding": [qualifier_codings(knowledge_root() / "valuesets", key)[0].coding()]}


PRESENT = _answer(ANSWER_PRESENT)
ABSENT = _answer(ANSWER_ABSENT)


class Codes:
    """Concept key -> codings to draw from, and its unit, read from the value sets."""

    def __init__(self, valuesets: Any = None):
        if valuesets is None:
            valuesets = _load_valuesets()
        self.by_concept: dict[str, list[tuple[str, str]]] = {}
        for concept, system, code in valuesets.codes():
            systems = self.by_concept.setdefault(concept, [])
            if all(s != system for s, _ in systems):  # first code of each system
                systems.append((system, code))
        self.labels = {k: valuesets.label(k) for k in valuesets.concepts}
        self.units = {k: c.unit for k, c in valuesets.concepts.items()}
        self.background = tuple(
            c
            for c in (*BACKGROUND_CONDITIONS, *BACKGROUND_MEDS)
            if not valuesets.lookup(c[0], c[1])
        )
        missing = {i.concept for p in PROFILES for i in p.items} - set(self.by_concept)
        if missing:
            raise ValueError(f"value sets lack concepts the profiles use: {sorted(missing)}")

    def coding(self, rng: random.Random, concept: str) -> dict[str, Any]:
        options = self.by_concept[concept]
        system, code = (
            options[0] if len(options) == 1 or rng.random() < 0.7 else rng.choice(options)
        )
        return {
            "coding": [{"system": system, "code": code, "display": self.labels[concept]}],
            "text": self.labels[concept],
        }


def _load_valuesets() -> Any:
    from ..kb.loader import knowledge_root
    from ..kb.valuesets import load_valuesets

    root = knowledge_root()
    cs = root / "codesystems"
    return load_valuesets(root / "valuesets", cs if cs.is_dir() else None)


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ts(now: datetime, days_ago: float) -> str:
    return (now - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Generator:
    """Seeded patients: ``patient(profile, extra)`` -> list of FHIR resources (dicts)."""

    def __init__(self, seed: int = 1, now: str = DEFAULT_NOW, codes: Codes | None = None):
        self.rng = random.Random(seed)
        self.now = datetime.fromisoformat(now.replace("Z", "+00:00")).astimezone(UTC)
        self.codes = codes or Codes()
        self._weights = [p.weight for p in PROFILES]
        self._seq = 0

    def profile(self) -> Profile:
        return self.rng.choices(PROFILES, self._weights)[0]

    def _id(self) -> str:
        self._seq += 1
        return f"{self._seq:x}-{self.rng.getrandbits(40):010x}"

    def patient(
        self, profile: Profile | str | None = None, *, resources: int | None = None
    ) -> tuple[str, Profile, list[dict[str, Any]]]:
        """``(patient id, profile, resources)``; ``resources`` pads to that many in total."""
        rng = self.rng
        if profile is None:
            profile = self.profile()
        elif isinstance(profile, str):
            profile = next(p for p in PROFILES if p.name == profile)
        pid = _uuid(rng)
        subject = {"reference": f"Patient/{pid}"}
        age = rng.randint(*profile.ages)
        born = self.now.date() - timedelta(days=age * 365 + rng.randint(10, 355))
        sex = profile.sex or rng.choice(("male", "female"))
        out: list[dict[str, Any]] = [
            {
                "resourceType": "Patient",
                "id": pid,
                "name": [{"family": f"Synth{rng.randint(1, 9999)}", "given": ["Pat"]}],
                "gender": sex,
                "birthDate": born.isoformat(),
            }
        ]
        for item in profile.items:
            if rng.random() < item.p:
                out.append(self._item(item, subject))
        want = resources if resources is not None else 1 + len(out) + rng.randint(0, 6)
        while len(out) < want:
            out.append(self._background(subject, born))
        return pid, profile, out

    def _item(self, item: Item, subject: dict[str, str]) -> dict[str, Any]:
        rng = self.rng
        days = rng.randint(*item.days)
        when = _ts(self.now, days + rng.random())
        code = self.codes.coding(rng, item.concept)
        if item.as_ == "condition":
            return self._condition(code, subject, when, item.status)
        if item.as_ in ("finding", "negated"):
            answer = PRESENT if item.as_ == "finding" else ABSENT
            return {
                "resourceType": "Observation",
                "id": self._id(),
                "status": "final",
                "category": [{"coding": [{"system": OBS_CATEGORY, "code": "exam"}]}],
                "code": code,
                "subject": subject,
                "effectiveDateTime": when,
                "valueCodeableConcept": answer,
            }
        if item.as_ == "measure":
            unit = self.codes.units.get(item.concept) or "1"
            # a score is a whole number (an int in the JSON), any other measure has one decimal
            amount: float = round(rng.uniform(*item.value), 1)
            if unit == "{score}":
                amount = round(amount)
            return {
                "resourceType": "Observation",
                "id": self._id(),
                "status": "final",
                "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs"}]}],
                "code": code,
                "subject": subject,
                "effectiveDateTime": when,
                "valueQuantity": {"value": amount, "unit": unit, "system": UCUM, "code": unit},
            }
        if item.as_ == "med":
            return {
                "resourceType": "MedicationStatement",
                "id": self._id(),
                "status": "active",
                "medicationCodeableConcept": code,
                "subject": subject,
                "effectivePeriod": {"start": when},
                "dateAsserted": _ts(self.now, rng.randint(0, 2)),
            }
        if item.as_ == "order":
            return {
                "resourceType": "ServiceRequest",
                "id": self._id(),
                "status": "draft",
                "intent": "order",
                "code": code,
                "subject": subject,
                "authoredOn": _ts(self.now, 0.01),
            }
        raise ValueError(f"unknown item kind {item.as_!r}")

    def _condition(
        self, code: dict[str, Any], subject: dict[str, str], when: str, status: str
    ) -> dict[str, Any]:
        verification = status if status in ("refuted", "entered-in-error") else "confirmed"
        clinical = "active" if verification != "confirmed" else status
        res: dict[str, Any] = {
            "resourceType": "Condition",
            "id": self._id(),
            "clinicalStatus": {"coding": [{"system": CLINICAL, "code": clinical}]},
            "verificationStatus": {"coding": [{"system": VERIFICATION, "code": verification}]},
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "problem-list-item",
                        }
                    ]
                }
            ],
            "code": code,
            "subject": subject,
            "onsetDateTime": when,
            "recordedDate": when,
        }
        if verification == "entered-in-error":
            del res["clinicalStatus"]  # FHIR: no clinicalStatus on entered-in-error
        return res

    def _background(self, subject: dict[str, str], born: date) -> dict[str, Any]:
        rng = self.rng
        lived = max(1, (self.now.date() - born).days)
        when = _ts(self.now, rng.uniform(0, lived))
        if rng.random() < 0.45:
            cm = round(rng.uniform(150, 195), 1)
            return {
                "resourceType": "Observation",
                "id": self._id(),
                "status": "final",
                "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs"}]}],
                "code": {"coding": [{"system": LOINC, "code": "8302-2", "display": "Body height"}]},
                "subject": subject,
                "effectiveDateTime": when,
                "valueQuantity": {"value": cm, "unit": "cm", "system": UCUM, "code": "cm"},
            }
        system, code, display = rng.choice(self.codes.background)
        concept = {
            "coding": [{"system": system, "code": code, "display": display}],
            "text": display,
        }
        if system == RXNORM:
            return {
                "resourceType": "MedicationStatement",
                "id": self._id(),
                "status": rng.choice(("active", "completed")),
                "medicationCodeableConcept": concept,
                "subject": subject,
                "effectivePeriod": {"start": when},
            }
        status = rng.choice(("active", "resolved"))
        return self._condition(concept, subject, when, status)

    def population(
        self, n: int, profiles: Sequence[str] | None = None
    ) -> Iterator[tuple[str, Profile, list[dict[str, Any]]]]:
        """``n`` patients: drawn from the mix, or cycling through ``profiles`` (names)."""
        for i in range(n):
            yield self.patient(profiles[i % len(profiles)] if profiles else None)


def synthetic_patient(
    resources: int, *, profile: str = "mechanical", seed: int = 1, now: str = DEFAULT_NOW
) -> list[dict[str, Any]]:
    """One patient of ``profile`` with exactly ``resources`` resources (for benchmarks)."""
    return Generator(seed, now).patient(profile, resources=resources)[2]


def write_population(
    out: str | os.PathLike[str],
    patients: int,
    *,
    seed: int = 1,
    now: str = DEFAULT_NOW,
    lines_per_file: int = 1_000_000,
    profiles: Sequence[str] | None = None,
    progress: Any = None,
) -> dict[str, int]:
    """Write a Bulk Data export of ``patients`` patients to ``out``; returns lines per type.

    Files are ``<Type>.<nnn>.ndjson`` with at most ``lines_per_file`` lines each, and
    ``profiles.tsv`` maps each patient id to its profile (not part of the export).
    ``profiles`` (names from :data:`PROFILES`) replaces the mix by a cycle through them.
    """
    unknown = set(profiles or ()) - set(profile_names())
    if unknown:
        raise ValueError(f"unknown profiles {sorted(unknown)}; known: {list(profile_names())}")
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    gen = Generator(seed, now)
    counts = dict.fromkeys(TYPES, 0)
    files: dict[str, Any] = {}
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def sink(rtype: str) -> Any:
        n = counts[rtype]
        if n % lines_per_file == 0:
            if rtype in files:
                files[rtype].close()
            name = f"{rtype}.{n // lines_per_file:03d}.ndjson"
            files[rtype] = open(directory / name, "w", encoding="utf-8", buffering=1 << 20)  # noqa: SIM115
        return files[rtype]

    try:
        with open(directory / "profiles.tsv", "w", encoding="utf-8") as index:
            for i, (pid, profile, resources) in enumerate(gen.population(patients, profiles)):
                index.write(f"{pid}\t{profile.name}\n")
                for res in resources:
                    rtype = res["resourceType"]
                    sink(rtype).write(dumps(res) + "\n")
                    counts[rtype] += 1
                if progress is not None and i % 1000 == 999:
                    progress(1000)
    finally:
        for f in files.values():
            f.close()
    if progress is not None:
        progress(patients % 1000)
    return counts


def profiles_of(directory: str | os.PathLike[str]) -> dict[str, str]:
    """Patient id -> profile name, from a generated export's ``profiles.tsv``."""
    out: dict[str, str] = {}
    with open(Path(directory) / "profiles.tsv", encoding="utf-8") as fh:
        for line in fh:
            pid, _, name = line.rstrip("\n").partition("\t")
            out[pid] = name
    return out


def profile_names() -> Sequence[str]:
    return tuple(p.name for p in PROFILES)
