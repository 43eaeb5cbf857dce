"""The published OpenAPI document, and schemathesis against the live server: no 5xx and
no response that breaks the schema (small example budget in the default run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MAX_EXAMPLES = os.environ.get("CDS_BACKPAIN_SCHEMATHESIS_EXAMPLES", "8")


def test_openapi_document_lists_every_endpoint(service):
    r = service.get("/openapi.json", token=False)
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/cds-services",
        *(
            f"/cds-services/{s}"
            for s in ("lbp-patient-view", "lbp-imaging-order-select", "lbp-imaging-order-sign")
        ),
        *(
            f"/cds-services/{s}/feedback"
            for s in ("lbp-patient-view", "lbp-imaging-order-select", "lbp-imaging-order-sign")
        ),
    }


def test_schemathesis_finds_no_server_error_or_schema_violation(dev_service, tmp_path: Path):
    cmd = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{dev_service.url}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance,status_code_conformance,"
        "content_type_conformance",
        "--max-examples",
        MAX_EXAMPLES,
        "--phases",
        "examples,coverage,fuzzing",
        "--suppress-health-check",
        "all",
        "--request-timeout",
        "20",
        "--workers",
        "1",
        "--seed",
        "20260601",
        "--no-color",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
