"""The QA team's example in docs/qa.md runs as part of the suite, exactly as written."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "qa.md"
MARKER = re.compile(r"<!-- qa-example[^>]*-->\s*```python\n(.*?)```", re.S)


def example_blocks() -> list[str]:
    return MARKER.findall(GUIDE.read_text(encoding="utf-8"))


def test_the_guide_has_a_runnable_example():
    blocks = example_blocks()
    assert len(blocks) == 1
    assert "@given" in blocks[0] and "check_all_invariants" in blocks[0]


def _tests() -> list[tuple[str, object]]:
    module = types.ModuleType("qa_guide_example")
    module.__file__ = str(GUIDE)
    exec(compile(example_blocks()[0], str(GUIDE), "exec"), module.__dict__)
    return [(n, f) for n, f in vars(module).items() if n.startswith("test_") and callable(f)]


@pytest.mark.parametrize("test", [pytest.param(f, id=name) for name, f in _tests()])
def test_guide_example(test):
    test()
