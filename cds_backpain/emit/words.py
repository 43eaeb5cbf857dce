"""Display words of the output codes, read from the knowledge's CodeSystems."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .canonical import CATEGORY_SYSTEM

if TYPE_CHECKING:
    from ..kb.knowledge import Knowledge

__all__ = ["category_words"]


def category_words(category: str, knowledge: Knowledge) -> str:
    """Display of a conclusion category, from knowledge/codesystems/conclusion-category.json."""
    return knowledge.displays.get(CATEGORY_SYSTEM, {}).get(category, category.replace("_", " "))
