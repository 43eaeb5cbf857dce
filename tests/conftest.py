"""Shared test configuration: slow tests run only with CDS_BACKPAIN_SLOW=1 or --runslow."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow") or os.environ.get("CDS_BACKPAIN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set CDS_BACKPAIN_SLOW=1 or pass --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
