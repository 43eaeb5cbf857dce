"""What the card and FHIR emitters share: code systems, stable ids, ordering, words."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any, TypeVar

from ..settings import CANONICAL_ENV as CANONICAL_ENV  # read at the edges only
from ..settings import current

if TYPE_CHECKING:
    from ..kb.knowledge import Knowledge
    from ..kb.models import Rating, Urgency
    from ..results import Conclusion

logger = logging.getLogger("cds_backpain.emit")

#: Canonical base the knowledge files are written with (``knowledge/codesystems``,
#: ``knowledge/structuredefinitions``, value sets). Emitted output and the service's
#: conformance resources use :func:`canonical_base` instead, which a deployment sets.
BASE = "https://cds-backpain.example.org/fhir"
#: Codes are conclusion (recommendation rule) ids.
RULES_SYSTEM = f"{BASE}/CodeSystem/rules"
#: Codes are conclusion categories (``cauda_equina`` ...).
CATEGORY_SYSTEM = f"{BASE}/CodeSystem/conclusion-category"
OVERRIDE_REASONS_SYSTEM = f"{BASE}/CodeSystem/override-reasons"
KNOWLEDGE_DIGEST_SYSTEM = f"{BASE}/knowledge-digest"
SOURCE_SPAN_SYSTEM = f"{BASE}/source-span"
#: Extension on a Provenance entity: one source passage (document, offsets, digest, quote).
SOURCE_PASSAGE_EXT = f"{BASE}/StructureDefinition/source-passage"
#: Canonical of the knowledge base a RequestGroup instantiates (plus ``/<version>``).
KNOWLEDGE_URI = f"{BASE}/knowledge"


def canonical_base() -> str:
    """The canonical base of emitted URLs: the ``canonical_base`` of the settings in force
    (:func:`cds_backpain.settings.current`), else :data:`BASE`."""
    return (current().canonical_base or BASE).rstrip("/")


def rebase(document: T, base: str | None = None) -> T:
    """``document`` with every string under :data:`BASE` moved under ``base`` (default:
    :func:`canonical_base`); the same object when the base is the default."""
    base = canonical_base() if base is None else base.rstrip("/")
    if base == BASE:
        return document
    prefix = BASE + "/"

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return base + value[len(BASE) :] if value.startswith(prefix) else value
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(document)


def unbase(url: str) -> str:
    """A URL under the configured canonical base, as written in ``knowledge/``."""
    base = canonical_base()
    if base != BASE and url.startswith(base + "/"):
        return BASE + url[len(base) :]
    return url


#: Extension (valueCode, repeated) saying what a cited passage or guideline is evidence for:
#: advice, urgency, imaging or background (knowledge ``supports``).
SUPPORTS_EXTENSION = f"{BASE}/StructureDefinition/provenance-supports"
#: Identifier system of the guideline statements (codes are knowledge/guidelines.yaml ids).
GUIDELINE_SYSTEM = f"{BASE}/guideline"


def supports_extensions(supports: Sequence[str]) -> list[dict[str, str]]:
    """One :data:`SUPPORTS_EXTENSION` per value of ``supports``."""
    return [{"url": SUPPORTS_EXTENSION, "valueCode": s} for s in supports]


#: Key of the CDS Hooks card extension that names the knowledge a card came from.
KNOWLEDGE_EXTENSION = "cds-backpain.knowledge"


def knowledge_stamp(knowledge: Knowledge) -> dict[str, str]:
    """The knowledge version and digest (sha256 hex) every output names, as in ``to_json()``."""
    return {"version": knowledge.version, "digest": knowledge.digest}


def validating() -> bool:
    """Whether emitted FHIR resources are re-validated with the R4B models as they are built.

    Off by default: the resources are built from knowledge templates validated at load
    time and from fixed shapes that the test suite validates for every example and every
    generated patient. ``Settings(validate_output=True)`` (``CDS_BACKPAIN_VALIDATE_OUTPUT=1``
    at the command line, service or batch) turns it on (about 20 ms per evaluation) for
    debugging or extra assurance.
    """
    return current().validate_output


#: Root of every uuid5 this package emits.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, BASE)

T = TypeVar("T")


def category_words(category: str, knowledge: Knowledge) -> str:
    """Display of a conclusion category, from knowledge/codesystems/conclusion-category.json."""
    return knowledge.displays.get(CATEGORY_SYSTEM, {}).get(category, category.replace("_", " "))


def stable_uuid(*parts: object) -> uuid.UUID:
    """A uuid5 under :data:`NAMESPACE` over ``parts`` (JSON-encoded, so unambiguous)."""
    return uuid.uuid5(NAMESPACE, json.dumps(parts, separators=(",", ":"), default=str))


def dedupe(items: Iterable[T]) -> list[T]:
    """``items`` without repeats, first occurrence kept."""
    seen: set[Any] = set()
    out: list[T] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def rule_rank(knowledge: Knowledge) -> dict[str, int]:
    """Rule id -> position in the knowledge (file order, then order in the file): the
    order the clinical owner wrote them in (self-care before return to running)."""
    return {rule_id: i for i, rule_id in enumerate(knowledge.rules)}


@dataclass(frozen=True, slots=True)
class _Shown:
    """What the red-flag policy reads of a conclusion about to be shown."""

    red_flag: bool
    self_care: bool
    safety_warning: bool
    urgency: Urgency
    rating: Rating | None


def _shown(c: Conclusion, knowledge: Knowledge) -> _Shown:
    rule = knowledge.rules.get(c.id)
    rec = rule.recommend if rule is not None else None
    # A conclusion of no recommendation of this knowledge: whether it warns of a harm is
    # unknown, so an info-level message is kept (self-care advice never is).
    warns = rec.safety_warning if rec is not None else True
    return _Shown(c.red_flag, c.self_care, warns, c.urgency, c.rating)


def ordered_conclusions(
    conclusions: Sequence[Conclusion], knowledge: Knowledge
) -> list[Conclusion]:
    """Most urgent first (``urgency_order`` of knowledge/policy.yaml); red flags before
    others at equal urgency; then in the order of their rules in the knowledge (see
    :func:`rule_rank`); then by id.

    When any conclusion is a red flag, what the red-flag policy withdraws
    (:meth:`~cds_backpain.kb.models.Policy.withdrawn_beside_red_flag`, the function the
    resolve stage applies) is dropped and logged: the last line of defence. Duplicate ids
    are a bug upstream and raise ValueError.
    """
    ids = [c.id for c in conclusions]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"duplicate conclusion ids: {repeated}")
    kept = list(conclusions)
    if any(c.red_flag for c in kept):
        policy = knowledge.policy
        withdrawn = {c.id for c in kept if policy.withdrawn_beside_red_flag(_shown(c, knowledge))}
        if withdrawn:
            logger.warning("conclusions withdrawn beside a red flag: %s", sorted(withdrawn))
            kept = [c for c in kept if c.id not in withdrawn]
    order = rule_rank(knowledge)
    last = len(order)
    urgency_rank = knowledge.policy.urgency_rank

    def position(c: Conclusion) -> int:
        return min((order.get(r, last) for r in c.rules), default=order.get(c.id, last))

    return sorted(kept, key=lambda c: (-urgency_rank(c.urgency), not c.red_flag, position(c), c.id))


def package_version() -> str:
    try:
        return metadata.version("cds-backpain")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def fhir_instant(now: datetime) -> str:
    """``now`` as a FHIR instant in UTC (``2026-06-01T12:00:00Z``); naive datetimes refused."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("'now' must be timezone-aware")
    utc = now.astimezone(UTC)
    spec = "seconds" if utc.microsecond == 0 else "milliseconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def prune(value: Any) -> Any:
    """``value`` with None, empty strings, empty lists and empty objects removed (recursively)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = prune(v)
            if v is None or v == "" or v == [] or v == {}:
                continue
            out[k] = v
        return out
    if isinstance(value, list | tuple):
        items = [prune(v) for v in value]
        return [v for v in items if not (v is None or v == "" or v == [] or v == {})]
    return value
