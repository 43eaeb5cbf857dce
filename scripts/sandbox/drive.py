"""Drive the CDS Hooks sandbox in headless Chromium and record what it shows.

    python scripts/sandbox/drive.py SCENARIO [--origin URL] [--patient ID] [--shots DIR]

SCENARIO: ``pv`` (patient-view), ``pv-feedback`` (accept the first suggestion, then dismiss
with the first override reason), ``pama`` (PAMA Imaging screen: MRI lumbar spine without
contrast, then a reason: ``--reason``), ``rx`` (Rx View, order-select), ``rxsign`` (Rx Sign,
Sign Order). Prints every call to the service with its status, console errors and failed
requests; writes full-page PNGs and ``SCENARIO-exchanges.json`` (request and response of
each POST to the service) into ``--shots``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["pv", "pv-feedback", "pama", "rx", "rxsign"])
    ap.add_argument("--origin", default="http://localhost:18300")
    ap.add_argument("--patient", default="pat-09")
    ap.add_argument("--fhir", default="http://127.0.0.1:18302/open")
    ap.add_argument("--discovery", default="http://127.0.0.1:18301/cds-services")
    ap.add_argument("--service", default="127.0.0.1:18301", help="host:port of our service")
    ap.add_argument("--reason", default="cauda equina")
    ap.add_argument("--shots", default="sandbox-shots")
    a = ap.parse_args()
    shots = Path(a.shots)
    shots.mkdir(parents=True, exist_ok=True)
    host = "ip" if "127.0.0.1" in a.origin else "lh"
    tag = f"{a.scenario}-{a.patient}-{host}"
    url = (
        f"{a.origin}/?fhirServiceUrl={quote(a.fhir, safe='')}&patientId={a.patient}"
        f"&serviceDiscoveryURL={quote(a.discovery, safe='')}"
    )
    log: list[str] = []
    exchanges: list[dict[str, Any]] = []
    service_hosts = {a.service, a.service.replace("127.0.0.1", "localhost")}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.on(
            "console",
            lambda m: (
                log.append(f"console.{m.type}: {m.text[:300]}") if m.type == "error" else None
            ),
        )
        page.on("requestfailed", lambda r: log.append(f"FAILED {r.method} {r.url} {r.failure}"))

        def on_response(r: Any) -> None:
            if not any(h in r.url for h in service_hosts):
                return
            log.append(f"SERVICE {r.request.method} {r.url} {r.status}")
            if r.request.method == "POST":
                try:
                    body = r.json()
                except Exception:
                    body = r.text()
                exchanges.append(
                    {
                        "url": r.url,
                        "status": r.status,
                        "request": r.request.post_data_json,
                        "response": body,
                    }
                )

        page.on("response", on_response)

        def shot(step: str) -> None:
            page.screenshot(path=str(shots / f"{tag}-{step}.png"), full_page=True)

        page.goto(url)
        page.wait_for_timeout(5000)
        shot("0-open")
        if a.scenario == "pv-feedback":
            page.get_by_role("button", name="Send to the emergency department now").first.click()
            page.wait_for_timeout(1500)
            shot("1-accepted")
            page.get_by_role("button", name="select dismiss reason").first.click()
            page.wait_for_timeout(500)
            shot("2-menu")
            page.get_by_role("menuitem").first.click()
            page.wait_for_timeout(1500)
            shot("3-dismissed")
        elif a.scenario == "pama":
            page.get_by_role("button", name="PAMA Imaging").click()
            page.wait_for_timeout(2500)
            page.get_by_text("Search orders").click()
            page.keyboard.type("lumbar", delay=30)
            page.wait_for_timeout(1500)
            options = page.locator("[id*='-option-']")
            options.filter(has_text="Magnetic resonance").filter(
                has_text="lumbar; without contrast material"
            ).first.click()
            page.wait_for_timeout(2500)
            shot("1-study")
            page.get_by_text("Search reasons").click()
            page.keyboard.type(a.reason, delay=30)
            page.wait_for_timeout(1500)
            page.locator("[id*='-option-']").first.click()
            page.wait_for_timeout(3000)
            shot("2-reason")
            log.append(page.get_by_text("PAMA Rating:").inner_text())
        elif a.scenario == "rx":
            page.get_by_role("button", name="Rx View").click()
            page.wait_for_timeout(3000)
            shot("1-rxview")
        elif a.scenario == "rxsign":
            page.get_by_role("button", name="Rx Sign").click()
            page.wait_for_timeout(3000)
            page.get_by_role("button", name="Sign Order").first.click()
            page.wait_for_timeout(3000)
            shot("1-signed")
        browser.close()
    (shots / f"{tag}-exchanges.json").write_text(json.dumps(exchanges, indent=1))
    for line in log:
        print(line)
    for e in exchanges:
        response = e["response"] if isinstance(e["response"], dict) else {}
        print(e["url"].rsplit("/", 1)[-1], e["status"])
        for card in response.get("cards", ()):
            labels = [s["label"] for s in card.get("suggestions", ())]
            print(f"  {card['indicator']}: {card['summary']}  {labels}")
        for action in response.get("systemActions", ()):
            ext = action.get("resource", {}).get("extension", ())
            rating = [
                x["valueCodeableConcept"]["coding"][0]["code"]
                for x in ext
                if x["url"].endswith("/pama-rating")
            ]
            print(f"  systemAction {action['type']} {rating}")


if __name__ == "__main__":
    main()
