"""The QA kit as a QA team meets it: an optional extra, and failures they can copy."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FAILING_PROPERTIES = """
from hypothesis import Phase, given, settings, strategies as st
from cds_backpain.testing import patient_bundles

@settings(max_examples=5, database=None, deadline=None)
@given(st.integers())
def test_integers(n):
    assert n < 10

@settings(max_examples=1, database=None, deadline=None, phases=[Phase.generate])
@given(patient_bundles())
def test_bundles(bundle):
    assert not bundle
"""


def _call_argument(output: str, test: str, name: str) -> str:
    """The text of ``name=...`` in hypothesis' printed falsifying call of ``test``."""
    lines = [re.sub(r"^E\s+", "", line).strip() for line in output.splitlines()]
    text = "\n".join(lines)
    m = re.search(
        rf"(?:Falsifying example|Failing test case): {test}\(\n{name}=(.*?),\n\)", text, re.S
    )
    assert m, output[-3000:]
    return m.group(1)


def test_a_falsifying_example_is_printed_whole(tmp_path: Path):
    """docs/qa.md tells QA teams to copy the printed bundle: it must be there, complete."""
    (tmp_path / "test_failing.py").write_text(FAILING_PROPERTIES, encoding="utf-8")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-2000:]
    assert int(_call_argument(r.stdout, "test_integers", "n")) >= 10
    bundle = ast.literal_eval(_call_argument(r.stdout, "test_bundles", "bundle"))
    assert bundle["resourceType"] == "Bundle" and bundle["entry"]


def test_the_qa_kit_says_which_extra_to_install_without_hypothesis():
    code = "import sys; sys.modules['hypothesis'] = None; import cds_backpain.testing"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "pip install 'cds-backpain[qa]'" in r.stderr.splitlines()[-1]


def test_the_library_imports_and_evaluates_without_hypothesis():
    code = (
        "import sys; sys.modules['hypothesis'] = None; import cds_backpain, json;"
        "from cds_backpain.examples import load_examples; ex = load_examples()[0];"
        "print(cds_backpain.evaluate(ex.path.read_bytes(), now=ex.now).imaging)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
