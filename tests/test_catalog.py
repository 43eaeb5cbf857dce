"""docs/rules.md is the catalog generated from knowledge/, and it is current."""

from __future__ import annotations

from pathlib import Path

from cds_backpain import load_knowledge
from cds_backpain.reports.catalog import render_catalog

CATALOG = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def test_catalog_is_current():
    assert CATALOG.read_text(encoding="utf-8") == render_catalog(load_knowledge()), (
        "docs/rules.md is stale: run 'cds-backpain knowledge catalog --out docs/rules.md'"
    )


def test_catalog_lists_every_rule_with_urgency_and_sources():
    kb = load_knowledge()
    text = render_catalog(kb)
    for rid, rule in kb.rules.items():
        assert f"`{rid}`" in text
        if rule.recommend:
            assert f"urgency `{rule.recommend.urgency}`" in text
    for spans in kb.spans.values():
        for s in spans:
            assert f"chars {s.start}–{s.end}" in text


def test_card_gallery_is_current_and_shows_red_flags_as_critical():
    from cds_backpain.reports.gallery import render_gallery

    gallery = CATALOG.with_name("card-gallery.md")
    text = render_gallery()
    assert gallery.read_text(encoding="utf-8") == text, (
        "docs/card-gallery.md is stale: run 'cds-backpain examples --gallery docs/card-gallery.md'"
    )
    assert "critical" in text and "not a diagnosis" in text
