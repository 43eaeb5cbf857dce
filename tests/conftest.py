"""Shared test configuration.

- Every subprocess a test starts imports ``cds_backpain`` from this checkout, never from an
  installed copy: the checkout's root is put first on ``PYTHONPATH`` for the whole session
  (``tests/test_this_tree.py`` asserts it).
- Slow tests run only with CDS_BACKPAIN_SLOW=1 or --runslow.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow") or os.environ.get("CDS_BACKPAIN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set CDS_BACKPAIN_SLOW=1 or pass --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
