"""Load ``knowledge/``: validate every file, resolve provenance, compile the rules.

Any defect fails loudly with a :class:`KnowledgeError` listing every problem found
(file, rule id, what is wrong), never a half-loaded knowledge base.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import ValidationError

from .._errors import KnowledgeError
from ..facts import TESTABLE_ATTRIBUTES
from ..settings import KNOWLEDGE_ENV, current
from ..vocabulary import Category, Laterality, Modality, SourceSpan
from .codegen import CATEGORY_CODESYSTEM, category_codes
from .compile import compile_rules
from .knowledge import Knowledge
from .links import internal_notes, url_problem
from .models import (
    FhirCodes,
    GuidelineFile,
    GuidelineRef,
    LinkPolicy,
    Parameter,
    ParameterFile,
    Pattern,
    Policy,
    Rule,
    RuleFile,
    SourceManifest,
    SourceQuote,
    Wording,
)
from .provenance import resolve_quote, sha256_hex
from .supports import unsupported
from .valuesets import INGEST_QUALIFIERS, INGEST_ROLES, ValueSetIndex, load_valuesets

#: Read by :meth:`~cds_backpain.settings.Settings.from_env` at the edges, never here.
ENV_ROOT = KNOWLEDGE_ENV
_ALLOWED_VALUES: dict[str, set[object]] = {
    "sex": {"male", "female", "other", "unknown"},
    "status": {"active", "history"},
    "laterality": set(get_args(Laterality)),
    "present": {True, False},
    "current": {True, False},
    "onset_known": {True, False},
    "modality": set(get_args(Modality)),
}
_NUMERIC = {"age", "days", "ended_days", "value"}


def knowledge_root() -> Path:
    """The knowledge base: the ``knowledge_root`` of the settings in force
    (``$CDS_BACKPAIN_KNOWLEDGE`` at the edges), else the wheel's copy, else the checkout's."""
    configured = current().knowledge_root
    if configured is not None:
        return configured
    here = Path(__file__).resolve().parent.parent
    packaged = here / "_knowledge"
    if packaged.is_dir():
        return packaged
    return here.parent / "knowledge"


def _yaml(path: Path, problems: list[str]) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        problems.append(f"{path.name}: missing")
    except yaml.YAMLError as exc:
        problems.append(f"{path.name}: not valid YAML: {exc}")
    return None


def _validate(model: Any, data: Any, where: str, problems: list[str]) -> Any:
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"])
            problems.append(f"{where}: {loc}: {err['msg']}")
    return None


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _check_pattern(
    where: str,
    p: Pattern,
    params: Mapping[str, Parameter],
    vs: ValueSetIndex,
    concluded: set[str],
    problems: list[str],
) -> None:
    if p.kind == "conclusion":
        for c in p.concepts:
            if c not in concluded:
                problems.append(f"{where}: no rule concludes {c!r}")
    elif p.kind != "patient":
        for c in p.concepts:
            info = vs.concepts.get(c)
            if info is None:
                problems.append(f"{where}: concept {c!r} has no value set")
            elif info.kind != p.kind:
                problems.append(f"{where}: concept {c!r} is a {info.kind}, not a {p.kind}")
    allowed = TESTABLE_ATTRIBUTES[p.kind]
    for t in p.tests:
        if t.attribute not in allowed:
            problems.append(
                f"{where}: '{p.kind}' has no testable attribute {t.attribute!r} "
                f"(use {sorted(allowed)})"
            )
            continue
        values = t.value if isinstance(t.value, tuple) else (t.value,)
        resolved = []
        for v in values:
            if isinstance(v, str) and v.startswith("$"):
                if v[1:] not in params:
                    problems.append(f"{where}: unknown parameter {v}")
                    continue
                v = params[v[1:]].value
            resolved.append(v)
        if t.attribute in _NUMERIC:
            if t.op not in ("lt", "le", "gt", "ge", "eq"):
                problems.append(f"{where}: {t.attribute} takes a comparison, not {t.op!r}")
            for v in resolved:
                if isinstance(v, bool) or not isinstance(v, int | float):
                    problems.append(f"{where}: {t.attribute} is compared with a number, got {v!r}")
        else:
            if t.op not in ("eq", "in"):
                problems.append(f"{where}: {t.attribute} takes equality or a list, not {t.op!r}")
            for v in resolved:
                if v not in _ALLOWED_VALUES.get(t.attribute, {v}) or (
                    isinstance(v, bool) != (t.attribute in ("present", "current", "onset_known"))
                ):
                    problems.append(f"{where}: {t.attribute} cannot be {v!r}")


def _load_rules(
    root: Path,
    params: Mapping[str, Parameter],
    guidelines: Mapping[str, Any],
    sources: Mapping[str, Any],
    texts: Mapping[str, str],
    templates: Mapping[str, Any],
    vs: ValueSetIndex,
    problems: list[str],
) -> tuple[dict[str, Rule], dict[str, str], dict[str, tuple[SourceSpan, ...]]]:
    rules: dict[str, Rule] = {}
    domains: dict[str, str] = {}
    files = sorted((root / "rules").glob("*.yaml"))
    if not files:
        problems.append("rules/: no rule files")
    for path in files:
        rf = _validate(RuleFile, _yaml(path, problems), f"rules/{path.name}", problems)
        if rf is None:
            continue
        for rule in rf.rules:
            if rule.id in rules:
                problems.append(f"rules/{path.name}: duplicate rule id {rule.id!r}")
                continue
            rules[rule.id] = rule
            domains[rule.id] = rf.domain
    concluded = {r.concept for r in rules.values()}
    known_concepts = concluded | set(vs.concepts)
    spans: dict[str, tuple[SourceSpan, ...]] = {}
    for rule in rules.values():
        where = f"rules/{domains[rule.id]}: rule {rule.id}"
        pats = list(rule.when.all) + [p for b in rule.when.any for p in b.patterns]
        for p in pats:
            _check_pattern(where, p, params, vs, concluded, problems)
        for a in rule.when.none:
            for c in a.concepts:
                info = vs.concepts.get(c)
                if info is None or info.kind != a.kind:
                    problems.append(
                        f"{where}: 'none' names {a.kind} {c!r}, which has no {a.kind} value set"
                    )
        found: list[SourceSpan] = []
        cites_guideline = False
        for ref in rule.provenance:
            for c in ref.when_chain:
                if c not in concluded:
                    problems.append(
                        f"{where}: provenance 'when_chain' names {c!r}, which no rule concludes"
                    )
            if isinstance(ref, GuidelineRef):
                cites_guideline = True
                if ref.guideline not in guidelines:
                    problems.append(f"{where}: unknown guideline {ref.guideline!r}")
            elif isinstance(ref, SourceQuote):
                doc = sources.get(ref.source)
                if doc is None:
                    problems.append(f"{where}: unknown source document {ref.source!r}")
                    continue
                span = resolve_quote(ref, doc, texts[ref.source])
                if isinstance(span, str):
                    problems.append(f"{where}: {span}")
                else:
                    found.append(span)
        spans[rule.id] = tuple(found)
        rec = rule.recommend
        if rec is not None:
            if rec.red_flag and not cites_guideline:
                problems.append(
                    f"{where}: a red-flag recommendation must cite at least one guideline"
                )
            if rec.red_flag and rec.self_care:
                problems.append(f"{where}: a recommendation cannot be both red_flag and self_care")
            for c in rec.unless:
                if c not in known_concepts:
                    problems.append(f"{where}: 'unless' names unknown concept {c!r}")
            for s in rec.suggestions:
                if s.template not in templates:
                    problems.append(f"{where}: unknown template {s.template!r}")
            if rec.rating and not any(p.kind == "order" for p in pats):
                problems.append(f"{where}: a rating rule needs an 'order' pattern")
            problems.extend(f"{where}: {p}" for p in unsupported(rule))
    return rules, domains, spans


#: Guideline fields that reach a card or the FHIR output (``note`` never does).
GUIDELINE_SHOWN = ("statement", "citation", "label")


def _card_texts(
    rules: Mapping[str, Rule],
    guidelines: Mapping[str, Any],
    sources: Mapping[str, Any],
    vs: ValueSetIndex,
) -> list[tuple[str, str]]:
    """(where, text) of every knowledge string an emitter can put on a card or in FHIR."""
    out: list[tuple[str, str]] = []
    for g in guidelines.values():
        out += [(f"guidelines.yaml: {g.id}: {k}", getattr(g, k) or "") for k in GUIDELINE_SHOWN]
    for rule in rules.values():
        out.append((f"rule {rule.id}: title", rule.title))
        rec = rule.recommend
        if rec is not None:
            out.append((f"rule {rule.id}: summary", rec.summary))
            out += [(f"rule {rule.id}: advice", a) for a in rec.advice]
            out += [(f"rule {rule.id}: suggestion", s.label) for s in rec.suggestions]
    out += [(f"sources/manifest.yaml: {d.file}: title", d.title) for d in sources.values()]
    out += [(f"valuesets: {k}: label", info.label or "") for k, info in vs.concepts.items()]
    return out


def _check_card_facing(
    policy: LinkPolicy,
    rules: Mapping[str, Rule],
    guidelines: Mapping[str, Any],
    sources: Mapping[str, Any],
    vs: ValueSetIndex,
    problems: list[str],
) -> None:
    for g in guidelines.values():
        bad = url_problem(g.url, policy)
        if bad:
            problems.append(f"guidelines.yaml: {g.id}: url {bad}")
    for d in sources.values():
        bad = url_problem(d.url, policy) if d.url else None
        if bad:
            problems.append(f"sources/manifest.yaml: {d.file}: url {bad}")
    for where, text in _card_texts(rules, guidelines, sources, vs):
        found = internal_notes(text, policy)
        if found:
            problems.append(
                f"{where}: internal note {found[0]!r} would reach a card "
                "(keep notes for rule authors in a guideline's 'note')"
            )


def _check_templates(templates: Mapping[str, Any], problems: list[str]) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    for name, res in templates.items():
        try:
            get_fhir_model_class(res["resourceType"]).model_validate(res)
        except Exception as exc:
            problems.append(
                f"templates.yaml: {name}: not a valid FHIR R4 resource: {str(exc)[:300]}"
            )


def _check_categories(root: Path, problems: list[str]) -> None:
    """The conclusion-category CodeSystem lists exactly the generated ``Category`` codes."""
    import json

    path = root / CATEGORY_CODESYSTEM
    try:
        codes = [code for code, _ in category_codes(json.loads(path.read_text(encoding="utf-8")))]
    except (OSError, ValueError, KeyError, AssertionError) as exc:
        problems.append(f"{CATEGORY_CODESYSTEM}: cannot be read: {exc}")
        return
    if codes != list(get_args(Category)):
        problems.append(
            f"{CATEGORY_CODESYSTEM}: its codes {codes} differ from the generated "
            f"cds_backpain/vocabulary/categories.py {list(get_args(Category))} "
            "(regenerate with python -m cds_backpain.kb.codegen)"
        )


def _displays(directory: Path) -> dict[str, dict[str, str]]:
    """System url -> code -> display for our CodeSystems (already validated by load_valuesets)."""
    import json

    out: dict[str, dict[str, str]] = {}
    for path in sorted(directory.glob("*.json")):
        cs = json.loads(path.read_text(encoding="utf-8"))
        out[cs["url"]] = {c["code"]: c.get("display", c["code"]) for c in cs.get("concept", [])}
    return out


def _load(root: Path) -> Knowledge:
    problems: list[str] = []
    if not root.is_dir():
        raise KnowledgeError(f"knowledge directory not found: {root}")
    meta = _yaml(root / "knowledge.yaml", problems) or {}
    version = str(meta.get("version", "")) if isinstance(meta, dict) else ""
    if not version:
        problems.append("knowledge.yaml: 'version' missing")

    manifest = _validate(
        SourceManifest,
        _yaml(root / "sources" / "manifest.yaml", problems),
        "sources/manifest.yaml",
        problems,
    )
    sources, texts = {}, {}
    if manifest is not None:
        for doc in manifest.sources:
            path = root / "sources" / doc.file
            if not path.is_file():
                problems.append(f"sources/{doc.file}: missing")
                continue
            raw = path.read_bytes()
            if sha256_hex(raw) != doc.sha256:
                problems.append(
                    f"sources/{doc.file}: sha256 {sha256_hex(raw)} differs from the manifest's "
                    f"{doc.sha256}: the document changed"
                )
                continue
            sources[doc.file] = doc
            texts[doc.file] = raw.decode("utf-8")
        listed = {d.file for d in manifest.sources}
        for path in sorted((root / "sources").glob("*.txt")):
            if path.name not in listed:
                problems.append(f"sources/{path.name}: not in manifest.yaml")

    gl = _validate(
        GuidelineFile, _yaml(root / "guidelines.yaml", problems), "guidelines.yaml", problems
    )
    guidelines = {g.id: g for g in gl.guidelines} if gl else {}
    if gl and len(guidelines) != len(gl.guidelines):
        problems.append("guidelines.yaml: duplicate guideline ids")
    pf = _validate(
        ParameterFile, _yaml(root / "parameters.yaml", problems), "parameters.yaml", problems
    )
    params = dict(pf.parameters) if pf else {}
    for name, p in params.items():
        for b in p.basis:
            if b not in guidelines:
                problems.append(f"parameters.yaml: {name}: unknown guideline {b!r} in basis")
    policy = _validate(Policy, _yaml(root / "policy.yaml", problems) or {}, "policy.yaml", problems)
    tdata = _yaml(root / "templates.yaml", problems) or {}
    templates = dict(tdata.get("templates", {})) if isinstance(tdata, dict) else {}
    _check_templates(templates, problems)
    wording = _validate(
        Wording,
        tdata.get("wording") if isinstance(tdata, dict) else None,
        "templates.yaml: wording",
        problems,
    )
    if isinstance(tdata, dict) and "wording" not in tdata:
        problems.append("templates.yaml: wording is missing (the words around card text)")
    fhir_codes = _validate(
        FhirCodes,
        (tdata.get("fhir") if isinstance(tdata, dict) else None) or {},
        "templates.yaml: fhir",
        problems,
    )

    try:
        vs = load_valuesets(root / "valuesets", root / "codesystems")
    except KnowledgeError as exc:
        raise KnowledgeError(problems + exc.problems) from None

    _check_categories(root, problems)
    problems.extend(
        f"valuesets: no measure value set has ingest-role {role!r} (docs/terminology.md)"
        for role in sorted(INGEST_ROLES - set(vs.roles))
    )
    problems.extend(
        f"valuesets: the qualifier value set {key.replace('_', '-')}.json is missing "
        "(ingest reads it; docs/terminology.md)"
        for key in sorted(INGEST_QUALIFIERS - set(vs.qualifiers))
    )
    rules, domains, spans = _load_rules(
        root, params, guidelines, sources, texts, templates, vs, problems
    )
    link_policy = _validate(
        LinkPolicy, _yaml(root / "links.yaml", problems), "links.yaml", problems
    )
    if link_policy is not None:
        _check_card_facing(link_policy, rules, guidelines, sources, vs, problems)
    if problems:  # compile only what is known to be well-formed
        raise KnowledgeError(problems)
    compiled, limit_problems = compile_rules(rules.values(), params)
    if limit_problems:
        raise KnowledgeError(limit_problems)

    displays = _displays(root / "codesystems")
    labels = {k: info.label for k, info in vs.concepts.items()}
    for r in rules.values():
        labels.setdefault(r.concept, r.title)
    return Knowledge(
        version=version,
        digest=_digest(root),
        root=str(root),
        sources=sources,
        texts=texts,
        guidelines=guidelines,
        parameters=params,
        policy=policy,
        templates=templates,
        valuesets=vs,
        rules=rules,
        domains=domains,
        spans=spans,
        compiled=compiled,
        labels=labels,
        displays=displays,
        wording=wording,
        fhir_codes=fhir_codes,
        link_policy=link_policy,
    )


_cache: dict[str, Knowledge] = {}
#: The default knowledge base by the ``knowledge_root`` setting at first load.
_defaults: dict[Path | None, Knowledge] = {}
_lock = threading.Lock()


def load_knowledge(
    root: str | os.PathLike[str] | None = None, *, reload: bool = False
) -> Knowledge:
    """Load and verify the knowledge base (cached per directory; ``reload`` forces a re-read)."""
    if root is None and not reload:  # the hot path: no filesystem calls
        kb = _defaults.get(current().knowledge_root)
        if kb is not None:
            return kb
    path = Path(root) if root is not None else knowledge_root()
    key = str(path.resolve())
    with _lock:
        if reload:
            _defaults.clear()
        if reload or key not in _cache:
            _cache[key] = _load(path)
        if root is None:
            _defaults[current().knowledge_root] = _cache[key]
        return _cache[key]
