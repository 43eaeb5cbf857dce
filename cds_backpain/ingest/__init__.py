"""Ingest: FHIR R4 JSON in, validated fhir.resources models and typed facts out.

``ingest(data, valuesets=..., parameters=..., now=...)`` returns an :class:`Ingested`;
bad input raises :class:`~cds_backpain.InvalidInputError` carrying a FHIR R4
OperationOutcome with one issue per defect (:class:`~cds_backpain.InputLimitError`
when a :class:`Limits` bound is hit). ``expected_patient`` refuses input about another
patient than the one the caller means; :func:`parse_json` parses and checks once, and
its :class:`ParsedJSON` (or parts of it) is then read without a second check.
"""

from __future__ import annotations

from .api import Ingested, count_relevant, ingest
from .outcome import clip
from .parse import Limits, ParsedJSON, parse_json
from .r4 import VALIDATED_TYPES

__all__ = [
    "VALIDATED_TYPES",
    "Ingested",
    "Limits",
    "ParsedJSON",
    "clip",
    "count_relevant",
    "ingest",
    "parse_json",
]
