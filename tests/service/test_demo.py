"""The demo page: a clinician-facing view of the patient-view cards.

The browser test drives Debian's Chromium through Playwright; it is marked ``browser``
and skipped when /usr/bin/chromium is absent (scripts/install-browser.sh installs it).
Screenshots go to docs/screenshots/ when CDS_BACKPAIN_UPDATE_SCREENSHOTS=1, else to a
temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conformance import check_outcome
from service_support import example_resources, hook_request

from cds_backpain.examples import load_examples

CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
RED_FLAG_EXAMPLES = [e.name for e in load_examples() if e.expected.get("red_flag")]


def test_demo_page_is_served_in_dev_mode_only(service, dev_service):
    page = dev_service.get("/demo", token=False)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    listed = dev_service.get("/demo/examples", token=False).json()["examples"]
    assert {e["name"] for e in listed} == {e.name for e in load_examples()}
    assert dev_service.get("/demo/examples/..%2Fpyproject", token=False).status_code == 404
    for path in ("/demo", "/", "/demo/examples"):
        r = service.get(path, token=False)
        assert r.status_code == 404
        check_outcome(r.json())


def test_insecure_dev_mode_warns(dev_service):
    assert "INSECURE DEVELOPMENT MODE" in dev_service.log.read_text()


@pytest.mark.browser
def test_cards_render_like_an_ehr(dev_service, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("needs /usr/bin/chromium (run scripts/install-browser.sh)")
    pytest.importorskip(
        "playwright", reason="needs the browser extra (pip install -e '.[browser]')"
    )
    from playwright.sync_api import sync_playwright

    out = DOCS if os.environ.get("CDS_BACKPAIN_UPDATE_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        for name in RED_FLAG_EXAMPLES:
            expected = dev_service.call(
                "lbp-patient-view", hook_request("patient-view", example_resources(name))
            ).json()["cards"]
            page.goto(f"{dev_service.url}/demo?example={name}")
            page.wait_for_selector("#cards[data-done='1']", timeout=15_000)
            cards = page.locator("article.card")
            assert cards.count() == len(expected), name
            for i, card in enumerate(expected):
                node = cards.nth(i)
                assert node.locator("h2.summary").inner_text() == card["summary"]
                assert node.get_attribute("data-indicator") == card["indicator"]
                detail = node.locator(".detail")
                assert "**" not in detail.inner_text()  # Markdown was rendered, not shown
                assert detail.locator("strong").count() > 0
                assert card["source"]["label"] in node.locator(".source").inner_text()
                labels = [s["label"] for s in card.get("suggestions", [])]
                assert node.locator("button.suggestion").all_inner_texts() == labels
            assert page.locator(".card.indicator-critical, .card.indicator-warning").count() > 0
            page.locator("#cards").screenshot(path=str(out / f"{name}.png"))
        # Accepting a suggestion sends feedback and marks the card.
        page.goto(f"{dev_service.url}/demo?example={RED_FLAG_EXAMPLES[0]}")
        page.wait_for_selector("#cards[data-done='1']")
        page.screenshot(path=str(out / "demo-page.png"))
        page.locator("button.suggestion").first.click()
        page.wait_for_selector(".accepted", timeout=5_000)
        browser.close()
    assert not errors, errors
