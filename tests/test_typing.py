"""Static types: mypy --strict over the modules pyproject.toml lists, and the public API as a
type checker sees it (``evaluate`` and ``load_knowledge`` are functions, not ``object``)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None,
    reason="mypy is not installed (pip install -e '.[dev]')",
)


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_strict_modules_type_check():
    r = mypy()
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_type_checker_sees_the_public_functions_and_types():
    code = "\n".join(
        [
            "import cds_backpain",
            "reveal_type(cds_backpain.evaluate)",
            "reveal_type(cds_backpain.load_knowledge)",
            "limits: cds_backpain.Limits = cds_backpain.Limits()",
            "ev: cds_backpain.Evaluation = cds_backpain.evaluate('{}', limits=limits)",
            "issues: tuple[cds_backpain.Issue, ...] = ev.issues",
            "engine: cds_backpain.Engine",
        ]
    )
    r = mypy("--config-file", "", "--strict", "--follow-imports", "silent", "-c", code)
    assert r.returncode == 0, r.stdout + r.stderr
    revealed = [line for line in r.stdout.splitlines() if "Revealed type" in line]
    assert len(revealed) == 2, r.stdout
    assert "def (data:" in revealed[0] and "cds_backpain.evaluation.Evaluation" in revealed[0]
    assert "cds_backpain.kb.knowledge.Knowledge" in revealed[1]
