"""Ingest: FHIR R4 JSON in, validated fhir.resources models and typed facts out.

``ingest(data, valuesets=..., parameters=..., now=...)`` returns an :class:`Ingested`;
bad input raises :class:`~cds_backpain.InvalidInputError` carrying a FHIR R4
OperationOutcome with one issue per defect (:class:`~cds_backpain.InputLimitError`
when a :class:`Limits` bound is hit).
"""

from __future__ import annotations

from .api import Ingested, ingest
from .parse import Limits

__all__ = ["Ingested", "Limits", "ingest"]
