"""The words the knowledge and the outputs share, below both (docs/architecture.md).

The value types of a conclusion (category, urgency, imaging, order rating, what a cited
passage supports), the side of a finding, the modality of an order, and the source passage a
quote resolves to. ``kb`` validates the knowledge against them and builds
:class:`SourceSpan`; ``evaluation`` and ``facts`` type their models with them. ``Category`` is
generated from ``knowledge/codesystems/conclusion-category.json``
(:mod:`cds_backpain.kb.codegen`). Which urgency or imaging ranks above which is clinical
judgement and lives in ``knowledge/policy.yaml``, not here.
"""

from __future__ import annotations

from .categories import Category
from .spans import SourceSpan
from .terms import SUPPORTS, Imaging, Laterality, Modality, Rating, Support, Urgency

__all__ = [
    "SUPPORTS",
    "Category",
    "Imaging",
    "Laterality",
    "Modality",
    "Rating",
    "SourceSpan",
    "Support",
    "Urgency",
]
