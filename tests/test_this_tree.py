"""The tests exercise this checkout: in-process and in every subprocess they start."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import cds_backpain

ROOT = Path(__file__).resolve().parent.parent


def test_in_process_import_is_this_checkout() -> None:
    assert Path(cds_backpain.__file__).resolve().is_relative_to(ROOT)


def test_subprocess_in_another_directory_imports_this_checkout() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", "import cds_backpain; print(cds_backpain.__file__)"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp,
            check=True,
        )
    assert Path(out.stdout.strip()).resolve().is_relative_to(ROOT)
