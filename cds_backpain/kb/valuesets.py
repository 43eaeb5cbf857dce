"""Value sets: which codes mean which concept key, loaded from FHIR R4 files and indexed.

Each file ``knowledge/valuesets/<id>.json`` is a FHIR R4 ValueSet for one concept key
(``id`` is the key with ``-`` for ``_``). Extensions on the ValueSet say what kind of fact
the concept is (``fact-kind``), its unit (``canonical-unit``, measures) and imaging modality
(``imaging-modality``, orders). Each listed concept carries ``code-confidence`` and, when the
code implies a side, ``laterality``. Code families (ICD-10-CM) use ``compose.include.filter``
with ``property = code`` and ``op = regex``, matched against the dotted, upper-case code.
Codes of our own CodeSystem must be defined in ``knowledge/codesystems/``.

``load_valuesets`` validates everything with the ``fhir.resources`` R4B models plus the
checks above and raises :class:`KnowledgeError` listing every defect. The returned
:class:`ValueSetIndex` answers ``lookup(system, code)`` with a dict hit, then the few
regex families of that system.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.valueset import ValueSet
from pydantic import ValidationError

from .._errors import KnowledgeError
from ..vocabulary import Laterality, Modality

__all__ = [
    "CPT",
    "ICD10CM",
    "LOINC",
    "OWN_SYSTEM",
    "RXNORM",
    "SNOMED",
    "ConceptInfo",
    "ConceptMatch",
    "ValueSetIndex",
    "load_valuesets",
    "normalise_code",
    "normalise_system",
]

BASE = "https://cds-backpain.example.org/fhir"
EXT = BASE + "/StructureDefinition/"
EXT_FACT_KIND = EXT + "fact-kind"
EXT_UNIT = EXT + "canonical-unit"
EXT_MODALITY = EXT + "imaging-modality"
EXT_INGEST_ROLE = EXT + "ingest-role"
EXT_LATERALITY = EXT + "laterality"
EXT_CONFIDENCE = EXT + "code-confidence"
OWN_SYSTEM = BASE + "/CodeSystem/findings"

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"

#: OID forms of the code systems we use. ``http://hl7.org/fhir/sid/icd-10`` (WHO ICD-10)
#: is deliberately absent: it is not ICD-10-CM.
SYSTEM_ALIASES: dict[str, str] = {
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
    "urn:oid:2.16.840.1.113883.6.88": RXNORM,
    "urn:oid:2.16.840.1.113883.6.12": CPT,
}

#: ``qualifier`` value sets never become facts: ingest reads them to qualify a resource
#: (e.g. the medication routes and dose forms that are not systemic exposure).
FACT_KINDS = frozenset({"finding", "measure", "med", "order", "qualifier"})
MODALITIES = frozenset(get_args(Modality))
#: What ingest does with a measure beyond making facts of it (``ingest-role``): serial body
#: weights and weekly running distances become one fact (the latest reading) and are the
#: series weight loss and running-load change are derived from.
#: Qualifier value sets ingest reads to answer a finding and to find its side
#: (cds_backpain/ingest/qualifiers.py): a knowledge base without one does not load.
INGEST_QUALIFIERS = frozenset(
    {
        "answer_present",
        "answer_absent",
        "interpretation_positive",
        "interpretation_negative",
        "body_site_side",
    }
)
INGEST_ROLES = frozenset(
    {"weight-series", "weekly-distance-series", "weight-loss", "running-load-change"}
)
LATERALITIES = frozenset(get_args(Laterality))
CONFIDENCES = frozenset({"HIGH", "MEDIUM"})
#: No real code is longer; longer input never matches (and never reaches a regex).
MAX_CODE_LENGTH = 64
_FILE_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def normalise_system(system: str) -> str:
    """The canonical URI for ``system`` (OID aliases resolved, surrounding space removed)."""
    s = system.strip()
    return SYSTEM_ALIASES.get(s, s)


def normalise_code(system: str, code: str) -> str:
    """The form codes are indexed under: ICD-10-CM upper-case with the dot after 3 chars."""
    c = code.strip()
    if system == ICD10CM:
        c = c.upper().replace(".", "")
        if len(c) > 3:
            c = c[:3] + "." + c[3:]
    return c


@dataclass(frozen=True, slots=True)
class ConceptMatch:
    """One concept a code belongs to, with what the code itself says (side)."""

    concept: str
    kind: str
    label: str
    laterality: str | None
    modality: str | None
    unit: str | None


@dataclass(frozen=True, slots=True)
class ConceptInfo:
    """A concept key as its value set defines it."""

    key: str
    kind: str
    label: str
    unit: str | None
    modality: str | None
    url: str
    #: Number of explicitly listed codes (regex families not counted).
    codes: int
    #: Number of regex code families.
    filters: int


@dataclass(frozen=True)
class ValueSetIndex:
    """Every value set, indexed by (system, code). Build it with :func:`load_valuesets`."""

    concepts: dict[str, ConceptInfo]
    _exact: dict[tuple[str, str], tuple[ConceptMatch, ...]]
    _filters: dict[str, tuple[tuple[re.Pattern[str], ConceptMatch], ...]]
    _explicit: tuple[tuple[str, str, str], ...]
    #: Qualifier value sets (fact-kind ``qualifier``): found by :meth:`lookup`, never a
    #: concept a rule can name, so they are kept apart from ``concepts`` and ``codes()``.
    qualifiers: dict[str, ConceptInfo] = field(default_factory=dict)
    _qualifier_codes: tuple[tuple[str, str, str], ...] = ()
    #: Ingest role (``ingest-role`` extension, :data:`INGEST_ROLES`) -> the concept key
    #: that plays it.
    roles: dict[str, str] = field(default_factory=dict)

    def lookup(self, system: str | None, code: str | None) -> tuple[ConceptMatch, ...]:
        """All concepts ``code`` of ``system`` belongs to, sorted by concept key.

        Systems are normalised (OID aliases), ICD-10-CM codes match with or without the
        dot and in any case. Unknown systems or codes give ``()``.
        """
        if not isinstance(system, str) or not isinstance(code, str):
            return ()
        sys_ = normalise_system(system)
        norm = normalise_code(sys_, code)
        if not norm or len(norm) > MAX_CODE_LENGTH:
            return ()
        exact = self._exact.get((sys_, norm), ())
        families = self._filters.get(sys_)
        if not families:
            return exact
        found = {m.concept: m for m in exact}
        for pattern, match in families:
            if match.concept not in found and pattern.fullmatch(norm):
                found[match.concept] = match
        if len(found) == len(exact):
            return exact
        return tuple(found[k] for k in sorted(found))

    def codes(self) -> Iterator[tuple[str, str, str]]:
        """Every explicitly listed code of a fact concept as ``(concept, system, code)``, in
        file order (qualifier codes: :meth:`qualifier_codes`)."""
        return iter(self._explicit)

    def qualifier_codes(self) -> Iterator[tuple[str, str, str]]:
        """Every code of the qualifier value sets as ``(qualifier, system, code)``."""
        return iter(self._qualifier_codes)

    def families(self) -> Iterator[tuple[str, str, str]]:
        """Every code family (regex filter) as ``(concept, system, pattern)``."""
        for system, entries in self._filters.items():
            for pattern, match in entries:
                yield match.concept, system, pattern.pattern

    def label(self, concept: str) -> str:
        """The human label of a concept key (its value set's title)."""
        return self.concepts[concept].label


def _pascal(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))


