"""What every output is stamped with: the knowledge it came from, the package version and
the evaluation instant."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..kb.knowledge import Knowledge

__all__ = ["KNOWLEDGE_EXTENSION", "fhir_instant", "knowledge_stamp", "package_version"]

#: Key of the CDS Hooks card extension that names the knowledge a card came from.
KNOWLEDGE_EXTENSION = "cds-backpain.knowledge"


def knowledge_stamp(knowledge: Knowledge) -> dict[str, str]:
    """The knowledge version and digest (sha256 hex) every output names, as in ``to_json()``."""
    return {"version": knowledge.version, "digest": knowledge.digest}


def package_version() -> str:
    """The installed version of the ``cds-backpain`` distribution (``0+unknown`` if none)."""
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
