"""Emitters: CDS Hooks cards and a FHIR R4 Bundle from conclusions, and safe Markdown."""

from .cards import build_cards, render_card_markdown
from .fhir_bundle import build_bundle
from .markdown import escape_markdown

__all__ = ["build_bundle", "build_cards", "escape_markdown", "render_card_markdown"]