def _ext_values(extensions: list[Any] | None, url: str) -> list[Any]:
    out = []
    for e in extensions or ():
        if e.url == url:
            out.append(e.valueCode if e.valueCode is not None else e.valueString)
    return out


def _one(extensions: list[Any] | None, url: str, where: str, problems: list[str]) -> Any:
    values = _ext_values(extensions, url)
    if len(values) > 1:
        problems.append(f"{where}: extension {url.rsplit('/', 1)[-1]} given {len(values)} times")
    return values[0] if values else None


def _validation_problems(name: str, err: ValidationError, limit: int = 10) -> list[str]:
    out = []
    for e in err.errors()[:limit]:
        loc = ".".join(str(p) for p in e.get("loc", ())) or "(root)"
        out.append(f"{name}: FHIR validation: {loc}: {e.get('msg', 'invalid')}")
    if err.error_count() > limit:
        out.append(f"{name}: FHIR validation: {err.error_count() - limit} more errors")
    return out


def _read_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{path.name}: cannot read JSON: {exc}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path.name}: top level is not a JSON object")
        return None
    return data


def _load_codesystems(directory: Path, problems: list[str]) -> dict[str, frozenset[str]]:
    systems: dict[str, frozenset[str]] = {}
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not files:
        problems.append(f"{directory}: no CodeSystem files")
    for path in files:
        data = _read_json(path, problems)
        if data is None:
            continue
        try:
            cs = CodeSystem.model_validate(data)
        except ValidationError as err:
            problems.extend(_validation_problems(path.name, err))
            continue
        where = f"codesystems/{path.name}"
        if not cs.url or not cs.url.startswith(BASE + "/CodeSystem/"):
            problems.append(f"{where}: url must start with {BASE}/CodeSystem/")
            continue
        if cs.url in systems:
            problems.append(f"{where}: url {cs.url} defined twice")
        codes: list[str] = []
        stack = list(cs.concept or ())
        while stack:
            concept = stack.pop()
            stack.extend(concept.concept or ())
            if concept.code is None:  # only a ``_code`` extension: FHIR allows it, we do not
                problems.append(f"{where}: a concept has no code")
                continue
            codes.append(concept.code)
            if not concept.display or not concept.definition:
                problems.append(f"{where}: code {concept.code!r} needs a display and a definition")
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            problems.append(f"{where}: codes defined twice: {', '.join(dupes)}")
        systems[cs.url] = frozenset(codes)
    return systems


