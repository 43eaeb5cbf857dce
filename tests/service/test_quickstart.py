"""The integration guide's quick start runs as written: test key and trust file, the
service, discovery and one hook call with curl (docs/integration.md, section 0)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from service_support import free_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "integration.md"

pytestmark = pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq"
)


def quickstart_block() -> str:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"<!-- quickstart -->\n```sh\n(.*?)```\n<!-- /quickstart -->", text, re.S)
    assert m, "no quick-start block in docs/integration.md"
    return m.group(1)


def test_the_quick_start_works_as_written(tmp_path):
    port = str(free_port())
    script = quickstart_block().replace("8080", port)
    # This checkout's code: `python` and `cds-backpain` as the venv would provide them.
    script = script.replace("cds-backpain serve", "python -m cds_backpain.service serve")
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (shim / "python").chmod(0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CDS_BACKPAIN_TRUST", "CDS_BACKPAIN_SERVICE_CONFIG")
    }
    env["PATH"] = f"{shim}{os.pathsep}{env.get('PATH', '')}"
    wrapped = "set -e\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n" + script
    done = subprocess.run(
        ["bash", "-c", wrapped],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [x for x in done.stdout.splitlines() if x.strip()]
    assert lines[:2] == ["quickstart/client-key.pem", "quickstart/trust.yaml"]
    assert lines[2:5] == ["lbp-patient-view", "lbp-imaging-order-select", "lbp-imaging-order-sign"]
    assert lines[5].startswith("critical: Possible cauda equina syndrome")
