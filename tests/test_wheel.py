"""The built wheel carries knowledge/ and evaluates an example outside the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if r.returncode != 0:
        pytest.fail(f"wheel build failed: {r.stderr[-2000:]}")
    return next(out.glob("cds_backpain-*.whl"))


def test_wheel_evaluates_an_example_from_a_fresh_install(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    assert (target / "cds_backpain" / "_knowledge" / "rules").is_dir()
    deps = sysconfig.get_paths()["purelib"]
    env = dict(os.environ, PYTHONPATH=f"{target}{os.pathsep}{deps}")
    env.pop("CDS_BACKPAIN_KNOWLEDGE", None)
    code = (
        "import json, cds_backpain, pathlib;"
        "from cds_backpain.examples import load_examples;"
        "ex = [e for e in load_examples() if 'cauda' in e.name][0];"
        "ev = cds_backpain.evaluate(ex.path.read_bytes(), now=ex.now);"
        "print(json.dumps({'file': cds_backpain.__file__, 'kb': cds_backpain.load_knowledge().root,"
        " 'urgency': ev.urgency}))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout)
    assert got["file"].startswith(str(target))
    assert got["kb"].startswith(str(target))
    assert got["urgency"] == "emergency"