class _Builder:
    """Collects problems and index entries while value set files are read."""

    def __init__(self, codesystems: dict[str, frozenset[str]]):
        self.codesystems = codesystems
        self.problems: list[str] = []
        self.concepts: dict[str, ConceptInfo] = {}
        self.exact: dict[tuple[str, str], list[ConceptMatch]] = {}
        self.filters: dict[str, list[tuple[re.Pattern[str], ConceptMatch]]] = {}
        self.explicit: list[tuple[str, str, str]] = []
        self.qualifiers: dict[str, ConceptInfo] = {}
        self.roles: dict[str, str] = {}
        self.qualifier_codes: list[tuple[str, str, str]] = []

    def add_file(self, path: Path) -> None:
        name = path.name
        data = _read_json(path, self.problems)
        if data is None:
            return
        try:
            vs = ValueSet.model_validate(data)
        except ValidationError as err:
            self.problems.extend(_validation_problems(name, err))
            return
        problems: list[str] = []
        stem = path.stem
        if not _FILE_ID.fullmatch(stem):
            problems.append(f"{name}: file name must be lower-case words joined by '-'")
        key = stem.replace("-", "_")
        if vs.id != stem:
            problems.append(f"{name}: id {vs.id!r} does not match the file name ({stem!r})")
        url = f"{BASE}/ValueSet/{stem}"
        if vs.url != url:
            problems.append(f"{name}: url must be {url}")
        if vs.name != _pascal(key):
            problems.append(f"{name}: name {vs.name!r} must be {_pascal(key)!r}")
        if vs.status != "active":
            problems.append(f"{name}: status must be 'active', not {vs.status!r}")
        if not vs.title:
            problems.append(f"{name}: title (the concept's label) is missing")
        kind = _one(vs.extension, EXT_FACT_KIND, name, problems)
        unit = _one(vs.extension, EXT_UNIT, name, problems)
        modality = _one(vs.extension, EXT_MODALITY, name, problems)
        if kind not in FACT_KINDS:
            problems.append(
                f"{name}: fact-kind extension missing or invalid ({kind!r}); "
                f"one of {sorted(FACT_KINDS)}"
            )
        if kind == "measure" and not unit:
            problems.append(f"{name}: a measure needs a canonical-unit extension")
        if kind != "measure" and unit:
            problems.append(f"{name}: canonical-unit is only for measures")
        if kind == "order" and modality not in MODALITIES:
            problems.append(
                f"{name}: an order needs imaging-modality, one of {sorted(MODALITIES)}"
                f" (got {modality!r})"
            )
        if kind != "order" and modality:
            problems.append(f"{name}: imaging-modality is only for orders")
        role = _one(vs.extension, EXT_INGEST_ROLE, name, problems)
        if role is not None:
            if role not in INGEST_ROLES:
                problems.append(f"{name}: ingest-role {role!r} not in {sorted(INGEST_ROLES)}")
            elif kind != "measure":
                problems.append(f"{name}: ingest-role is only for measures")
            elif role in self.roles:
                problems.append(f"{name}: ingest-role {role!r} is {self.roles[role]!r}'s already")
        if vs.compose is None or not vs.compose.include:
            problems.append(f"{name}: compose.include is empty")
            self.problems.extend(problems)
            return
        if vs.compose.exclude:
            problems.append(f"{name}: compose.exclude is not supported")

        label = vs.title or key
        plain = ConceptMatch(key, kind or "", label, None, modality, unit)
        exact: list[tuple[str, str, ConceptMatch]] = []
        families: list[tuple[str, re.Pattern[str]]] = []
        seen: dict[tuple[str, str], str] = {}
        for i, inc in enumerate(vs.compose.include):
            where = f"{name}: compose.include[{i}]"
            if not inc.system:
                problems.append(f"{where}: system is required")
                continue
            if inc.valueSet:
                problems.append(f"{where}: including other value sets is not supported")
            if inc.concept and inc.filter:
                problems.append(f"{where}: concept and filter cannot be combined (FHIR vsd-3)")
            if not inc.concept and not inc.filter:
                problems.append(f"{where}: neither concept nor filter given")
            system = normalise_system(inc.system)
            if system != inc.system:
                problems.append(f"{where}: write the system as {system}, not {inc.system}")
            own_codes = self.codesystems.get(system)
            if system.startswith(BASE + "/CodeSystem/") and own_codes is None:
                problems.append(f"{where}: CodeSystem {system} is not defined")
            for j, concept in enumerate(inc.concept or ()):
                cwhere = f"{where}.concept[{j}] ({concept.code})"
                if concept.code is None:  # only a ``_code`` extension
                    problems.append(f"{cwhere}: code is missing")
                    continue
                code = normalise_code(system, concept.code)
                if (system, code) in seen:
                    problems.append(f"{cwhere}: code listed twice in this value set")
                    continue
                seen[(system, code)] = concept.code
                if own_codes is not None and concept.code not in own_codes:
                    problems.append(f"{cwhere}: not defined in CodeSystem {system}")
                if not concept.display:
                    problems.append(f"{cwhere}: display is missing")
                confidence = _one(concept.extension, EXT_CONFIDENCE, cwhere, problems)
                if confidence not in CONFIDENCES:
                    problems.append(
                        f"{cwhere}: code-confidence must be one of {sorted(CONFIDENCES)}"
                        f" (got {confidence!r})"
                    )
                side = _one(concept.extension, EXT_LATERALITY, cwhere, problems)
                if side is not None and side not in LATERALITIES:
                    problems.append(f"{cwhere}: laterality {side!r} not in {sorted(LATERALITIES)}")
                    side = None
                match = (
                    plain
                    if side is None
                    else ConceptMatch(key, kind or "", label, side, modality, unit)
                )
                exact.append((system, code, match))
            for j, flt in enumerate(inc.filter or ()):
                fwhere = f"{where}.filter[{j}]"
                if flt.property != "code" or flt.op != "regex":
                    problems.append(
                        f"{fwhere}: only property 'code' with op 'regex' is supported"
                        f" (got {flt.property!r} {flt.op!r})"
                    )
                    continue
                if flt.value is None:  # only a ``_value`` extension
                    problems.append(f"{fwhere}: value (the regex) is missing")
                    continue
                try:
                    families.append((system, re.compile(flt.value)))
                except re.error as exc:
                    problems.append(f"{fwhere}: regex {flt.value!r} does not compile: {exc}")
        if problems:
            self.problems.extend(problems)
            return
        n_codes = 0
        listed = self.qualifier_codes if kind == "qualifier" else self.explicit
        for system, code, match in exact:
            self.exact.setdefault((system, code), []).append(match)
            listed.append((key, system, code))
            n_codes += 1
        for system, pattern in families:
            self.filters.setdefault(system, []).append((pattern, plain))
        if role is not None:
            self.roles[role] = key
        infos = self.qualifiers if kind == "qualifier" else self.concepts
        infos[key] = ConceptInfo(
            key=key,
            kind=kind,
            label=label,
            unit=unit,
            modality=modality,
            url=url,  # vs.url, checked above
            codes=n_codes,
            filters=len(families),
        )

    def index(self) -> ValueSetIndex:
        return ValueSetIndex(
            concepts=dict(sorted(self.concepts.items())),
            _exact={k: tuple(sorted(v, key=lambda m: m.concept)) for k, v in self.exact.items()},
            _filters={k: tuple(v) for k, v in self.filters.items()},
            _explicit=tuple(self.explicit),
            qualifiers=dict(sorted(self.qualifiers.items())),
            _qualifier_codes=tuple(self.qualifier_codes),
            roles=dict(sorted(self.roles.items())),
        )


def load_valuesets(directory: Path, codesystem_dir: Path | None = None) -> ValueSetIndex:
    """Load and check every ``*.json`` ValueSet in ``directory``.

    ``codesystem_dir`` (default: ``codesystems`` beside ``directory``) holds our own
    CodeSystems. Raises :class:`KnowledgeError` listing every problem found, each
    prefixed with the file it is in.
    """
    directory = Path(directory)
    cs_dir = (
        Path(codesystem_dir) if codesystem_dir is not None else directory.parent / "codesystems"
    )
    problems: list[str] = []
    codesystems = _load_codesystems(cs_dir, problems)
    builder = _Builder(codesystems)
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not files:
        problems.append(f"{directory}: no ValueSet files")
    for path in files:
        builder.add_file(path)
    problems.extend(builder.problems)
    if problems:
        raise KnowledgeError(problems)
    return builder.index()
